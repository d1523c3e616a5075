#!/usr/bin/python3
"""sign.py - an independent DKIM signer for bulkwarden's verify-mode tests
(the "vendor" that signs on our behalf), using Debian's python3-dkim.

usage: sign.py MESSAGE --key PEM --domain D --selector S
               [--algorithm rsa|ed25519] [--canon H/B] [--length]
               [--headers from:to:subject...] [--time T]

Writes the message with the new DKIM-Signature prepended to stdout.
--time pins t= so the output is reproducible; --length adds l=.
"""
import base64
import sys
import time

import dkim


def main(argv):
    if not argv:
        sys.exit("usage: sign.py MESSAGE --key PEM --domain D --selector S ...")
    path, opts, args = argv[0], {}, argv[1:]
    while args:
        flag = args.pop(0)
        if flag == "--length":
            opts["length"] = True
        elif flag in ("--key", "--domain", "--selector", "--algorithm", "--canon",
                      "--headers", "--time") and args:
            opts[flag[2:]] = args.pop(0)
        else:
            sys.exit("sign.py: bad argument %r" % flag)
    with open(path, "rb") as f:
        message = f.read()
    with open(opts["key"], "rb") as f:
        pem = f.read()
    alg = opts.get("algorithm", "rsa")
    if alg == "ed25519":
        # PKCS#8 Ed25519: the 32-byte seed ends the 48-byte DER
        der = base64.b64decode(b"".join(l for l in pem.splitlines() if not l.startswith(b"-----")))
        key = base64.b64encode(der[-32:])
        sigalg = b"ed25519-sha256"
    else:
        key, sigalg = pem, b"rsa-sha256"
    if "time" in opts:
        t = int(opts["time"])
        time.time = lambda: t
    canon = opts.get("canon", "relaxed/relaxed").encode().split(b"/")
    headers = opts.get("headers", "from:to:subject:date:message-id").encode().split(b":")
    sig = dkim.sign(message, opts["selector"].encode(), opts["domain"].encode(), key,
                    canonicalize=(canon[0], canon[1]), signature_algorithm=sigalg,
                    include_headers=headers, length=opts.get("length", False))
    sys.stdout.buffer.write(sig + message)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
