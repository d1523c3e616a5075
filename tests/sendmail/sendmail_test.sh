#!/bin/bash
#
# tests/sendmail/sendmail_test.sh - end-to-end test: the real bulkwarden
# binary behind a real Sendmail 8.17 on loopback (Debian's packages unpacked
# with dpkg -x: they conflict with Postfix), the milter lines exactly as
# contrib/sendmail/bulkwarden.mc ships them, SASL from a private sasldb,
# next hop an smtp-sink, DNS from a loopback server. Prints "ok N - ..." /
# "not ok N - ..." per case; exit 0 all passed, 1 a failure, 77 (automake
# SKIP) when the prerequisites are missing.
#
#   BULKWARDEN=./bulkwarden tests/sendmail/sendmail_test.sh
#   KEEP=1 ...    keep the temp dir (its path is printed)
#   VERBOSE=1 ... print every SMTP transcript
#
# Nothing here uses a system MTA or the network beyond 127.0.0.1.

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/../e2e/lib.sh"
# shellcheck source=tests/sendmail/lib.sh
. "$HERE/lib.sh"

BULKWARDEN=${BULKWARDEN:-./bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
PY=/usr/bin/python3
MILTER_WAIT=${MILTER_WAIT:-10}

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (private Sendmail instance)"
for p in m4 smtp-sink swaks openssl timeout unshare nsenter saslpasswd2 dpkg; do
    command -v "$p" >/dev/null 2>&1 || skip "$p not installed"
done
id postfix >/dev/null 2>&1 || skip "no postfix user (smtp-sink runs as postfix)"
"$PY" -c 'import dns.message, dkim' 2>/dev/null || skip "$PY lacks dnspython or dkim"

case $BULKWARDEN in /*) ;; *) BULKWARDEN=$(pwd)/$BULKWARDEN ;; esac
case $BULKWARDENCTL in /*) ;; *) BULKWARDENCTL=$(pwd)/$BULKWARDENCTL ;; esac

# Sendmail refuses a milter socket (and queue) under a world-writable
# directory such as /tmp: the test lives under /run.
T=$(mktemp -d /run/bw-sendmail.XXXXXX)
chmod 755 "$T"
SM=$T/sm
MILTER_PID=

N=0
FAILED=0
pass() { N=$((N + 1)); echo "ok $N - $1"; }
fail() {
    local name=$1
    shift
    N=$((N + 1)); FAILED=$((FAILED + 1))
    echo "not ok $N - $name"
    [ $# -gt 0 ] && printf '    %s\n' "$@"
}
show() { sed 's/^/    | /'; }

stop_milter() {
    [ -n "$MILTER_PID" ] || return 0
    if kill -0 "$MILTER_PID" 2>/dev/null; then
        kill -TERM "$MILTER_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$MILTER_PID" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$MILTER_PID" 2>/dev/null
    fi
    wait "$MILTER_PID" 2>/dev/null
    MILTER_RC=$?
    MILTER_PID=
}
cleanup() {
    sm_stop "$SM"
    stop_milter
    pf_dns_stop "$T"
    if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

reply_to() {
    printf '%s\n' "$1" | awk -v re="$2" '
        found && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; exit }
        !found && /^ *(->|\*\*) / && $0 ~ re { found = 1 }'
}
replies_to() {
    printf '%s\n' "$1" | awk -v re="$2" '
        want && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; want = 0 }
        /^ *(->|\*\*) / { want = ($0 ~ re) }'
}
queue_id() { # "250 2.0.0 0B5AbcDE012345 Message accepted for delivery"
    printf '%s\n' "$1" | sed -n 's/^250 2\.0\.0 \([0-9A-Za-z]*\) Message accepted.*$/\1/p' | head -n1
}

# ---------------------------------------------------------------- fixtures --
sm_unpack "$SM" || { fail "sendmail packages unpacked"; exit 1; }

mkdir -p "$T/keys"
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/keys/nl.rsa" 2>/dev/null &&
    openssl genpkey -algorithm ED25519 -out "$T/keys/nl.ed25519" 2>/dev/null) || { fail "openssl genpkey"; exit 1; }
DKIM_P=$(openssl pkey -in "$T/keys/nl.rsa" -pubout -outform DER 2>/dev/null | base64 -w0)
DKIM_E=$(openssl pkey -in "$T/keys/nl.ed25519" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)
TXT_ARGS=(--txt "nl2026._domainkey.news.example.com=v=DKIM1; k=rsa; p=$DKIM_P"
          --txt "nl2026e._domainkey.news.example.com=v=DKIM1; k=ed25519; p=$DKIM_E")

cat >"$T/zone" <<EOF
news.example.com TXT v=spf1 ip4:192.0.2.25 -all
_dmarc.news.example.com TXT v=DMARC1; p=reject
app.example.com TXT v=spf1 ip4:192.0.2.25 -all
_dmarc.app.example.com TXT v=DMARC1; p=quarantine
marketing.example.org TXT v=spf1 -all
_dmarc.marketing.example.org TXT v=DMARC1; p=reject
EOF
pf_dns_start "$T" "$T/zone" || { fail "DNS server"; exit 1; }

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
    credentials = { logins = ["svc-news"]; networks = ["127.0.0.0/8"]; };
    envelope_domains = ["news.example.com"];
    dkim = ( { domain = "news.example.com"; selector = "nl2026"; key = "$T/keys/nl.rsa"; },
             { domain = "news.example.com"; selector = "nl2026e"; key = "$T/keys/nl.ed25519"; } );
    feedback_id = true;
  },
  { id = "local-app"; description = "An application on the relay itself (sendmail -t)";
    class = "transactional";
    owners = { dns = "dns@example.com"; platform = "apps@example.com";
               compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-2"; };
    credentials = { networks = ["127.0.0.1/32"]; };
    envelope_domains = ["app.example.com"];
  }
);
EOF

# SASL: a private sasldb, and a Sendmail.conf that Sendmail reads from
# /usr/lib/sasl2, bind-mounted inside its own namespace only
mkdir -p "$T/sasl2"
for u in svc-news svc-nobody; do
    echo "secret-$u" | saslpasswd2 -p -c -f "$T/sasldb2" -u "$SM_HOSTNAME" "$u" ||
        { fail "saslpasswd2"; exit 1; }
done
chmod 600 "$T/sasldb2"
printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
    "$T/sasldb2" >"$T/sasl2/Sendmail.conf"
export SM_SASL_DIR=$T/sasl2

# ------------------------------------------------------------------ start --
"$BULKWARDEN" -f -c "$T/bw.conf" >"$T/milter.log" 2>&1 &
MILTER_PID=$!
started=
for _ in $(seq 1 $((MILTER_WAIT * 5))); do
    kill -0 "$MILTER_PID" 2>/dev/null || break
    [ -S "$T/bw.sock" ] && { started=1; break; }
    sleep 0.2
done
if [ -z "$started" ]; then
    fail "milter starts" "no socket within ${MILTER_WAIT}s"; tail -n 20 "$T/milter.log" | show; exit 1
fi
pass "milter starts"

if ! sm_start "$SM" "unix:$T/bw.sock"; then
    fail "sendmail starts (contrib/sendmail/bulkwarden.mc)"
    exit 1
fi
pass "sendmail $(strings "$SM_BIN" | awk '/^8\.[0-9.]+$/ && !v { v = $0 } END { print v }') starts with contrib/sendmail/bulkwarden.mc"

TAG=$$.$RANDOM
send() {
    local name=$1
    shift
    OUT=$(sm_send "$@")
    SWAKS_RC=$?
    if [ -n "${VERBOSE:-}" ]; then
        echo "--- $name (swaks exit $SWAKS_RC)"
        printf '%s\n' "$OUT" | show
    fi
}
NEWS=(--auth PLAIN --auth-user svc-news --auth-password secret-svc-news)

# sink_wait STRING - the stored message containing STRING (bounded)
sink_wait() {
    local f
    for _ in $(seq 1 100); do
        f=$(sm_sink_grep "$SM" "$1" | head -n1)
        [ -n "$f" ] && { echo "$f"; return 0; }
        sleep 0.2
    done
    return 1
}
# verify_file FILE - the stored message (without smtp-sink's X- lines) has
# exactly two signatures and both verify
verify_file() {
    sed -n '/^Received:/,$p' "$1" >"$1.eml"
    [ "$(grep -c '^DKIM-Signature:' "$1.eml")" -eq 2 ] &&
        "$PY" "$HERE/../dkim/verify.py" "$1.eml" "${TXT_ARGS[@]}" >"$1.verify" 2>&1
}

# --- (1) a registered sender (SASL login) is accepted, delivered, and both
# signatures verify at the receiver, whatever shape the address headers had:
# Sendmail rewrites them after the milter has signed ---------------------
# NAME|FIELD|signed (S) or left out of h= (U) behind Sendmail: a field
# already in the form Sendmail writes stays signed
declare -a SHAPES=(
    "plain|To: r1@example.net|S"
    "to-list-no-space|To: a@example.net,b@example.net|U"
    "cc-unqualified|Cc: someone|U"
    "reply-to-list|Reply-To: a@news.example.com,b@news.example.com|U"
    "to-display-no-space|To: Alice<alice@example.net>|S"
    "from-display-no-space|From: News<c1-from@news.example.com>|S"
    "to-quoted-comma|To: \"Doe, Jane\" <jane@example.net>,bob@example.net|U"
    "to-quoted-comma-spaced|To: \"Doe, Jane\" <jane@example.net>, bob@example.net|S"
    "to-comment|To: carol@example.net (Carol)|S"
    "to-group|To: undisclosed-recipients:;|U"
    "cc-mixed|Cc: x@example.net, y , \"Z\" <z@example.net>|U"
    "reply-to-unqualified|Reply-To: newsbot|U"
    "to-long|To: $(for i in $(seq 1 12); do printf 'recipient-number-%02d@example.net,' "$i"; done)last@example.net|U"
    "to-long-spaced|To: $(for i in $(seq 1 12); do printf 'recipient-number-%02d@example.net, ' "$i"; done)last@example.net|S"
    "to-folded|To: a@example.net,"$'\r\n'" b@example.net|S"
    "to-dotted-phrase|To: J. Doe <jdoe@example.net>|U"
    "cc-encoded-word|Cc: =?utf-8?q?J=C3=B6rg?= <j@example.net>|S"
)
# signed_fields FILE - the h= list of the first signature, lower case
signed_fields() {
    awk '/^DKIM-Signature:/ { p = 1; print; next } p && /^[ \t]/ { print; next } p { exit }' "$1" |
        tr -d ' \t\r\n' | sed -n 's/.*;h=\([^;]*\).*/\1/p' | tr 'A-Z' 'a-z'
}
for s in "${SHAPES[@]}"; do
    name=${s%%|*}
    rest=${s#*|}
    hdr=${rest%|*}
    want=${rest##*|}
    field=$(printf '%s' "${hdr%%:*}" | tr 'A-Z' 'a-z')
    from_hdr="From: News <c1@news.example.com>"
    extra=(--header "$hdr")
    case $hdr in From:*) from_hdr=$hdr; extra=() ;; esac
    send "shape $name" "${NEWS[@]}" --from "c1@news.example.com" --to r1@example.net \
        --header "$from_hdr" "${extra[@]}" --header "Message-Id: <c1-$name.$TAG@news.example.com>" \
        --header "Subject: shape $name"
    r=$(reply_to "$OUT" 'lines sent')
    f=
    got=
    if [[ $r == 250* ]] && f=$(sink_wait "c1-$name.$TAG@") && verify_file "$f"; then
        case ":$(signed_fields "$f.eml"):" in *":$field:"*) got=S ;; *) got=U ;; esac
    fi
    if [ -n "$got" ] && [ "$got" = "$want" ]; then
        pass "Sendmail shape $name: delivered, both signatures verify, $field $([ "$got" = S ] && echo signed || echo "left out of h=")"
        [ "$name" = plain ] && C1_FILE=$f
    else
        fail "Sendmail shape $name: delivered, both signatures verify, $field $([ "$want" = S ] && echo signed || echo "left out of h=")" \
            "end-of-data reply: ${r:-none}" "h=: $([ -n "$f" ] && signed_fields "$f.eml")" \
            "$(cat "${f:-/nonexistent}.verify" 2>/dev/null)"
        [ -n "$f" ] && grep -iE "^($field|DKIM-Signature):" "$f" | show
    fi
