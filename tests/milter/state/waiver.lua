-- Run by run.sh around `bulkwardenctl waive newsletter --check
-- list-unsubscribe` (SPEC §9). -D phase=:
--   before   no waiver: a marketing message without one-click unsubscribe
--            is refused at end of headers;
--   waived   right after the waive: within one second the same message is
--            accepted, its list-unsubscribe check still failed, with action
--            accept and the waiver (ticket) in the decision event;
--   expired  after the waiver's --until: refused again.
dofile(libdir .. "/lib.lua")

local function headers()
	local h = T.good_headers()
	table.remove(h, 7) -- List-Unsubscribe-Post: no one-click
	return h
end

-- One message up to end of headers: the eoh reply and the decision event.
local function attempt()
	local conn = T.connect("10.20.0.5")
	T.check(T.mail(conn, "svc-news", "<n@news.example.com>") == SMFIR_CONTINUE, "mail")
	T.rcpt(conn, "<x@example.net>")
	local r = T.headers(conn, headers())
	if r == SMFIR_CONTINUE then
		r = T.body_eom(conn)
	end
	mt.disconnect(conn)
	return r
end

if phase == "before" or phase == "expired" then
	T.run("no waiver in force (" .. phase .. "): missing one-click unsubscribe refused", function()
		local n = T.decisions()
		local r = attempt()
		T.check(r == SMFIR_REPLYCODE, "not refused at eoh")
		T.check(T.wait_decisions(n + 1), "no decision event")
		local ev = T.last_decision()
		T.has(ev, "event.action", "reject")
		T.has(ev, "event.code", "5.7.1")
		T.failed(ev, "list-unsubscribe")
		T.check(string.find(ev, '"waived"', 1, true) == nil, "a waiver in the event: " .. ev)
	end)
else
	T.run("a waiver reaches the running milter within 1 s: the failing check is accepted", function()
		local r
		for _ = 1, 10 do -- 10 x 0.1 s
			r = attempt()
			if r ~= SMFIR_REPLYCODE then
				break
			end
			mt.sleep(0.1)
		end
		T.check(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE, "still refused after 1 s")
		local ev = T.last_decision()
		T.has(ev, "event.action", "accept")
		T.has(ev, "bulkwarden.stage", "eom")
		-- still evaluated, recorded as failed, action accept, with the waiver
		local pat = '{"id":"list%-unsubscribe","result":"fail","action":"accept","detail":"[^"]*",' ..
			'"waived":{"id":%d+,"ticket":"CHG%-77","until":"[0-9T:.-]+Z"}}'
		T.check(string.find(ev, pat) ~= nil, "no waived list-unsubscribe check in: " .. ev)
		T.check(string.find(ev, '"event.reason":"waived list-unsubscribe: ', 1, true) ~= nil,
			"event.reason does not name the waiver: " .. ev)
		T.check(string.find(ev, '"event.code"', 1, true) == nil, "an error code on an accept")
	end)
	T.run("a waiver covers only its check: a second From is still refused", function()
		local conn = T.connect("10.20.0.5")
		T.check(T.mail(conn, "svc-news", "<n@news.example.com>") == SMFIR_CONTINUE, "mail")
		T.rcpt(conn, "<x@example.net>")
		local h = headers()
		table.insert(h, {"From", "x@evil.example"})
		T.check(T.headers(conn, h) == SMFIR_REPLYCODE, "two From fields not refused")
		mt.disconnect(conn)
		local ev = T.last_decision()
		T.failed(ev, "rfc5322")
		T.has(ev, "event.action", "reject")
	end)
end
