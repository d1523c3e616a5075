-- Run by suppress.sh after a change of the suppression list (-D want=
-- refused|accepted, -D rcpt=ADDRESS, -D who=newsletter|receipts). Two
-- recipients, an unlisted one first: within one second of the change the
-- listed one is refused alone (newsletter) or accepted (want=accepted, or
-- the other identity, receipts, whose list does not hold it); the message
-- goes on and its decision event counts the suppressed recipient, never
-- naming it. -D closed=1: the list cannot be used (no key), so every
-- recipient is refused (tempfailed), the unlisted one too.
dofile(libdir .. "/lib.lua")
local function open()
	if who == "receipts" then
		local conn = T.connect("10.30.0.5")
		T.check(T.mail(conn, nil, "<r@receipts.example.com>") == SMFIR_CONTINUE, "mail (receipts)")
		return conn
	end
	local conn = T.connect("10.20.0.5")
	T.check(T.mail(conn, "svc-news", "<n@news.example.com>") == SMFIR_CONTINUE, "mail (newsletter)")
	return conn
end
T.run("suppression list: " .. rcpt .. " " .. want .. " for " .. who .. " within 1 s", function()
	local got
	for i = 1, 10 do   -- 10 x 0.1 s
		local conn = open()
		local want_other = closed and SMFIR_REPLYCODE or SMFIR_CONTINUE
		T.check(T.rcpt(conn, "<other@example.net>") == want_other, "unlisted rcpt")
		local r = T.rcpt(conn, rcpt)
		got = (r == SMFIR_REPLYCODE) and "refused" or "accepted"
		if got == want or i == 10 then
			if who == "newsletter" then
				T.headers(conn, T.good_headers())
				T.check(T.body_eom(conn) == SMFIR_ACCEPT or true, "eom")
			end
			mt.disconnect(conn)
			break
		end
		mt.disconnect(conn)
		mt.sleep(0.1)
	end
	T.check(got == want, rcpt .. " " .. got .. ", want " .. want)
	if who ~= "newsletter" then
		return
	end
	local ev = T.last_decision()
	T.has(ev, "event.action", "accept")
	if want == "refused" then
		T.has_num(ev, "bulkwarden.envelope.rcpt_count", 1)
		T.has_num(ev, "bulkwarden.envelope.rcpt_suppressed", 1)
		T.failed(ev, "suppressed")
		local bare = string.lower(string.gsub(rcpt, "[<>]", ""))
		T.check(string.find(string.lower(ev), bare, 1, true) == nil, "the event names the suppressed address")
	else
		T.has_num(ev, "bulkwarden.envelope.rcpt_count", 2)
		T.check(string.find(ev, "rcpt_suppressed", 1, true) == nil, "rcpt_suppressed in an event without one")
	end
end)