done
if [ -n "${C1_FILE:-}" ] && grep -q '^Feedback-ID: .*newsletter' "$C1_FILE"; then
    pass "Feedback-ID added behind Sendmail"
else
    fail "Feedback-ID added behind Sendmail"
fi

# --- (2) unregistered: 550 5.7.1 at MAIL FROM; Sendmail puts "<address>... "
# before the milter's text, so the reply does not start with [unregistered]
send unregistered --auth PLAIN --auth-user svc-nobody --auth-password secret-svc-nobody \
    --from "c2@news.example.com" --to r2@example.net
r=$(reply_to "$OUT" 'MAIL FROM')
if [[ $r == "550 5.7.1 <c2@news.example.com>... [unregistered]"* ]] && [[ $r != *newsletter* ]]; then
    pass "unregistered login refused at MAIL FROM: $r"
else
    fail "unregistered login refused at MAIL FROM" "MAIL FROM reply: ${r:-none}"
    printf '%s\n' "$OUT" | show
fi

# --- (3) quarantine: accepted, then held in Sendmail's quarantine ---------
send quarantine "${NEWS[@]}" --from "c3@news.example.com" --to r3@example.net \
    --header "From: Promo <c3@marketing.example.org>" --header "Message-Id: <c3.$TAG@news.example.com>"
