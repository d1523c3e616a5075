-- One message of the newsletter identity from -D ip, with -D login ("" none),
-- expecting -D expect: accept | quarantine | tempfail (at MAIL FROM).
-- Then the decision event's new-sending-path check must contain -D detail.
dofile(libdir .. "/lib.lua")
T.run("paths: " .. ip .. " login " .. login .. " -> " .. expect, function()
	local conn = T.connect(ip)
	local r = T.mail(conn, login ~= "" and login or nil, "<n@news.example.com>")
	if expect == "tempfail" then
		T.check(r == SMFIR_TEMPFAIL or r == SMFIR_REPLYCODE, "mail tempfail")
		mt.disconnect(conn)
		T.wait_decisions(1)
		local ev = T.last_decision()
		T.has(ev, "event.action", "tempfail")
		T.has(ev, "event.code", "4.7.1")
		T.check(string.find(ev, '{"id":"new-sending-path","result":"fail","action":"tempfail"', 1, true) ~= nil,
			"the check decided with tempfail: " .. ev)
	else
		T.check(r == SMFIR_CONTINUE, "mail continue")
		T.check(T.rcpt(conn, "<x@example.net>") == SMFIR_CONTINUE, "rcpt continue")
		T.headers(conn, T.good_headers())
		T.body_eom(conn, "hello\r\n")
		if expect == "quarantine" then
			T.check(mt.eom_check(conn, MT_QUARANTINE), "quarantined")
		else
			T.check(not mt.eom_check(conn, MT_QUARANTINE), "not quarantined")
		end
		mt.disconnect(conn)
		local ev = T.last_decision()
		T.has(ev, "event.action", expect)
	end
	local ev = T.last_decision()
	local pat = '{"id":"new-sending-path","result":"'
	local at = string.find(ev, pat, 1, true)
	T.check(at ~= nil, "decision lists the new-sending-path check: " .. ev)
	T.check(string.find(ev, detail, 1, true) ~= nil, "decision says " .. detail .. ": " .. ev)
end)
