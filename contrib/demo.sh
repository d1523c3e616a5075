#!/bin/bash
#
# contrib/demo.sh - the Quick-start tour: run a built bulkwarden behind a
# private, loopback-only Postfix, send a handful of messages and show what
# happened to each, then the decision events the milter logged.
#
#   ./contrib/demo.sh                 (as root, from the repository root,
#                                      after ./configure && make)
#   BULKWARDEN=/path/to/bulkwarden KEEP=1 ./contrib/demo.sh
#
# The registry is the sample one (conf/bulkwarden.conf, conf/identities.d);
# socket, state and events go to a temp dir.
# Nothing touches the system Postfix; everything listens on 127.0.0.1 only.
# Needs Debian 12 packages: postfix, swaks, python3-dnspython.
# Exit 0 when every step ran (whatever the verdicts), 1 when something did not
# start or a message did not get the outcome the tour expects.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$REPO/tests/e2e/lib.sh"

BULKWARDEN=${BULKWARDEN:-$REPO/bulkwarden}
PY=/usr/bin/python3

die() {
    echo "demo: $*" >&2
    exit 1
}
[ "$(id -u)" = 0 ] || die "run me as root (the private Postfix instance needs it)"
for p in postfix smtp-sink swaks timeout openssl; do
    command -v "$p" >/dev/null 2>&1 || die "$p not found (apt-get install postfix swaks)"
done
[ -x "$BULKWARDEN" ] || die "no milter binary at $BULKWARDEN (autoreconf -fi && ./configure && make)"

T=$(mktemp -d "${TMPDIR:-/tmp}/bw-demo.XXXXXX")
chmod 755 "$T"
PF=$T/pf
MILTER_PID=
cleanup() {
    set +e
    pf_stop "$PF"
    if [ -n "$MILTER_PID" ] && kill -0 "$MILTER_PID" 2>/dev/null; then
        kill -TERM "$MILTER_PID"
        for _ in $(seq 1 50); do
            kill -0 "$MILTER_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$MILTER_PID" 2>/dev/null
    fi
    pf_dns_stop "$T"
    if [ -n "${KEEP:-}" ]; then echo "demo: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'echo "demo: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

# ---- the registry ---------------------------------------------------------
# The sample registry exactly as shipped (conf/bulkwarden.conf and
# conf/identities.d), with only its deployment paths (run, state and log
# directories) moved into the temp dir and no privilege drop. If the sample
# does not load, the demo stops: it never substitutes another registry.
SAMPLE=$REPO/conf/bulkwarden.conf
[ -f "$SAMPLE" ] || die "no sample registry at $SAMPLE"
cp -r "$REPO/conf/identities.d" "$T/identities.d"
sed -e "s|/run/bulkwarden/|$T/|g" -e "s|/var/lib/bulkwarden/|$T/|g" \
    -e "s|/var/log/bulkwarden/|$T/|g" -e "s|/etc/bulkwarden/keys/|$T/keys/|g" \
    -e '/^[[:space:]]*user[[:space:]]*=/d' "$SAMPLE" >"$T/bulkwarden.conf"
# the newsletter's own DKIM keys (0600), as `bulkwardenctl keygen` would make
mkdir -m 700 "$T/keys"
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/keys/nl.rsa" &&
    openssl genpkey -algorithm ED25519 -out "$T/keys/nl.ed25519") 2>/dev/null ||
    die "openssl could not make the demo DKIM keys"
# The relay's DNS view: a private DNS server on loopback with the records
# the sample's senders publish (SPF for the sample egress 203.0.113.7,
# DMARC), added to the demo copy as its dns group.
cat >"$T/zone" <<EOF
news.example.com TXT v=spf1 ip4:203.0.113.7 -all
_dmarc.news.example.com TXT v=DMARC1; p=reject; rua=mailto:dmarc-reports@example.com
promo.example.com TXT v=spf1 ip4:203.0.113.7 -all
_dmarc.promo.example.com TXT v=DMARC1; p=reject
partner.example.org TXT v=spf1 -all
EOF
pf_dns_start "$T" "$T/zone" || die "the demo DNS server did not start"
printf 'dns = { nameservers = ["127.0.0.1:%s"]; timeout = 3; };\n' "$PF_DNS_PORT" >>"$T/bulkwarden.conf"
# The tour's senders, as registered in the sample.
LOGIN_OK=svc-newsletter ADDR_OK=10.20.0.5 DOM_OK=news.example.com
LOGIN_OLD=svc-promo ADDR_OLD=10.40.0.7 DOM_OLD=promo.example.com

# ---- start ------------------------------------------------------------------
echo "demo: sample registry from conf/; work dir $T"
if ! "$BULKWARDEN" -n -c "$T/bulkwarden.conf" >"$T/check.log" 2>&1; then
    cat "$T/check.log" >&2
    die "bulkwarden -n refuses the sample registry"
fi
sed 's/^/demo: /' "$T/check.log"
"$BULKWARDEN" -f -c "$T/bulkwarden.conf" -p "unix:$T/bw.sock" >"$T/milter.log" 2>&1 &
MILTER_PID=$!
for _ in $(seq 1 50); do
    # socket is 0660 root:root; Postfix's smtpd runs as postfix
    [ -S "$T/bw.sock" ] && chgrp postfix "$T/bw.sock" && break
    kill -0 "$MILTER_PID" 2>/dev/null || break
    sleep 0.2
