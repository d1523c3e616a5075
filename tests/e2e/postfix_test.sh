#!/bin/bash
#
# tests/e2e/postfix_test.sh - end-to-end test: the real bulkwarden binary behind
# a private Postfix on loopback, driven with swaks, next hop an smtp-sink, DNS
# from a loopback server with zones written here.  Prints PASS:/FAIL: per case
# and "e2e: N passed, N failed"; exit 0 all passed, 1 a failure, 77 (automake
# SKIP) when the prerequisites are missing (root, postfix, swaks, dnspython).
#
#   BULKWARDEN=./bulkwarden tests/e2e/postfix_test.sh
#   KEEP=1 ...    keep the temp dir (its path is printed) for inspection
#   VERBOSE=1 ... print every SMTP transcript
#
# Nothing here uses the system Postfix or the network beyond 127.0.0.1.

# make check may run us with /bin/sh (SH_LOG_COMPILER): we need bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

BULKWARDEN=${BULKWARDEN:-./bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
PY=/usr/bin/python3
MILTER_WAIT=${MILTER_WAIT:-10}

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (private Postfix instance)"
for p in postfix postqueue postsuper smtp-sink swaks openssl timeout; do
    command -v "$p" >/dev/null 2>&1 || skip "$p not installed"
done
id postfix >/dev/null 2>&1 || skip "no postfix user"
"$PY" -c 'import dns.message' 2>/dev/null || skip "$PY lacks dnspython"

case $BULKWARDEN in /*) ;; *) BULKWARDEN=$(pwd)/$BULKWARDEN ;; esac
if [ ! -x "$BULKWARDEN" ]; then
    echo "FAIL: milter binary $BULKWARDEN not found or not executable"
    echo "e2e: 0 passed, 1 failed"
    exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/bw-e2e.XXXXXX")
chmod 755 "$T" # Postfix's smtpd (user postfix) must reach $T/bw.sock
PF=$T/pf
MILTER_PID=

stop_milter() {
    [ -n "$MILTER_PID" ] || return 0
    if kill -0 "$MILTER_PID" 2>/dev/null; then
        kill -TERM "$MILTER_PID" 2>/dev/null
        # libmilter takes up to ~5 s to notice SIGTERM
        for _ in $(seq 1 50); do
            kill -0 "$MILTER_PID" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$MILTER_PID" 2>/dev/null; then
            echo "warning: milter did not exit on SIGTERM within 10 s; killing" >&2
            kill -KILL "$MILTER_PID" 2>/dev/null
        fi
    fi
    wait "$MILTER_PID" 2>/dev/null
    MILTER_RC=$?
    MILTER_PID=
}

cleanup() {
    pf_stop "$PF"
    stop_milter
    pf_dns_stop "$T"
    if [ -n "${KEEP:-}" ]; then
        echo "kept $T" >&2
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSED=0
FAILED=0
pass() {
    echo "PASS: $1"
    PASSED=$((PASSED + 1))
}
fail() {
    local name=$1
    shift
    echo "FAIL: $name"
    [ $# -gt 0 ] && printf '    %s\n' "$@"
    FAILED=$((FAILED + 1))
}
show() { # indent a transcript for a failure report
    sed 's/^/    | /'
}

# reply_to OUT REGEX - the first server reply line after the first client line
# matching REGEX (e.g. 'MAIL FROM', 'lines sent').
reply_to() {
    printf '%s\n' "$1" | awk -v re="$2" '
        found && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; exit }
        !found && /^ *(->|\*\*) / && $0 ~ re { found = 1 }'
}
# replies_to OUT REGEX - every reply following a client line matching REGEX.
replies_to() {
    printf '%s\n' "$1" | awk -v re="$2" '
        want && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; want = 0 }
        /^ *(->|\*\*) / { want = ($0 ~ re) }'
}
queue_id() { # queue id from "250 2.0.0 Ok: queued as ABC123"
    printf '%s\n' "$1" | sed -n 's/^.*queued as \([0-9A-Za-z]*\).*$/\1/p' | head -n1
}

# ---------------------------------------------------------------- fixtures --

# DKIM key for the newsletter identity: 0600, owned by root (the milter user).
mkdir -p "$T/keys"
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$T/keys/nl.rsa" 2>/dev/null) || { echo "FAIL: openssl genpkey"; exit 1; }
DKIM_P=$(openssl pkey -in "$T/keys/nl.rsa" -pubout -outform DER 2>/dev/null | base64 -w0)
(umask 077 && openssl genpkey -algorithm ED25519 -out "$T/keys/nl.ed25519" 2>/dev/null) ||
    { echo "FAIL: openssl genpkey ed25519"; exit 1; }
# an Ed25519 DKIM key record carries the raw 32-byte public key (RFC 8463)
DKIM_E=$(openssl pkey -in "$T/keys/nl.ed25519" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)

cat >"$T/zone" <<EOF
news.example.com TXT v=spf1 ip4:192.0.2.25 -all
_dmarc.news.example.com TXT v=DMARC1; p=reject; adkim=r; aspf=r
app.example.com TXT v=spf1 ip4:192.0.2.25 -all
_dmarc.app.example.com TXT v=DMARC1; p=quarantine
nl2026._domainkey.news.example.com TXT v=DKIM1; k=rsa; p=$DKIM_P
nl2026e._domainkey.news.example.com TXT v=DKIM1; k=ed25519; p=$DKIM_E
events.example.com TXT v=spf1 ip4:192.0.2.25 -all
_dmarc.events.example.com TXT v=DMARC1; p=reject
old.example.com TXT v=spf1 ip4:192.0.2.25 -all
_dmarc.old.example.com TXT v=DMARC1; p=reject
marketing.example.org TXT v=spf1 -all
_dmarc.marketing.example.org TXT v=DMARC1; p=reject
evil.example.org TXT v=spf1 -all
EOF
pf_dns_start "$T" "$T/zone" || { echo "FAIL: DNS server"; exit 1; }

cat >"$T/bw.conf" <<EOF
milter = { socket = "unix:$T/bw.sock"; socket_mode = "0660"; on_internal_error = "tempfail"; };
relay = { egress_ips = ["192.0.2.25"]; };
state = { backend = "sqlite"; path = "$T/state.db"; };
log = { target = "file"; path = "$T/events.jsonl"; };
dns = { nameservers = ["127.0.0.1:$PF_DNS_PORT"]; timeout = 3; };
policy = {
  mode = "enforce";
  require_owners = ["dns", "platform", "compliance"];
  max_recipients = 3;
  actions = { unregistered = "reject"; from-domain = "quarantine"; };
};
identities = (
  { id = "newsletter"; description = "Weekly newsletter"; class = "transactional";
    owners = { dns = "dns@example.com"; platform = "martech@example.com";
               compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };
    lifecycle = { activate = "2020-01-01"; decommission = "2099-01-01"; };
    credentials = { logins = ["svc-news"]; networks = ["10.20.0.0/24"]; };
    envelope_domains = ["news.example.com"];
    dkim = ( { domain = "news.example.com"; selector = "nl2026"; key = "$T/keys/nl.rsa"; },
             { domain = "news.example.com"; selector = "nl2026e"; key = "$T/keys/nl.ed25519"; } );
    feedback_id = true;
  },
  { id = "vendor"; description = "ESP sending event invitations, signs with its own key";
    class = "transactional"; platform = "ExampleSend Inc.";
    owners = { dns = "dns@example.com"; platform = "vendors@example.com";
               compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-3"; };
    credentials = { logins = ["svc-esp"]; };
    envelope_domains = ["events.example.com"];
    dkim_mode = "verify";
    dkim = ( { domain = "events.example.com"; selector = "esp1"; key = "$HERE/../dkim/vendor-rsa.pub"; } );
  },
  { id = "oldpromo"; description = "Retired promotion mailer"; class = "transactional";
    owners = { dns = "dns@example.com"; platform = "martech@example.com";
               compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2019-06-01"; ticket = "SEC-0"; };
    lifecycle = { activate = "2019-07-01"; decommission = "2021-01-01"; };
    credentials = { logins = ["svc-old"]; networks = ["10.20.1.0/24"]; };
    envelope_domains = ["old.example.com"];
  },
  { id = "local-app"; description = "An application on the relay itself (sendmail(1))";
    class = "transactional";
    owners = { dns = "dns@example.com"; platform = "apps@example.com";
               compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-2"; };
    credentials = { networks = ["127.0.0.1/32"]; };
    envelope_domains = ["app.example.com"];
  }
);
EOF

# ------------------------------------------------------------------ start --

"$BULKWARDEN" -f -c "$T/bw.conf" -p "unix:$T/bw.sock" >"$T/milter.log" 2>&1 &
MILTER_PID=$!
started=
for _ in $(seq 1 $((MILTER_WAIT * 5))); do
    kill -0 "$MILTER_PID" 2>/dev/null || break
    # 0660 root:root; Postfix's smtpd runs as postfix (as an admin would
    # put postfix in the milter's group)
    [ -S "$T/bw.sock" ] && chgrp postfix "$T/bw.sock" && { started=1; break; }
    sleep 0.2
done
if [ -z "$started" ]; then
    fail "milter starts" "bulkwarden did not create $T/bw.sock within ${MILTER_WAIT}s"
    tail -n 30 "$T/milter.log" | show
    echo "e2e: $PASSED passed, $FAILED failed"
    exit 1
fi
pass "milter starts"

if ! pf_start "$PF" "unix:$T/bw.sock"; then
    fail "postfix starts"
    echo "e2e: $PASSED passed, $FAILED failed"
    exit 1
fi
pass "postfix starts"

TAG=$$.$RANDOM
# send NAME SWAKS-ARGS... - run swaks, keep the transcript in OUT.
send() {
    local name=$1
    shift
    OUT=$(pf_send "$@")
    SWAKS_RC=$?
    if [ -n "${VERBOSE:-}" ]; then
        echo "--- $name (swaks exit $SWAKS_RC)"
        printf '%s\n' "$OUT" | show
    fi
}
NEWS=(--xclient "ADDR=10.20.0.5 LOGIN=svc-news")

# --- (1) a registered sender is accepted and delivered --------------------
send accept "${NEWS[@]}" --from "c1@news.example.com" --to r1@example.net \
    --header "From: News <c1@news.example.com>" --header "Message-Id: <c1.$TAG@news.example.com>" \
    --header "Subject: case 1"
r=$(reply_to "$OUT" 'lines sent')
QID1=$(queue_id "$r")
if [[ $r == 250* ]] && [ -n "$QID1" ] && pf_flush_wait "$PF" 1 &&
    C1_FILE=$(pf_sink_grep "$PF" "c1.$TAG@" | head -n1) && [ -n "$C1_FILE" ]; then
    pass "registered sender accepted and delivered"
else
    fail "registered sender accepted and delivered" "end-of-data reply: ${r:-none}" \
        "delivered: $(pf_delivered "$PF")"
    printf '%s\n' "$OUT" | show
    C1_FILE=
fi

# --- (1b) the delivered message carries valid RSA and Ed25519 signatures,
# checked by an independent verifier (python3-dkim) against the registered
# keys; a header added after signing breaks them (oversigned Subject) ------
TXT_ARGS=(--txt "nl2026._domainkey.news.example.com=v=DKIM1; k=rsa; p=$DKIM_P"
          --txt "nl2026e._domainkey.news.example.com=v=DKIM1; k=ed25519; p=$DKIM_E")
if [ -n "${C1_FILE:-}" ]; then
    # smtp-sink prepends X-* envelope lines: the message starts at Received
    sed -n '/^Received:/,$p' "$C1_FILE" >"$T/c1.eml"
    out=$("$PY" "$HERE/../dkim/verify.py" "$T/c1.eml" "${TXT_ARGS[@]}" 2>&1)
    nsig=$(grep -c '^DKIM-Signature:' "$T/c1.eml")
    if [ $? -eq 0 ] && [ "$nsig" -eq 2 ] && "$PY" "$HERE/../dkim/verify.py" "$T/c1.eml" "${TXT_ARGS[@]}" >/dev/null 2>&1 &&
        grep -q '^Feedback-ID: .*newsletter' "$T/c1.eml"; then
        pass "delivered mail has 2 DKIM signatures (rsa, ed25519) that verify, and a Feedback-ID"
    else
        fail "delivered mail has 2 DKIM signatures that verify" "$out" "signatures: $nsig"
    fi
    { printf 'Subject: changed after signing\r\n'; cat "$T/c1.eml"; } >"$T/c1-tampered.eml"
    if ! "$PY" "$HERE/../dkim/verify.py" "$T/c1-tampered.eml" "${TXT_ARGS[@]}" >/dev/null 2>&1; then
        pass "a Subject added after signing breaks the signatures (oversigned)"
    else
        fail "a Subject added after signing breaks the signatures (oversigned)"
    fi
else
    fail "delivered mail has 2 DKIM signatures that verify" "no delivered message to inspect"
fi

# --- (2) unregistered login: 550 5.7.1 [unregistered] at MAIL FROM ---------
send unregistered --xclient "ADDR=10.20.0.5 LOGIN=svc-nobody" --from "c2@news.example.com" \
    --to r2@example.net
r=$(reply_to "$OUT" 'MAIL FROM')
if [[ $r == "550 5.7.1 [unregistered]"* ]] && [[ $r != *newsletter* ]]; then
    pass "unregistered login rejected at MAIL FROM"
else
    fail "unregistered login rejected at MAIL FROM" "MAIL FROM reply: ${r:-none}"
    printf '%s\n' "$OUT" | show
fi
REF2=$(printf '%s\n' "$r" | sed -n 's/.*(ref \([0-9A-Za-z-]*\).*/\1/p')

# --- (3) retired identity: 550 5.7.1 [not-active] -------------------------
send retired --xclient "ADDR=10.20.1.5 LOGIN=svc-old" --from "c3@old.example.com" --to r3@example.net
r=$(reply_to "$OUT" 'MAIL FROM')
if [[ $r == "550 5.7.1 [not-active]"* ]]; then
    pass "retired identity rejected"
else
    fail "retired identity rejected" "MAIL FROM reply: ${r:-none}"
    printf '%s\n' "$OUT" | show
fi

# --- (4) envelope domain not registered: 553 5.7.1 [envelope-domain] --------
send envelope "${NEWS[@]}" --from "c4@evil.example.org" --to r4@example.net
r=$(reply_to "$OUT" 'MAIL FROM')
if [[ $r == "553 5.7.1 [envelope-domain]"* ]]; then
    pass "wrong envelope domain rejected"
else
    fail "wrong envelope domain rejected" "MAIL FROM reply: ${r:-none}"
    printf '%s\n' "$OUT" | show
fi

# --- (5) from-domain set to quarantine: 250, then on hold ------------------
send quarantine "${NEWS[@]}" --from "c5@news.example.com" --to r5@example.net \
    --header "From: Promo <c5@marketing.example.org>" --header "Message-Id: <c5.$TAG@news.example.com>" \
    --header "Subject: case 5"
r=$(reply_to "$OUT" 'lines sent')
QID5=$(queue_id "$r")
held=
if [ -n "$QID5" ]; then
    for _ in $(seq 1 25); do # cleanup writes the hold queue file; bounded
        pf_held "$PF" | grep -qx "$QID5" && { held=1; break; }
        sleep 0.2
    done
fi
if [[ $r == 250* ]] && [ -n "$held" ]; then
    pass "quarantined message accepted and held"
else
    fail "quarantined message accepted and held" "end-of-data reply: ${r:-none}" \
        "queue: $(timeout 10 postqueue -c "$PF/etc" -p 2>&1 | tr '\n' ' ')"
    printf '%s\n' "$OUT" | show
fi

# --- (6) two addresses in From: 550 5.6.0 [rfc5322] at end of data ---------
send rfc5322 "${NEWS[@]}" --from "c6@news.example.com" --to r6@example.net \
    --header "From: c6@news.example.com, other@news.example.com" \
    --header "Message-Id: <c6.$TAG@news.example.com>"
r=$(reply_to "$OUT" 'lines sent')
if [[ $r == "550 5.6.0 [rfc5322]"* ]]; then
    pass "From with two addresses rejected"
else
    fail "From with two addresses rejected" "end-of-data reply: ${r:-none}"
    printf '%s\n' "$OUT" | show
fi

# --- (7) five recipients, max_recipients = 3 --------------------------------
before=$(pf_delivered "$PF")
send recipients "${NEWS[@]}" --from "c7@news.example.com" \
    --to "r7a@example.net,r7b@example.net,r7c@example.net,r7d@example.net,r7e@example.net" \
    --header "From: News <c7@news.example.com>" --header "Message-Id: <c7.$TAG@news.example.com>"
mapfile -t rr < <(replies_to "$OUT" 'RCPT TO')
r=$(reply_to "$OUT" 'lines sent')
ok=1
[ "${#rr[@]}" -eq 5 ] || ok=
for i in 0 1 2; do [[ ${rr[$i]:-} == 250* ]] || ok=; done
for i in 3 4; do [[ ${rr[$i]:-} == "452 4.5.3 [recipients]"* ]] || ok=; done
[[ $r == 250* ]] || ok=
if [ -n "$ok" ] && pf_flush_wait "$PF" $((before + 1)); then
    f=$(pf_sink_grep "$PF" "c7.$TAG@" | head -n1)
    got=$([ -n "$f" ] && grep -o '^X-Rcpt-Args: <[^>]*>' "$f" | sed 's/.*<\(.*\)>/\1/' | sort | tr '\n' ' ')
    if [ "$got" = "r7a@example.net r7b@example.net r7c@example.net " ]; then
        pass "recipients past max_recipients refused with 452, first three delivered"
    else
        fail "recipients past max_recipients refused with 452, first three delivered" \
            "delivered recipients: ${got:-none}"
    fi
else
    fail "recipients past max_recipients refused with 452, first three delivered" \
        "RCPT replies: $(printf '[%s] ' "${rr[@]}")" "end-of-data reply: ${r:-none}"
    printf '%s\n' "$OUT" | show
fi

# --- (8) one decision event per message, with the right action -------------
# Messages: c1 accept, c2..c4 reject at MAIL FROM, c5 quarantine, c6 reject,
# c7 accept.  Wait (bounded) until the 7 decision events are written.
for _ in $(seq 1 25); do
    n=$(grep -c '"bulkwarden.decision"' "$T/events.jsonl" 2>/dev/null || true)
    [ "${n:-0}" -ge 7 ] && break
    sleep 0.2
done
ev=$("$PY" - "$T/events.jsonl" "$REF2" <<'EOF'
import json, sys
path, ref2 = sys.argv[1], sys.argv[2]
want = {  # mail_from local part: (action, failing check, identity, code)
    "c1": ("accept", None, "newsletter", None),
    "c2": ("reject", "unregistered", None, "5.7.1"),
    "c3": ("reject", "not-active", "oldpromo", "5.7.1"),
    "c4": ("reject", "envelope-domain", "newsletter", "5.7.1"),
    "c5": ("quarantine", "from-domain", "newsletter", None),
    "c6": ("reject", "rfc5322", "newsletter", "5.6.0"),
    "c7": ("accept", None, "newsletter", None),
}
bad, seen = [], {}
try:
    lines = open(path, encoding="utf-8").read().splitlines()
except OSError as e:
    print("cannot read events: %s" % e); sys.exit(1)
for n, line in enumerate(lines, 1):
    if not line.strip():
        continue
    try:
        e = json.loads(line)
    except ValueError as x:
        bad.append("line %d is not JSON (%s): %.120s" % (n, x, line)); continue
    if not isinstance(e, dict):
        bad.append("line %d is not an object" % n); continue
    if e.get("event.dataset") != "bulkwarden.decision":
        continue
    mf = str(e.get("bulkwarden.envelope.mail_from", "")).strip("<>").lower()
    seen.setdefault(mf.split("@")[0], []).append(e)
for k, (action, check, ident, code) in sorted(want.items()):
    evs = seen.get(k, [])
    if len(evs) != 1:
        bad.append("%s: %d decision events (want 1)" % (k, len(evs))); continue
    e = evs[0]
    got = e.get("event.action")
    if got != action:
        bad.append("%s: event.action=%r want %r (reason %r)" % (k, got, action, e.get("event.reason")))
    if e.get("event.kind") != "event":
        bad.append("%s: event.kind=%r" % (k, e.get("event.kind")))
    for f in ("@timestamp", "event.id", "event.reason"):
        if not e.get(f):
            bad.append("%s: %s missing" % (k, f))
    checks = e.get("bulkwarden.checks")
    if not isinstance(checks, list):
        bad.append("%s: bulkwarden.checks is %r" % (k, type(checks).__name__))
        checks = []
    ids = {c.get("id"): c.get("result") for c in checks if isinstance(c, dict)}
    if check is not None and check not in ids:
        bad.append("%s: check %r not in bulkwarden.checks %r" % (k, check, ids))
    if check is not None and check in ids and ids[check] != "fail":
        bad.append("%s: check %r has result %r, want 'fail'" % (k, check, ids[check]))
    if check is None:
        # c7 is accepted with two recipients refused: "recipients" failed
        # for those recipients only
        ok_fail = {"recipients"} if k == "c7" else set()
        # c1 is the newsletter's first message: its network and login are
        # new sending paths, alerted (action alert: accepted, check failed)
        if k == "c1":
            ok_fail = {"new-sending-path"}
            if ids.get("new-sending-path") != "fail":
                bad.append("c1: the first message's new-sending-path check is %r, want 'fail'"
                           % ids.get("new-sending-path"))
        failed = [i for i, r in ids.items() if r == "fail" and i not in ok_fail]
        if failed:
            bad.append("%s: accepted but checks failed: %r" % (k, failed))
    if k == "c7":
        if ids.get("recipients") != "fail":
            bad.append("c7: no failed 'recipients' check in %r" % ids)
        if e.get("bulkwarden.envelope.rcpt_count") != 3:
            bad.append("c7: bulkwarden.envelope.rcpt_count=%r want 3"
                       % e.get("bulkwarden.envelope.rcpt_count"))
    if ident is not None and e.get("bulkwarden.identity.id") != ident:
        bad.append("%s: bulkwarden.identity.id=%r want %r" % (k, e.get("bulkwarden.identity.id"), ident))
    if ident is None and e.get("bulkwarden.identity.id"):
        bad.append("%s: unregistered event names identity %r" % (k, e.get("bulkwarden.identity.id")))
    if code is not None and e.get("event.code") != code:
        bad.append("%s: event.code=%r want %r" % (k, e.get("event.code"), code))
    ip = "10.20.1.5" if k == "c3" else "10.20.0.5"
    if e.get("source.ip") != ip:
        bad.append("%s: source.ip=%r want the XCLIENT address %s" % (k, e.get("source.ip"), ip))
    if k == "c1" and e.get("user.name") != "svc-news":
        bad.append("c1: user.name=%r want 'svc-news'" % e.get("user.name"))
    if k == "c2" and ref2 and not str(e.get("event.id", "")).startswith(ref2):
        bad.append("c2: reply ref %r is not a prefix of event.id %r" % (ref2, e.get("event.id")))
extra = sorted(k for k in seen if k not in want)
if extra:
    bad.append("decision events for unexpected messages: %r" % extra)
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
)
if [ $? -eq 0 ]; then
    pass "one decision event per message with the right action"
else
    fail "one decision event per message with the right action"
    printf '%s\n' "$ev" | show
    if [ -s "$T/events.jsonl" ]; then
        echo "    events.jsonl:"
        show <"$T/events.jsonl"
    fi
fi

# --- (1c) verify mode: a vendor message signed with the registered key is
# accepted; one signed with a key nobody registered gets 550 5.7.20 [dkim] --
vendor_msg() { # KEY TAG
    printf 'From: Events <invite@events.example.com>\r\nTo: guest@example.net\r\nSubject: You are invited\r\nDate: %s\r\nMessage-ID: <%s.%s@events.example.com>\r\n\r\nSee you there.\r\n' \
        "$(date -R)" "$2" "$TAG" >"$T/$2.raw"
    "$PY" "$HERE/../dkim/sign.py" "$T/$2.raw" --key "$1" --domain events.example.com --selector esp1 \
        >"$T/$2.eml"
}
vendor_msg "$HERE/../dkim/vendor-rsa.pem" v1 && vendor_msg "$HERE/../dkim/rogue-rsa.pem" v2
send vendor-ok --xclient "ADDR=10.60.0.10 LOGIN=svc-esp" --from invite@events.example.com \
    --to guest@example.net --data "$T/v1.eml"
r1=$(reply_to "$OUT" 'lines sent')
send vendor-rogue --xclient "ADDR=10.60.0.10 LOGIN=svc-esp" --from invite@events.example.com \
    --to guest@example.net --data "$T/v2.eml"
r2=$(reply_to "$OUT" 'lines sent')
if [[ $r1 == 250* ]] && [[ $r2 == "550 5.7.20 [dkim]"* ]]; then
    pass "verify mode: registered vendor signature accepted, unregistered key refused 550 5.7.20"
else
    fail "verify mode: registered vendor signature accepted, unregistered key refused 550 5.7.20" \
        "registered: ${r1:-none}" "unregistered: ${r2:-none}"
fi

# --- (8e) SPF and DMARC preflight through Postfix, against the test's DNS:
# the newsletter passes SPF from the egress address and aligns; the foreign
# From (c5) has a DMARC record and would not align --------------------------
c1ev=$(grep '<c1.'"$TAG"'@' "$T/events.jsonl" | head -n 1)
c5ev=$(grep '<c5.'"$TAG"'@' "$T/events.jsonl" | head -n 1)
if [[ $c1ev == *'"bulkwarden.spf.result":"pass","bulkwarden.spf.egress_ip":"192.0.2.25"'* ]] &&
    [[ $c1ev == *'"bulkwarden.dmarc.policy":"reject"'*'"bulkwarden.dmarc.aligned":true'* ]] &&
    [[ $c5ev == *'"bulkwarden.dmarc.aligned":false'* ]] && [[ $c5ev == *'{"id":"dmarc","result":"fail"'* ]]; then
    pass "SPF pass from the egress address and DMARC alignment predicted through Postfix"
else
    fail "SPF pass from the egress address and DMARC alignment predicted through Postfix" \
        "c1: ${c1ev:0:300}" "c5: ${c5ev:0:300}"
fi

# --- (8b) an oversized (20 KB, folded) From: 550 5.6.0 [rfc5322], no crash ---
long_from="From: \"$(printf 'a%.0s' $(seq 1 60))\""
for _ in $(seq 1 330); do long_from+=$'\r\n '"\"$(printf 'b%.0s' $(seq 1 60))\""; done
long_from+=" <c8b@news.example.com>"
send oversized "${NEWS[@]}" --from "c8b@news.example.com" --to r8@example.net \
    --header "$long_from" --header "Message-Id: <c8b.$TAG@news.example.com>"
r=$(reply_to "$OUT" 'lines sent')
if [[ $r == "550 5.6.0 [rfc5322]"* ]] && kill -0 "$MILTER_PID" 2>/dev/null &&
    grep '<c8b@news.example.com>' "$T/events.jsonl" | grep -q 'longer than'; then
    pass "oversized From refused with [rfc5322], milter still running"
else
    fail "oversized From refused with [rfc5322], milter still running" "end-of-data reply: ${r:-none}"
    printf '%s\n' "$OUT" | show
fi

# --- (8c) a suspended identity is refused over SMTP within a second -------
if "$BULKWARDENCTL" -c "$T/bw.conf" suspend newsletter --reason "credential leak INC-9" \
    --by soc@example.com >/dev/null 2>&1; then
    r=
    for _ in $(seq 1 10); do
        send suspended "${NEWS[@]}" --from "c8c@news.example.com" --to r8c@example.net \
            --header "From: News <c8c@news.example.com>" --header "Message-Id: <c8c.$TAG@news.example.com>" \
            --quit-after MAIL
        r=$(reply_to "$OUT" 'MAIL FROM')
        [[ $r == 550* ]] && break
        sleep 0.1
    done
    if [[ $r == '550 5.7.1 [suspended] sender identity "newsletter" is suspended'* ]]; then
        pass "suspended identity refused with 550 5.7.1 [suspended] at MAIL FROM"
    else
        fail "suspended identity refused with 550 5.7.1 [suspended] at MAIL FROM" "MAIL FROM reply: ${r:-none}"
    fi
    "$BULKWARDENCTL" -c "$T/bw.conf" reinstate newsletter --reason "keys rotated" --by ciso@example.com \
        --ticket INC-9 >/dev/null 2>&1 || fail "bulkwardenctl reinstate"
else
    fail "suspended identity refused with 550 5.7.1 [suspended] at MAIL FROM" \
        "bulkwardenctl suspend failed: $("$BULKWARDENCTL" -c "$T/bw.conf" suspend newsletter --reason x --by y 2>&1)"
fi

# --- (8d) local submission (non_smtpd_milters): recipients are never refused
# one by one (Postfix cannot); over the limit the whole message is refused
postconf -c "$PF/etc" -e "non_smtpd_milters = unix:$T/bw.sock" &&
    postfix -c "$PF/etc" reload >/dev/null 2>&1
sleep 1
local_msg() { # ID RCPT...
    local id=$1
    shift
    printf 'From: app@app.example.com\nTo: undisclosed-recipients:;\nSubject: %s\nDate: %s\nMessage-ID: <%s.%s@app.example.com>\n\nbody\n' \
        "$id" "$(date -R)" "$id" "$TAG" | sendmail -C "$PF/etc" -f app@app.example.com "$@"
}
local_msg c8d1 l1@example.net l2@example.net
local_msg c8d2 l1@example.net l2@example.net l3@example.net l4@example.net l5@example.net
ok=
for _ in $(seq 1 50); do
    grep -q "c8d2.$TAG" "$T/events.jsonl" 2>/dev/null && grep -q "c8d1.$TAG" "$T/events.jsonl" && ok=1 && break
    sleep 0.2
done
for _ in $(seq 1 50); do # sendmail(1) mail goes through pickup: wait for the sink
    [ -n "$(pf_sink_grep "$PF" "c8d1.$TAG@")" ] && break
    sleep 0.2
done
# c8d2 may reach the sink only as the bounce to its sender, never to l1..l5
c8d2_out=$(pf_sink_grep "$PF" "c8d2.$TAG@" | xargs -r grep -l '^X-Rcpt-Args: <l[0-9]@example.net>')
if [ -n "$ok" ] && [ -n "$(pf_sink_grep "$PF" "c8d1.$TAG@")" ] && [ -z "$c8d2_out" ] &&
    grep "c8d2.$TAG" "$T/events.jsonl" | grep -q '"event.code":"5.5.3"' &&
    ! grep -q "can't reject recipient" "$PF/maillog"; then
    pass "local submission: refused whole over the recipient limit, never per recipient"
else
    fail "local submission: refused whole over the recipient limit, never per recipient" \
        "events: $(grep -c "c8d.\.$TAG" "$T/events.jsonl" 2>/dev/null)" "$(grep -E "c8d|milter" "$PF/maillog" | tail -n 4)"
fi

# --- (9) the milter shuts down cleanly on SIGTERM --------------------------
pf_stop "$PF"
stop_milter
if [ "${MILTER_RC:-1}" -eq 0 ]; then
    pass "milter exits 0 on SIGTERM"
else
    fail "milter exits 0 on SIGTERM" "exit status ${MILTER_RC:-unknown}"
fi

if [ "$FAILED" -gt 0 ]; then
    echo "--- milter log (last 30 lines)"
    tail -n 30 "$T/milter.log" | show
    pf_log_tail "$PF" 30 2>&1
fi
echo "e2e: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
