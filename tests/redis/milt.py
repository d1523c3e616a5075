#!/usr/bin/python3
"""milt.py - a small milter-protocol (v6) client playing the MTA, for the
fleet tests: one message per connection, every step waits for its reply
(no protocol flags are offered, so the filter negotiates none away).

  milt.py probe SOCK LOGIN MAILFROM        one transaction up to MAIL FROM; prints the reply
  milt.py burst N RCPTS LOGIN MAILFROM SOCK...
        N messages at once (one thread and connection each, spread over the
        sockets round robin), RCPTS recipients each; prints one line per
        outcome: "<code> <count>" (accept, or the SMTP code and enhanced code)
  milt.py send COUNT RCPTS LOGIN MAILFROM SOCK   COUNT messages one after another
  milt.py load SECS LOGIN MAILFROM OUT SOCK
        one message after another for SECS seconds; writes "UNIXTIME outcome"
        per message to OUT
  milt.py cycles N CTL CONF ID LOGIN MAILFROM SOCK...
        N suspend/reinstate cycles with bulkwardenctl -c CONF; after each
        command returns, probe every socket until it answers accordingly;
        prints each cycle's times and the p50/p99/max of both directions

SOCK is a unix socket path or HOST:PORT. Untrusted input: the filter's
replies (lengths bounded).
"""
import socket
import struct
import sys
import threading
import time
from collections import Counter

MAX_PKT = 1 << 20


def connect(sock):
    if ":" in sock and not sock.startswith("/"):
        host, port = sock.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=30)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(sock)
    return s


def send(s, cmd, data=b""):
    s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("filter closed the connection")
        b += c
    return b


def recv(s):
    (n,) = struct.unpack(">I", recv_exact(s, 4))
    if n < 1 or n > MAX_PKT:
        raise ValueError("bad packet length %d" % n)
    p = recv_exact(s, n)
    return p[:1], p[1:]


def reply(s, seen=None):
    """Read until a final reply; returns (kind, text). Modifications are
    noted in seen (a set) when given."""
    while True:
        cmd, data = recv(s)
        if seen is not None:
            seen.add(cmd)
        if cmd == b"c":
            return "continue", ""
        if cmd == b"a":
            return "accept", ""
        if cmd == b"r":
            return "reject", "550"
        if cmd == b"t":
            return "tempfail", "451"
        if cmd == b"y":
            return "reply", data.rstrip(b"\0").decode("utf-8", "replace")
        if cmd == b"d":
            return "discard", ""
        # modifications (headers, quarantine, progress): keep reading


def macro(s, stage, pairs):
    data = stage
    for k, v in pairs:
        data += k.encode() + b"\0" + v.encode() + b"\0"
    send(s, b"D", data)


def session(sock, login, mail_from, rcpts, upto_mail=False):
    """One message; returns "accept" or the refusal text ("451 4.7.28 ...")."""
    s = connect(sock)
    try:
        send(s, b"O", struct.pack(">III", 6, 0x1FF, 0))
        cmd, _ = recv(s)
        if cmd != b"O":
            raise ValueError("no option negotiation reply")
        macro(s, b"C", [("j", "relay.test"), ("{daemon_name}", "smtpd"), ("{daemon_port}", "25")])
        send(s, b"C", b"client.test\0" + b"4" + struct.pack(">H", 40000) + b"10.20.0.5\0")
        k, t = reply(s)
        if k not in ("continue", "accept"):
            return t or k
        macro(s, b"M", [("i", "QID%d" % threading.get_ident()), ("{auth_authen}", login)])
        send(s, b"M", ("<%s>" % mail_from).encode() + b"\0")
        k, t = reply(s)
        if upto_mail or k not in ("continue",):
            return t or k
        for i in range(rcpts):
            send(s, b"R", ("<r%d@example.net>" % i).encode() + b"\0")
            k, t = reply(s)
            if k not in ("continue",):
                return t or k
        dom = mail_from.split("@", 1)[1]
        hdrs = [("From", "News <news@%s>" % dom), ("To", "r0@example.net"),
                ("Subject", "fleet test"), ("Date", "Sat, 05 Dec 2026 08:00:00 +0000"),
                ("Message-ID", "<%f.%d@%s>" % (time.time(), threading.get_ident(), dom))]
        for n, v in hdrs:
            send(s, b"L", n.encode() + b"\0 " + v.encode() + b"\0")
            k, t = reply(s)
            if k not in ("continue",):
                return t or k
        send(s, b"N")
        k, t = reply(s)
        if k not in ("continue",):
            return t or k
        send(s, b"B", b"hello fleet\r\n")
        k, t = reply(s)
        if k not in ("continue",):
            return t or k
        send(s, b"E")
        seen = set()
        k, t = reply(s, seen)
        if k in ("continue", "accept"):
            return "quarantine" if b"q" in seen else "accept"
        return t or k
    finally:
        try:
            send(s, b"Q")
        except OSError:
            pass
        s.close()


