-- Run by run.sh (not with the cases/): the identity "limited" may send 2
-- messages an hour; -D expect=N says how many of the next 3 still pass.
dofile(libdir .. "/lib.lua")
T.run("rate limit: " .. expect .. " of 3 pass, then 451 4.7.28 [rate-limit]", function()
	local passed = 0
	for i = 1, 3 do
		local conn = T.connect("192.0.2.1")
		local r = T.mail(conn, "svc-limited", "<a@alerts.example.com>")
		if r == SMFIR_CONTINUE then
			T.rcpt(conn, "<x@example.net>")
			T.headers(conn, {{"From", "a@alerts.example.com"}, {"Date", "x"}, {"Message-ID", "<" .. i .. "@a>"}})
			T.body_eom(conn)
			passed = passed + 1
		else
			local ev = T.last_decision()
			T.failed(ev, "rate-limit")
			T.has(ev, "event.code", "4.7.28")
			T.has(ev, "event.action", "tempfail")
		end
		mt.disconnect(conn)
	end
	T.check(passed == tonumber(expect), "passed " .. passed .. ", want " .. expect)
end)
