-- data.lua - the DATA step (run.sh passes -D expect_data=1 for the milter on
-- a TCP socket, 0 for the one on a unix socket). Over TCP bulkwarden keeps
-- DATA and answers it: Postfix (Nagle on) would otherwise wait up to 40 ms
-- per message for our delayed ACK of the DATA macros. Over a unix socket the
-- step is negotiated away. Either way the message goes on and is signed.
dofile(libdir .. "/lib.lua")
local tcp = expect_data == "1"
T.run(tcp and "TCP socket: DATA negotiated and answered, message signed"
	or "unix socket: DATA negotiated away, message signed", function()
	local conn = T.connect("192.0.2.1")
	T.check(T.mail(conn, "svc-signed", "<s@signed.example.com>") == SMFIR_CONTINUE, "mail continue")
	T.check(T.rcpt(conn, "<x@example.net>") == SMFIR_CONTINUE, "rcpt continue")
	local ok, err = pcall(mt.data, conn)
	if tcp then
		T.check(ok and err == nil, "DATA sent: " .. tostring(err))
		T.check(mt.getreply(conn) == SMFIR_CONTINUE, "DATA answered continue")
	else
		T.check(not ok, "DATA should be negotiated away over a unix socket")
	end
	T.headers(conn, {{"From", "s@signed.example.com"}, {"To", "x@example.net"}, {"Subject", "hi"},
		{"Date", "Mon, 1 Jun 2026 10:00:00 +0000"}, {"Message-ID", "<t1@signed.example.com>"}})
	T.body_eom(conn, "hello\r\n")
	T.check(mt.eom_check(conn, MT_HDRINSERT, "DKIM-Signature"), "DKIM-Signature inserted")
	mt.disconnect(conn)
end)