done
if [ ! -S "$T/bw.sock" ] || [ "$(stat -c %G "$T/bw.sock")" != postfix ]; then
    tail -n 20 "$T/milter.log" >&2
    die "bulkwarden did not open its socket"
fi
echo "demo: bulkwarden running (pid $MILTER_PID)"
pf_start "$PF" "unix:$T/bw.sock" || die "the private Postfix did not start"
echo "demo: Postfix on 127.0.0.1:$PF_PORT, next hop smtp-sink on 127.0.0.1:$PF_SINK_PORT"
echo

# ---- the tour ----------------------------------------------------------------
BAD=0
# try LABEL EXPECT STAGE SWAKS-ARGS... - send, print one line: label, the
# reply at STAGE ("MAIL FROM" or "lines sent"), and whether it was expected.
try() {
    local label=$1 expect=$2 stage=$3 out reply mark
    shift 3
    out=$(pf_send "$@") || true
    reply=$(printf '%s\n' "$out" | awk -v re="$stage" '
        found && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; exit }
        !found && /^ *(->|\*\*) / && $0 ~ re { found = 1 }
        /^<\*\* / && !found { sub(/^<\*\* +/, ""); print; exit }')
    if [[ $reply == "$expect"* ]]; then mark=ok; else mark=UNEXPECTED; BAD=1; fi
    printf '  %-34s %-10s %s\n' "$label" "$mark" "${reply:-(no reply: $(printf '%s' "$out" | tail -n1))}"
}
OK=(--xclient "ADDR=$ADDR_OK LOGIN=$LOGIN_OK")
# a marketing identity must offer RFC 8058 one-click unsubscribe
LU=(--header "List-Unsubscribe: <https://$DOM_OK/unsubscribe/c2f1e>"
    --header "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
echo "SMTP outcomes:"
try "registered sender ($LOGIN_OK)" "250" "lines sent" "${OK[@]}" \
    --from "bulletin@$DOM_OK" --to reader@example.net "${LU[@]}" \
    --header "From: Example News <bulletin@$DOM_OK>" --header "Subject: This week"
try "unregistered login (svc-rogue)" "550 5.7.1 [unregistered]" "MAIL FROM" \
    --xclient "ADDR=$ADDR_OK LOGIN=svc-rogue" \
    --from "promo@$DOM_OK" --to reader@example.net
try "retired identity ($LOGIN_OLD)" "550 5.7.1 [not-active]" "MAIL FROM" \
    --xclient "ADDR=$ADDR_OLD LOGIN=$LOGIN_OLD" \
    --from "spring@$DOM_OLD" --to reader@example.net
try "foreign From domain (quarantine)" "250" "lines sent" "${OK[@]}" \
    --from "bulletin@$DOM_OK" --to reader@example.net "${LU[@]}" \
    --header "From: Partner <offers@partner.example.org>" --header "Subject: Partner offer"
try "two From addresses (rfc5322)" "550 5.6.0 [rfc5322]" "lines sent" "${OK[@]}" \
    --from "bulletin@$DOM_OK" --to reader@example.net "${LU[@]}" \
    --header "From: bulletin@$DOM_OK, ceo@$DOM_OK" --header "Subject: Hi"

pf_flush_wait "$PF" 1 >/dev/null 2>&1 || true
held=$(pf_held "$PF" | tr '\n' ' ')
echo
echo "  delivered to the next hop: $(pf_delivered "$PF"); on hold (postqueue -p '!'): ${held:-none}"
f=$(grep -rl "This week" "$PF/sink" 2>/dev/null | head -n 1)
if [ -n "$f" ]; then
    echo "  the delivered newsletter carries:"
    grep -E '^(DKIM-Signature|Feedback-ID):' "$f" | cut -c1-100 | sed 's/^/    /'
fi
echo

# ---- the events ----------------------------------------------------------------
for _ in $(seq 1 25); do
    [ "$(grep -c '"bulkwarden.decision"' "$T/events.jsonl" 2>/dev/null || true)" -ge 5 ] && break
    sleep 0.2
done
echo "Decision events ($T/events.jsonl):"
"$PY" - "$T/events.jsonl" <<'EOF' || BAD=1
import json, sys
try:
    lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
except OSError as e:
    print("  no events: %s" % e); sys.exit(1)
n = 0
print("  %-10s %-16s %-14s %s" % ("action", "check", "identity", "reason"))
for line in lines:
    try:
        e = json.loads(line)
    except ValueError:
        print("  (not JSON) %.100s" % line); continue
    if e.get("event.dataset") != "bulkwarden.decision":
        continue
    n += 1
    failed = [c.get("id") for c in e.get("bulkwarden.checks") or []
              if isinstance(c, dict) and c.get("result") == "fail"]
    print("  %-10s %-16s %-14s %s" % (e.get("event.action", "?"), ",".join(failed) or "-",
                                      e.get("bulkwarden.identity.id") or "-",
                                      e.get("event.reason", "")))
sys.exit(0 if n else 1)
EOF
echo
if [ "$BAD" -ne 0 ]; then
    echo "demo: some outcomes were not what the tour expects (see above; milter log: $T/milter.log)" >&2
    KEEP=${KEEP:-1}
    exit 1
fi
echo "demo: done"