r=$(reply_to "$OUT" 'lines sent')
QID3=$(queue_id "$r")
held=
for _ in $(seq 1 25); do
    q=$(sm_mailq "$SM" -qQ)
    [ -n "$QID3" ] && printf '%s\n' "$q" | grep -q "^$QID3" &&
        printf '%s\n' "$q" | grep -q 'QUARANTINE: bulkwarden \[from-domain\]' && { held=1; break; }
    sleep 0.2
done
if [[ $r == 250* ]] && [ -n "$held" ] && [ -z "$(sm_sink_grep "$SM" "c3.$TAG@")" ]; then
    pass "quarantined message accepted and held (mailq -qQ)"
else
    fail "quarantined message accepted and held (mailq -qQ)" "end-of-data reply: ${r:-none}" "$q"
fi

# --- (4) five recipients, max_recipients = 3 -----------------------------
send recipients "${NEWS[@]}" --from "c4@news.example.com" \
    --to "r4a@example.net,r4b@example.net,r4c@example.net,r4d@example.net,r4e@example.net" \
    --header "From: News <c4@news.example.com>" --header "Message-Id: <c4.$TAG@news.example.com>"
mapfile -t rr < <(replies_to "$OUT" 'RCPT TO')
r=$(reply_to "$OUT" 'lines sent')
ok=1
[ "${#rr[@]}" -eq 5 ] || ok=
for i in 0 1 2; do [[ ${rr[$i]:-} == 250* ]] || ok=; done
for i in 3 4; do [[ ${rr[$i]:-} == "452 4.5.3 "*"[recipients]"* ]] || ok=; done
[[ $r == 250* ]] || ok=
got=
if [ -n "$ok" ] && f=$(sink_wait "c4.$TAG@"); then
    got=$(grep -o '^X-Rcpt-Args: <[^>]*>' "$f" | sed 's/.*<\(.*\)>/\1/' | sort | tr '\n' ' ')
