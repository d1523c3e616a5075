-- A vendor's message (-D eml: a file signed by the vendor, CRLF, folded
-- headers) with login svc-esp from 10.60.0.10; -D expect accept |
-- tempfail (at end of message) | mailtempfail (at MAIL FROM); the decision event must contain -D detail.
dofile(libdir .. "/lib.lua")
T.run("paths: vendor message " .. eml:match("[^/]*$") .. " -> " .. expect, function()
	local f = assert(io.open(eml, "rb"))
	local raw = f:read("*a")
	f:close()
	local sep = raw:find("\r\n\r\n", 1, true)
	local head, body = raw:sub(1, sep + 1), raw:sub(sep + 4)
	local hdrs = {}
	for line in head:gmatch("(.-)\r\n") do
		if line:match("^[ \t]") and #hdrs > 0 then
			hdrs[#hdrs][2] = hdrs[#hdrs][2] .. "\r\n" .. line
		else
			local n, v = line:match("^([^:]+):[ \t]*(.*)$")
			table.insert(hdrs, {n, v})
		end
	end
	local conn = T.connect("10.60.0.10")
	local r = T.mail(conn, "svc-esp", "<invite@events.example.com>")
	if expect == "mailtempfail" then
		T.check(r == SMFIR_TEMPFAIL or r == SMFIR_REPLYCODE, "tempfail at MAIL FROM")
		mt.disconnect(conn)
		T.wait_decisions(1)
		local ev = T.last_decision()
		T.has(ev, "event.action", "tempfail")
		T.check(string.find(ev, detail, 1, true) ~= nil, "decision says " .. detail .. ": " .. ev)
		return
	end
	T.check(r == SMFIR_CONTINUE, "mail continue")
	T.check(T.rcpt(conn, "<guest@example.net>") == SMFIR_CONTINUE, "rcpt continue")
	T.headers(conn, hdrs)
	r = T.body_eom(conn, body)
	if expect == "tempfail" then
		T.check(r == SMFIR_TEMPFAIL or r == SMFIR_REPLYCODE, "tempfail at end of message")
	else
		T.check(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE, "accepted")
	end
	mt.disconnect(conn)
	local ev = T.last_decision()
	T.has(ev, "event.action", expect)
	T.check(string.find(ev, detail, 1, true) ~= nil, "decision says " .. detail .. ": " .. ev)
end)
