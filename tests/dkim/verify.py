#!/usr/bin/python3
"""verify.py - an independent DKIM verifier for bulkwarden's tests.

Verifies every DKIM-Signature of MESSAGE with Debian's python3-dkim (and
python3-nacl for Ed25519), taking public keys from --txt arguments instead
of DNS:  --txt SELECTOR._domainkey.DOMAIN="v=DKIM1; k=rsa; p=..."

Prints one line per signature and exits 0 when every signature verifies,
1 when none does, 3 when some do and some do not, 4 when there is no
signature, 2 on usage errors. Run it with /usr/bin/python3 (Debian's
modules are not on other interpreters' paths).
"""
import sys

import dkim


def usage(msg):
    sys.stderr.write("verify.py: %s\nusage: verify.py MESSAGE [--txt NAME=RECORD]...\n" % msg)
    sys.exit(2)


def main(argv):
    if len(argv) < 1:
        usage("no message")
    path, records = argv[0], {}
    args = argv[1:]
    while args:
        if args[0] != "--txt" or len(args) < 2 or "=" not in args[1]:
            usage("bad argument %r" % args[0])
        name, rec = args[1].split("=", 1)
        records[name.lower().rstrip(".")] = rec.encode("ascii")
        args = args[2:]

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        return records.get(name.lower().rstrip("."))

    with open(path, "rb") as f:
        message = f.read()
    d = dkim.DKIM(message, minkey=1024)
    n = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
    if n == 0:
        print("no DKIM-Signature")
        return 4
    passed = 0
    for i in range(n):
        try:
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:
            ok = False
            print("sig %d: exception %s" % (i, e))
        sig = d.signature_fields or {}
        print("sig %d: d=%s s=%s a=%s %s" % (
            i, sig.get(b"d", b"?").decode(), sig.get(b"s", b"?").decode(),
            sig.get(b"a", b"?").decode(), "pass" if ok else "fail"))
        passed += 1 if ok else 0
    return 0 if passed == n else (1 if passed == 0 else 3)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