fi
if [ "$got" = "r4a@example.net r4b@example.net r4c@example.net " ]; then
    pass "recipients past max_recipients refused with 452 4.5.3, first three delivered"
else
    fail "recipients past max_recipients refused with 452 4.5.3, first three delivered" \
        "RCPT replies: $(printf '[%s] ' "${rr[@]}")" "end-of-data: ${r:-none}" "delivered to: ${got:-none}"
fi

# --- (5) local submission: sendmail -t through the MSP reaches the milter
# (over SMTP from 127.0.0.1: the local-app identity) and is delivered ------
printf 'From: app@app.example.com\nTo: l1@example.net\nSubject: local\nDate: %s\nMessage-ID: <c5.%s@app.example.com>\n\nbody\n' \
    "$(date -R)" "$TAG" | sm_submit "$SM" -t -f app@app.example.com
rc=$?
if [ "$rc" -eq 0 ] && sink_wait "c5.$TAG@" >/dev/null &&
    grep "c5.$TAG@" "$T/events.jsonl" | grep -q '"bulkwarden.identity.id":"local-app"'; then
    pass "local submission (sendmail -t, MSP) goes through the milter and is delivered"
else
    fail "local submission (sendmail -t, MSP) goes through the milter and is delivered" "sendmail -t exit $rc" \
        "$(grep "c5.$TAG" "$T/events.jsonl" | head -c 300)"
fi
# the same from an unregistered domain is refused at the MTA: the MSP keeps it
printf 'From: x@nowhere.example.org\nTo: l1@example.net\nSubject: local\nDate: %s\nMessage-ID: <c5b.%s@nowhere.example.org>\n\nbody\n' \
    "$(date -R)" "$TAG" | sm_submit "$SM" -t -f x@nowhere.example.org >"$T/c5b.out" 2>&1
sleep 0.5
if grep -q '"bulkwarden.envelope.mail_from":"<x@nowhere.example.org>"' "$T/events.jsonl" &&
    [ -z "$(sm_sink_grep "$SM" "c5b.$TAG@")" ]; then
    pass "local submission from an unregistered sender is refused"
else
    fail "local submission from an unregistered sender is refused" "$(cat "$T/c5b.out")"
fi

# the documented hole: "sendmail -Am" (MTA mode) puts the message straight
# into the MTA's queue and no milter ever sees it (bulkwarden(8))
printf 'From: app@app.example.com\nTo: l1@example.net\nSubject: am\nDate: %s\nMessage-ID: <c5am.%s@app.example.com>\n\nbody\n' \
    "$(date -R)" "$TAG" | timeout 30 nsenter -t "$SM_PID" -u -m -- "$SM_BIN" -C "$SM/mta.cf" -Am -t \
    -f app@app.example.com >"$T/c5am.out" 2>&1
