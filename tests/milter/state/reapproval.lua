-- reapproval.lua - policy.require_reapproval seen from the MTA (run by
-- tests/milter/reapproval.sh): -D expect=pending: newsletter's mail is
-- refused at MAIL FROM as pending, the decision event saying why;
-- expect=accept: a whole message is accepted. -D step names the case.
dofile(libdir .. "/lib.lua")
if expect == "pending" then
	T.run(step .. ": refused as pending (changed since approval)", function()
		local conn = T.connect("10.20.0.5")
		T.check(T.mail(conn, "svc-news", "<n@news.example.com>") == SMFIR_REPLYCODE, "refused at MAIL FROM")
		mt.disconnect(conn)
		local ev = T.last_decision()
		T.failed(ev, "not-active")
		T.has(ev, "event.action", "reject")
		T.has(ev, "event.code", "5.7.1")
		T.has(ev, "bulkwarden.identity.id", "newsletter")
		T.has(ev, "bulkwarden.identity.state", "pending")
		local why = "changed since approval on 2026-01-15, re-approval required"
		T.check(string.find(ev, '"event.reason":"[^"]*' .. why:gsub("%-", "%%-")) ~= nil,
			"event.reason says " .. why .. "\n  event: " .. ev)
	end)
else
	T.run(step .. ": accepted", function()
		local before = T.decisions()
		local conn = T.connect("10.20.0.5")
		T.check(T.mail(conn, "svc-news", "<n@news.example.com>") == SMFIR_CONTINUE, "mail continue")
		T.check(T.rcpt(conn, "<x@example.net>") == SMFIR_CONTINUE, "rcpt continue")
		T.headers(conn, T.good_headers())
		T.check(T.body_eom(conn, "hello\r\n") == SMFIR_ACCEPT or mt.getreply(conn) == SMFIR_CONTINUE, "eom accept")
		mt.disconnect(conn)
		T.check(T.wait_decisions(before + 1), "one decision event")
		local ev = T.last_decision()
		T.has(ev, "event.action", "accept")
		T.has(ev, "bulkwarden.identity.id", "newsletter")
		T.has(ev, "bulkwarden.identity.state", "active")
	end)
end