def code_of(r):
    """"accept", or the SMTP and enhanced code with the [check] tag."""
    if r == "accept":
        return r
    w = r.split()
    return " ".join(w[:3]) if len(w) >= 3 else r


def main(argv):
    if argv[1] == "probe":
        print(session(argv[2], argv[3], argv[4], 0, upto_mail=True))
        return 0
    if argv[1] == "send":
        n, rc = int(argv[2]), int(argv[3])
        out = Counter(code_of(session(argv[6], argv[4], argv[5], rc)) for _ in range(n))
        for k, v in sorted(out.items()):
            print("%s %d" % (k, v))
        return 0
    if argv[1] == "burst":
        n, rc, login, mf, socks = int(argv[2]), int(argv[3]), argv[4], argv[5], argv[6:]
        res = [None] * n
        start = threading.Barrier(n)

        def one(i):
            try:
                start.wait()
                res[i] = code_of(session(socks[i % len(socks)], login, mf, rc))
            except Exception as e:  # noqa: BLE001 - reported as an outcome
                res[i] = "error:%s" % type(e).__name__
        ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for k, v in sorted(Counter(res).items()):
            print("%s %d" % (k, v))
        return 0
    if argv[1] == "load":
        secs, login, mf, out, sock = float(argv[2]), argv[3], argv[4], argv[5], argv[6]
        end = time.monotonic() + secs
        with open(out, "w") as f:
            while time.monotonic() < end:
                try:
                    r = code_of(session(sock, login, mf, 1))
                except Exception as e:  # noqa: BLE001 - recorded as an outcome
                    r = "error:%s" % type(e).__name__
                    time.sleep(0.05)
                f.write("%.3f %s\n" % (time.time(), r))
                f.flush()
        return 0
    if argv[1] == "cycles":
        return cycles(int(argv[2]), argv[3], argv[4], argv[5], argv[6], argv[7], argv[8:])
    print(__doc__)
    return 2


def wait_all(socks, login, mf, want, limit):
    """Probe each socket until its MAIL FROM reply starts with want
    ("continue" or a code); returns the ms until the last one did, or None."""
    t0 = time.monotonic()
    pending = list(socks)
    while pending:
        pending = [s for s in pending if not session(s, login, mf, 0, True).startswith(want)]
        if time.monotonic() - t0 > limit:
            return None
    return (time.monotonic() - t0) * 1000


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def cycles(n, ctl, conf, ident, login, mf, socks):
    import subprocess
    sus, rei, bad = [], [], 0
    for i in range(n):
        subprocess.run([ctl, "-c", conf, "suspend", ident, "--reason", "fleet test %d" % i,
                        "--by", "soc-a", "--ticket", "T-%d" % i], check=True,
                       stdout=subprocess.DEVNULL)
        a = wait_all(socks, login, mf, "550 5.7.1", 5)
        subprocess.run([ctl, "-c", conf, "reinstate", ident, "--reason", "fleet test %d" % i,
                        "--by", "soc-b", "--ticket", "T-%d" % i], check=True,
                       stdout=subprocess.DEVNULL)
        b = wait_all(socks, login, mf, "continue", 5)
        if a is None or b is None:
            bad += 1
            print("cycle %d: not seen within 5 s (suspend %s, reinstate %s)" % (i, a, b))
            continue
        sus.append(a)
        rei.append(b)
    if sus:
        print("suspend seen by all %d milters: p50 %.0f ms, p99 %.0f ms, max %.0f ms over %d cycles"
              % (len(socks), pct(sus, 50), pct(sus, 99), max(sus), len(sus)))
        print("reinstate seen by all %d milters: p50 %.0f ms, p99 %.0f ms, max %.0f ms"
              % (len(socks), pct(rei, 50), pct(rei, 99), max(rei)))
        print("p99_ms %.0f" % max(pct(sus, 99), pct(rei, 99)))
    print("missed %d" % bad)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