if f=$(sink_wait "c5am.$TAG@") && ! grep -q "c5am.$TAG" "$T/events.jsonl" &&
    ! grep -q '^DKIM-Signature:' "$f"; then
    pass "sendmail -Am bypasses every milter, as documented: no decision event"
else
    fail "sendmail -Am bypasses every milter, as documented: no decision event" "$(cat "$T/c5am.out")"
fi

# --- (6) a suspension is honoured within a second, without a reload -------
if "$BULKWARDENCTL" -c "$T/bw.conf" suspend newsletter --reason "credential leak INC-9" \
    --by soc@example.com >/dev/null 2>&1; then
    t0=$(date +%s%N)
    r=
    while :; do
        send suspended "${NEWS[@]}" --from "c6@news.example.com" --to r6@example.net --quit-after MAIL
        r=$(reply_to "$OUT" 'MAIL FROM')
        [[ $r == 550* ]] && break
        [ $(($(date +%s%N) - t0)) -gt 3000000000 ] && break
        sleep 0.05
    done
    ms=$((($(date +%s%N) - t0) / 1000000))
    # within 1 s, plus one SMTP session to see it
    if [[ $r == *'[suspended] sender identity "newsletter" is suspended'* ]] && [ "$ms" -le 1500 ]; then
        pass "suspension honoured through Sendmail in ${ms} ms: $r"
    else
        fail "suspension honoured through Sendmail within 1 s" "after ${ms} ms: ${r:-none}"
    fi
    "$BULKWARDENCTL" -c "$T/bw.conf" reinstate newsletter --reason "keys rotated" --by lead@example.com \
        --ticket INC-9 >/dev/null 2>&1 || fail "bulkwardenctl reinstate"
else
    fail "suspension honoured through Sendmail within 1 s" "bulkwardenctl suspend failed"
fi

# --- (7) one decision event per message --------------------------------------
sleep 0.5
ev=$("$PY" - "$T/events.jsonl" "$TAG" "${#SHAPES[@]}" <<'EOF'
import json, sys, collections
path, tag, nshapes = sys.argv[1], sys.argv[2], int(sys.argv[3])
by = collections.defaultdict(list)
bad = []
for line in open(path, encoding="utf-8"):
    e = json.loads(line)
    if e.get("event.dataset") != "bulkwarden.decision":
        continue
    mid = str(e.get("email.message_id") or "")
    key = mid.split(".")[0].strip("<") if tag in mid else str(e.get("bulkwarden.envelope.mail_from"))
    by[key].append(e)
want = {"c3": "quarantine", "c4": "accept", "c5": "accept"}
for k, a in want.items():
    evs = by.get(k, [])
    if len(evs) != 1 or evs[0].get("event.action") != a:
        bad.append("%s: %r" % (k, [x.get("event.action") for x in evs]))
shapes = [k for k in by if k.startswith("c1-")]
if len(shapes) != nshapes or any(len(by[k]) != 1 or by[k][0].get("event.action") != "accept" for k in shapes):
    bad.append("shapes: %d keys, %r" % (len(shapes), {k: len(by[k]) for k in shapes}))
c2 = by.get("<c2@news.example.com>", [])
if len(c2) != 1 or c2[0].get("event.action") != "reject":
    bad.append("c2: %r" % [x.get("event.action") for x in c2])
c1 = by.get("c1-plain", [{}])[0]
if c1.get("user.name") != "svc-news" or c1.get("source.ip") != "127.0.0.1" or not c1.get("email.local_id"):
    bad.append("c1: user.name=%r source.ip=%r local_id=%r" % (c1.get("user.name"), c1.get("source.ip"), c1.get("email.local_id")))
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
)
if [ $? -eq 0 ]; then
    pass "one decision event per message, with login, client address and Sendmail queue id"
else
    fail "one decision event per message, with login, client address and Sendmail queue id" "$ev"
fi

sm_stop "$SM"
stop_milter
if [ "${MILTER_RC:-1}" -eq 0 ]; then pass "milter exits 0 on SIGTERM"; else fail "milter exits 0 on SIGTERM" "status ${MILTER_RC:-?}"; fi
if [ "$FAILED" -gt 0 ]; then
    echo "--- milter log (last 20 lines)"; tail -n 20 "$T/milter.log" | show
    echo "--- sendmail output"; tail -n 20 "$SM/sendmail.out" | show
fi
echo "1..$N"
echo "sendmail: $((N - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
