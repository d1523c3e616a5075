dofile(libdir .. "/lib.lua")
T.run("identity with RSA and Ed25519 keys: both signatures and Feedback-ID added", function()
	local conn = T.connect("192.0.2.1")
	T.check(T.mail(conn, "svc-signed", "<s@signed.example.com>") == SMFIR_CONTINUE, "mail")
	T.rcpt(conn, "<x@example.net>")
	T.headers(conn, {{"From", "s@signed.example.com"}, {"To", "x@example.net"}, {"Subject", "hi"},
		{"Date", "Mon, 1 Jun 2026 10:00:00 +0000"}, {"Message-ID", "<d1@signed.example.com>"},
		{"Feedback-ID", "forged:by:client"}})
	T.body_eom(conn, "hello\r\n")
	T.check(mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature"), "DKIM-Signature inserted")
	local sig = mt.getheader(conn, "DKIM-Signature", 0) or ""
	T.check(string.find(sig, "d=signed.example.com", 1, true) ~= nil, "d= of the identity: " .. sig)
	T.check(mt.eom_check(conn, MT_HDRADD, "Feedback-ID"), "Feedback-ID added")
	T.check(mt.eom_check(conn, MT_HDRDELETE, "Feedback-ID") or mt.eom_check(conn, MT_HDRCHANGE, "Feedback-ID"),
		"the client's Feedback-ID removed")
	mt.disconnect(conn)
	local ev = T.last_decision()
	T.has(ev, "event.action", "accept")
	T.has(ev, "algorithm", "rsa-sha256")
	T.has(ev, "algorithm", "ed25519-sha256")
	T.has(ev, "result", "signed")
	T.check(string.find(ev, '"bits":2048', 1, true) ~= nil, "RSA key bits in the event")
end)
