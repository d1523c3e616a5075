"""tests/e2e/send_many.py - many messages of one identity through the test
Postfix in a few SMTP sessions, each session given a client address and a
SASL login by XCLIENT (Postfix trusts loopback for it in tests/e2e/lib.sh).

  send_many.py PORT COUNT SESSIONS TAG ADDR LOGIN FROM RCPT

Message i (0..COUNT-1) has Message-ID <mI.TAG@DOMAIN-OF-FROM>. Prints one
line per reply class ("250 N", "550 N", ...) and exits 1 when a session
failed (connection, XCLIENT or EHLO refused) or a message was not sent."""

import smtplib
import sys
import threading
import time
from email.utils import formatdate

port, count, sessions = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tag, addr, login, mfrom, rcpt = sys.argv[4:9]
domain = mfrom.split("@", 1)[1]
codes = {}
errors = []
lock = threading.Lock()


def session(first, n):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=30)
        s.ehlo("client.bulkwarden.test")
        code, msg = s.docmd("XCLIENT", "ADDR=%s LOGIN=%s" % (addr, login))
        if code != 220:
            raise RuntimeError("XCLIENT: %d %r" % (code, msg))
        s.ehlo("client.bulkwarden.test")
        for i in range(first, first + n):
            body = (
                "From: News <%s>\r\nTo: <%s>\r\nSubject: Weekly news %d\r\n"
                "Date: %s\r\nMessage-ID: <m%d.%s@%s>\r\n\r\nHello reader %d.\r\n"
                % (mfrom, rcpt, i, formatdate(localtime=False), i, tag, domain, i)
            )
            try:
                s.sendmail(mfrom, [rcpt], body)
                c = 250
            except smtplib.SMTPResponseException as e:
                c = e.smtp_code
                s.rset()
            except smtplib.SMTPRecipientsRefused as e:
                c = list(e.recipients.values())[0][0]
                s.rset()
            with lock:
                codes[c] = codes.get(c, 0) + 1
        s.quit()
    except Exception as e:  # noqa: BLE001 - reported, and the exit says so
        with lock:
            errors.append("%s: %s" % (type(e).__name__, e))


t0 = time.monotonic()
per = count // sessions
threads = []
for k in range(sessions):
    n = per if k < sessions - 1 else count - per * (sessions - 1)
    t = threading.Thread(target=session, args=(k * per, n))
    t.start()
    threads.append(t)
for t in threads:
    t.join()
el = time.monotonic() - t0
for c in sorted(codes):
    print("%d %d" % (c, codes[c]))
print("seconds %.2f" % el)
for e in errors:
    print("error " + e)
sys.exit(1 if errors or sum(codes.values()) != count else 0)
