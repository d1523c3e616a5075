-- Run by run.sh right after `bulkwardenctl suspend trial`: "trial" is in
-- monitor mode, yet its suspension is enforced (SPEC §3: a suspension is
-- enforced in every mode, with reject or tempfail), within one second.
dofile(libdir .. "/lib.lua")
T.run("monitor-mode identity: suspension enforced, mail refused", function()
	local refused = false
	for i = 1, 10 do   -- 10 x 0.1 s
		local conn = T.connect("192.0.2.1")
		local r = T.mail(conn, "svc-trial", "<t@trial.example.com>")
		mt.disconnect(conn)
		if r == SMFIR_REPLYCODE then
			refused = true
			break
		end
		mt.sleep(0.1)
	end
	T.check(refused, "monitor-mode identity still accepted after 1 s of suspension")
	local ev = T.last_decision()
	T.has(ev, "event.action", "reject")
	T.has(ev, "event.code", "5.7.1")
	T.has(ev, "bulkwarden.mode", "monitor")
	T.has(ev, "bulkwarden.identity.state", "suspended")
	T.failed(ev, "suspended")
	T.check(string.find(ev, '"event.reason":"suspended: vendor breach INC-8', 1, true) ~= nil,
		"event.reason names the suspension\n  event: " .. ev)
end)
