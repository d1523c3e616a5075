-- Run by run.sh right after `bulkwardenctl suspend newsletter`: the running
-- milter must refuse the identity within one second, without a reload.
dofile(libdir .. "/lib.lua")
T.run("suspension reaches the running milter within 1 s", function()
	local refused = false
	for i = 1, 10 do   -- 10 x 0.1 s
		local conn = T.connect("10.20.0.5")
		local r = T.mail(conn, "svc-news", "<n@news.example.com>")
		mt.disconnect(conn)
		if r == SMFIR_REPLYCODE then
			refused = true
			break
		end
		mt.sleep(0.1)
	end
	T.check(refused, "still accepted after 1 s")
	local ev = T.last_decision()
	T.failed(ev, "suspended")
	T.has(ev, "bulkwarden.identity.state", "suspended")
	T.has(ev, "event.code", "5.7.1")
end)
