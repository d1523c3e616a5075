#!/bin/bash
#
# tests/e2e/feedback_loop.sh - the feedback loop of issue 14 end to end
# through a real Postfix: the real bulkwarden behind a private Postfix on
# loopback, clients given by XCLIENT (address and SASL login), next hop an
# smtp-sink that keeps every message, DNS from a loopback server.
#   1. 2,000 signed newsletter messages go through and reach the sink; the
#      store counts 2,000 accepted.
#   2. 8 ARF complaints (0.4 %) built from delivered messages (their
#      Feedback-ID, DKIM-Signature, Message-ID as the sink stored them) are
#      ingested: newsletter is auto-suspended (one record, by bulkwarden, with
#      the figures) and the next message gets 550 5.7.1 [suspended].
#   3. reinstate without --ticket fails and changes nothing.
#   4. reinstated by a person, a waiver of complaint_rate lets mail through
#      despite a further complaint; once it lapses (waiver-expired) the next
#      complaint suspends again and mail is refused again. These two
#      complaints are mailed to the feedback address and reach ingest
#      through Postfix's pipe(8) (transport_maps), as the milter's user;
#      a message that is no report bounces there (65).
#   5. the audit chain verifies; one decision event per message sent.
# The milter runs as milter.user = nobody (as installed: its own user).
# Prints PASS:/FAIL: per case and "e2e-feedback: N passed, N failed"; exit 77
# (SKIP) without root, postfix, swaks, openssl, dnspython.

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

BULKWARDEN=${BULKWARDEN:-./bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
PY=/usr/bin/python3
N=${FEEDBACK_MESSAGES:-2000}

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (private Postfix instance)"
for p in postfix postqueue smtp-sink swaks openssl timeout; do
    command -v "$p" >/dev/null 2>&1 || skip "$p not installed"
done
id postfix >/dev/null 2>&1 || skip "no postfix user"
"$PY" -c 'import dns.message' 2>/dev/null || skip "$PY lacks dnspython"
case $BULKWARDEN in /*) ;; *) BULKWARDEN=$(pwd)/$BULKWARDEN ;; esac
case $BULKWARDENCTL in /*) ;; *) BULKWARDENCTL=$(pwd)/$BULKWARDENCTL ;; esac

T=$(mktemp -d "${TMPDIR:-/tmp}/bw-e2e-fb.XXXXXX")
chmod 755 "$T"
PF=$T/pf
MILTER_PID=
cleanup() {
    pf_stop "$PF"
    if [ -n "$MILTER_PID" ]; then
        kill -TERM "$MILTER_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$MILTER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$MILTER_PID" 2>/dev/null
        wait "$MILTER_PID" 2>/dev/null
    fi
    pf_dns_stop "$T"
    if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSED=0 FAILED=0
pass() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
fail() { local n=$1; shift; echo "FAIL: $n"; [ $# -gt 0 ] && printf '    %s\n' "$@"; FAILED=$((FAILED + 1)); }
finish() { echo "e2e-feedback: $PASSED passed, $FAILED failed"; [ "$FAILED" -eq 0 ]; exit; }
reply_to() {
    printf '%s\n' "$1" | awk -v re="$2" '
        found && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; exit }
        !found && /^ *(->|\*\*) / && $0 ~ re { found = 1 }'
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# ---------------------------------------------------------------- fixtures --
# the milter drops to nobody (milter.user), as installed it drops to its own
# user; the state store and event log are in nobody's directory, so that
# bulkwardenctl ingest run by Postfix's pipe(8) as nobody can write them
mkdir -p "$T/keys" "$T/arf" "$T/var"
chown nobody: "$T/var" && chmod 700 "$T/var"
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$T/keys/nl.rsa" 2>/dev/null) || { echo "FAIL: openssl genpkey"; exit 1; }
DKIM_P=$(openssl pkey -in "$T/keys/nl.rsa" -pubout -outform DER 2>/dev/null | base64 -w0)
# installed, the key is the milter user's: bulkwardenctl ingest run as that
# user reads the configuration with it. The event log is made by the milter
# as root before it drops privileges: it must be given to that user, or
# the piped ingest could not append its events (exit 75, retried for ever)
chown nobody: "$T/keys/nl.rsa"
cat >"$T/zone" <<EOF
news.example.com TXT v=spf1 ip4:192.0.2.25 -all
_dmarc.news.example.com TXT v=DMARC1; p=reject; adkim=r; aspf=r
nl2026._domainkey.news.example.com TXT v=DKIM1; k=rsa; p=$DKIM_P
EOF
pf_dns_start "$T" "$T/zone" || { echo "FAIL: DNS server"; exit 1; }

cat >"$T/bw.conf" <<EOF
milter = { user = "nobody"; socket = "unix:$T/bw.sock"; socket_mode = "0660"; };
relay = { egress_ips = ["192.0.2.25"]; };
state = { backend = "sqlite"; path = "$T/var/state.db"; };
log = { target = "file"; path = "$T/var/events.jsonl"; };
dns = { nameservers = ["127.0.0.1:$PF_DNS_PORT"]; timeout = 3; };
policy = { mode = "enforce"; };
identities = (
  { id = "newsletter"; description = "Weekly newsletter"; class = "transactional";
    owners = { dns = "dns@example.com"; platform = "martech@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };
    credentials = { logins = ["svc-news"]; networks = ["10.20.0.0/16"]; };
    envelope_domains = ["news.example.com"];
    dkim = ( { domain = "news.example.com"; selector = "nl2026"; key = "$T/keys/nl.rsa"; } );
    feedback_id = true; }
);
EOF
ctl() { "$BULKWARDENCTL" -c "$T/bw.conf" "$@"; }
# signal FIELD: one field of newsletter's complaint_rate in `signals --json`
signal() {
    ctl signals newsletter --json 2>/dev/null | "$PY" -c '
import json, sys
for i in json.load(sys.stdin)["identities"]:
    for s in i["signals"]:
        if s["signal"] == "complaint_rate":
            print(s[sys.argv[1]])' "$1"
}
# accepted: newsletter's accepted messages in the store (this hour's counters)
accepted() {
    ctl stats newsletter --json 2>/dev/null | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(i["hour"]["accepted"] for i in d["identities"] if i["id"] == "newsletter"))'
}
# audit_n ACTION: records of that action in the audit log
audit_n() { ctl audit --json 2>/dev/null | "$PY" -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin) if r["action"] == sys.argv[1]))' "$1"; }
decisions() { grep -c '"event.dataset":"bulkwarden.decision"' "$T/var/events.jsonl"; }

"$BULKWARDEN" -f -c "$T/bw.conf" >"$T/milter.log" 2>&1 &
MILTER_PID=$!
for _ in $(seq 1 50); do [ -S "$T/bw.sock" ] && chgrp postfix "$T/bw.sock" && break; sleep 0.2; done
[ -S "$T/bw.sock" ] || { fail "milter starts" "$(tail -n 20 "$T/milter.log")"; finish; }
if [ "$(stat -c %U "$T/var/events.jsonl" 2>/dev/null)" = nobody ]; then
    pass "the event log the milter created as root belongs to its user (nobody)"
else
    fail "event log owner" "$(ls -l "$T/var/events.jsonl" 2>&1)"
fi
pf_start "$PF" "unix:$T/bw.sock" || { fail "postfix starts"; finish; }
# the feedback address: Postfix hands each report to bulkwardenctl ingest
# through pipe(8), run as the milter's user (exit 75 defers, 65 bounces)
printf '%s\n' "bwingest   unix  -       n       n       -       1       pipe" \
    "  user=nobody argv=$BULKWARDENCTL -c $T/bw.conf ingest" >>"$PF/etc/master.cf"
postconf -c "$PF/etc" -e "transport_maps = inline:{ fbl@feedback.bulkwarden.test=bwingest: }" \
    "bwingest_destination_recipient_limit = 1" && postfix -c "$PF/etc" reload >/dev/null 2>&1 ||
    { fail "postfix: the bwingest pipe transport"; finish; }

TAG=$$.$RANDOM
# messages offered to Postfix, one line each in $T/sent (one() runs in
# subshells): each one must yield one decision event
: >"$T/sent"
RCPT=reader@mailbox.example.net
# one [ID]: one message through Postfix in its own swaks session; prints the
# reply to MAIL FROM when refused there, else the end-of-data reply
one() {
    local out r
    echo "$1" >>"$T/sent"
    out=$(pf_send --xclient "ADDR=10.20.0.5 LOGIN=svc-news" --from "n@news.example.com" --to "${TO:-$RCPT}" \
        --header "From: News <n@news.example.com>" --header "Message-Id: <$1.$TAG@news.example.com>" \
        --header "Subject: Weekly news")
    r=$(reply_to "$out" 'MAIL FROM')
    [[ $r == 250* ]] && r=$(reply_to "$out" 'RCPT TO')
    [[ $r == 250* ]] && r=$(reply_to "$out" 'lines sent')
    printf '%s\n' "$r"
}
# refused_within SECS ID: send until a message gets 550 5.7.1 [suspended]
# (the milters see a suspension within 1 s); prints the last reply
refused_within() {
    local t0 r i=0
    t0=$(now)
    while :; do
        i=$((i + 1))
        r=$(one "$2-$i")
        [[ $r == "550 5.7.1 [suspended]"* ]] && break
        awk -v s="$(since "$t0")" -v m="$1" 'BEGIN { exit !(s < m) }' || break
        sleep 0.2
    done
    printf '%s\n' "$r"
}
# delivered_within SECS ID: send until a message is accepted and reaches the sink
delivered_within() {
    local t0 r i=0 before
    t0=$(now)
    while :; do
        i=$((i + 1))
        before=$(pf_delivered "$PF")
        r=$(one "$2-$i")
        if [[ $r == 250* ]]; then
            PF_WAIT=10 pf_flush_wait "$PF" $((before + 1)) && pf_sink_grep "$PF" "$2-$i.$TAG@" >/dev/null &&
                { printf '%s\n' "$r"; return 0; }
            printf 'accepted but not at the sink: %s\n' "$r"
            return 1
        fi
        awk -v s="$(since "$t0")" -v m="$1" 'BEGIN { exit !(s < m) }' || break
        sleep 0.2
    done
    printf '%s\n' "$r"
    return 1
}
# arf K FILE: an RFC 5965 complaint about the delivered message in FILE (as
# the sink stored it: its header block minus the sink's own X- lines)
arf() {
    local k=$1 f=$2 hdr mid
    hdr=$(awk '/^\r?$/ { exit } { print }' "$f" | tr -d '\r' |
        grep -Ev '^X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args):')
    mid=$(printf '%s\n' "$hdr" | sed -n 's/^Message-I[Dd]: *//Ip' | head -n 1)
    cat <<EOF
From: <fbl@mailbox.example.net>
To: <abuse@news.example.com>
Subject: FW: Weekly news
Date: $(date -R)
Message-ID: <arf-$k.$TAG@mailbox.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="arf-$k-boundary"

--arf-$k-boundary
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for the message $mid.

--arf-$k-boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: BulkwardenE2E/1.0
Version: 1
Original-Mail-From: <n@news.example.com>
Original-Rcpt-To: <$RCPT>
Arrival-Date: $(date -R)
Reporting-MTA: dns; mx.mailbox.example.net
Source-IP: 192.0.2.25

--arf-$k-boundary
Content-Type: text/rfc822-headers

$hdr

--arf-$k-boundary--
EOF
}
# complain K: ingest a complaint about the K-th delivered message
complain() {
    arf "$1" "${SINK_FILES[$1]}" >"$T/arf/$1.eml"
    ctl ingest "$T/arf/$1.eml" >"$T/arf/$1.out" 2>"$T/arf/$1.err"
}
# fbl_mail FILE: mail FILE to the feedback address (sendmail(1): pickup, no
# milter), wait (bounded) until Postfix's pipe to ingest is done with it;
# prints the maillog's delivery line (status=sent / bounced / deferred)
fbl_mail() {
    local n line
    n=$(grep -c 'relay=bwingest' "$PF/maillog")
    sendmail -C "$PF/etc" -f fbl@mailbox.example.net fbl@feedback.bulkwarden.test <"$1" || return 1
    for _ in $(seq 1 100); do
        line=$(grep 'relay=bwingest' "$PF/maillog" | sed -n "$((n + 1))p")
        [ -n "$line" ] && { printf '%s\n' "$line"; return 0; }
        sleep 0.1
    done
    return 1
}

# ------------------------------------------------- 1. 2,000 messages sent --
t0=$(now)
"$PY" "$HERE/send_many.py" "$PF_PORT" "$N" 4 "$TAG" 10.20.0.5 svc-news n@news.example.com "$RCPT" >"$T/send.out" 2>&1
rc=$?
seq "$N" >>"$T/sent"
PF_WAIT=60 pf_flush_wait "$PF" "$N"
got=$(pf_delivered "$PF")
el=$(since "$t0")
if [ $rc -eq 0 ] && grep -qx "250 $N" "$T/send.out" && [ "$got" -eq "$N" ]; then
    pass "$N messages accepted by Postfix and at the sink in ${el}s ($(grep seconds "$T/send.out"))"
else
    fail "$N messages sent" "sender exit $rc: $(tr '\n' ' ' <"$T/send.out")" "at the sink: $got"
fi
mapfile -t SINK_FILES < <(pf_sink_files "$PF")
# bulkwarden's signature (folded over several lines) and Feedback-ID
nsig=$(awk 'FNR == 1 { inh = 0 } /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=news\.example\.com;$/ { inh = 1; next }
    inh && /^[ \t]+s=nl2026;/ { print FILENAME; nextfile } !/^[ \t]/ { inh = 0 }' "${SINK_FILES[@]}" | wc -l)
nfid=$(grep -l '^Feedback-ID: .*newsletter' "${SINK_FILES[@]}" | wc -l)
if [ "$nsig" -eq "$N" ] && [ "$nfid" -eq "$N" ]; then
    pass "every delivered message carries bulkwarden's DKIM-Signature (d=news.example.com s=nl2026) and a Feedback-ID naming newsletter"
else
    fail "signed with Feedback-ID" "signed $nsig, Feedback-ID $nfid of $N"
fi
# the milter flushes its counters every second
for _ in $(seq 1 50); do [ "$(accepted)" = "$N" ] && [ "$(signal denominator)" = "$N" ] && break; sleep 0.2; done
if [ "$(accepted)" = "$N" ] && [ "$(signal denominator)" = "$N" ]; then
    pass "the store counts $N accepted (stats) and $N messages behind complaint_rate (signals)"
else
    fail "store counters" "accepted $(accepted), signals denominator $(signal denominator)"
fi

# the first message came through a new network and login (action alert):
# two records; Postfix has no queue id at MAIL FROM, so the reason names none
res=$(ctl audit --json | "$PY" -c '
import json, sys
for r in json.load(sys.stdin):
    if r["action"] == "new-sending-path":
        print(r["reason"])')
if [ "$(printf '%s\n' "$res" | grep -c .)" -eq 2 ] &&
    printf '%s\n' "$res" | grep -qx 'first message of newsletter through network 10.20.0.0/24; action alert' &&
    printf '%s\n' "$res" | grep -qx 'first message of newsletter through login svc-news; action alert'; then
    pass "two new-sending-path records (network, login), no empty queue id in their reasons"
else
    fail "new-sending-path records" "$res"
fi

# ----------------------------------- 2. 8 complaints (0.4 %): auto-suspend --
states=""
for k in 1 2 3 4 5 6 7 8; do
    complain $k
    states="$states $?:$(signal state)"
done
t_susp=$(now)
want=" 0:ok 0:warn 0:warn 0:warn 0:warn 0:suspend 0:suspend 0:suspend"
if [ "$states" = "$want" ] && [ "$(signal numerator)" = 8 ]; then
    pass "8 complaints about delivered messages: warn from 2, suspend from 6 (8/$N)"
else
    fail "complaints ingested" "states '$states' want '$want'" "numerator $(signal numerator)" \
        "$(cat "$T/arf/8.out" "$T/arf/8.err")"
fi
na=$(cat "$T"/arf/[1-8].out | grep -c 'arf attributed to newsletter by feedback-id$')
nf=$(grep -c '"event.dataset":"bulkwarden.feedback"' "$T/var/events.jsonl")
if [ "$na" -eq 8 ] && [ "$nf" -eq 8 ]; then
    pass "each complaint attributed to newsletter by its Feedback-ID; 8 feedback events"
else
    fail "attribution" "$na of 8 by feedback-id, $nf feedback events" "$(cat "$T/arf/1.out")"
fi
res=$(ctl audit --json | "$PY" -c '
import json, sys
for r in json.load(sys.stdin):
    if r["action"] in ("auto-suspend", "threshold-warning"):
        print(r["action"], r["actor"], r["identity"], r["reason"], sep="|")')
if [ "$(printf '%s\n' "$res" | grep -c '^auto-suspend|')" -eq 1 ] &&
    printf '%s\n' "$res" | grep -qx "auto-suspend|bulkwarden|newsletter|complaint_rate 0.0030 >= 0.003 over 24h (6/$N)" &&
    printf '%s\n' "$res" | grep -qx "threshold-warning|bulkwarden|newsletter|complaint_rate 0.0010 >= 0.001 over 24h (2/$N)"; then
    pass "audit: one auto-suspend by bulkwarden with the figures (6/$N), one threshold-warning"
else
    fail "audit after the complaints" "$res"
fi
r=$(refused_within 2 s1)
if [[ $r == "550 5.7.1 [suspended]"* ]]; then
    pass "the next message gets 550 5.7.1 [suspended] ($(since "$t_susp")s after the last complaint)"
else
    fail "suspended at the relay" "last reply after 2 s: ${r:-none}"
fi

# ---------------------------------------------- 3. reinstate needs a ticket --
ctl reinstate newsletter --reason "list cleaned" --by alice@example.com >"$T/re.out" 2>&1
rc=$?
if { [ $rc -eq 1 ] || [ $rc -eq 2 ]; } && grep -qi 'ticket' "$T/re.out" && [ "$(audit_n reinstate)" -eq 0 ] &&
    ctl show newsletter | grep -q '^suspended: *since '; then
    pass "reinstate without --ticket: exit $rc, says so ($(head -n 1 "$T/re.out")), still suspended"
else
    fail "reinstate without a ticket" "exit $rc: $(cat "$T/re.out")" "$(ctl show newsletter | grep -i suspended)"
fi
sleep 1.2 # longer than the milters' propagation: a wrongful reinstatement would show
r=$(one s2)
if [[ $r == "550 5.7.1 [suspended]"* ]]; then
    pass "still 550 5.7.1 [suspended] after the refused reinstatement"
else
    fail "still suspended at the relay" "reply: ${r:-none}"
fi

# --------------------------------- 4. reinstated, a waiver, then it lapses --
ctl reinstate newsletter --reason "list cleaned" --by alice@example.com --ticket CHG-7 >"$T/re.out" 2>&1
rc=$?
t_re=$(now)
ctl waive newsletter --signal complaint_rate --until 8s --reason "list migration" \
    --by alice@example.com --approver carol@example.com --ticket CHG-8 >"$T/waive.out" 2>&1
wrc=$?
wexp=$(($(date +%s) + 8))
if [ $rc -eq 0 ] && [ $wrc -eq 0 ] && res=$(ctl audit --json | "$PY" -c '
import json, sys
r = [r for r in json.load(sys.stdin) if r["action"] == "reinstate"]
print(len(r), r[-1]["actor"], r[-1]["ticket"])') && [ "$res" = "1 alice@example.com CHG-7" ]; then
    pass "reinstated by alice (not the suspender) with CHG-7; complaint_rate waived until +8s (CHG-8)"
else
    fail "reinstate and waive" "reinstate exit $rc: $(cat "$T/re.out")" "waive exit $wrc: $(cat "$T/waive.out")" "${res:-}"
fi
# through Postfix: mailed to the feedback address, piped to ingest
arf 9 "${SINK_FILES[9]}" >"$T/arf/9.eml"
line=$(fbl_mail "$T/arf/9.eml")
rc=$?
[[ $line == *status=sent* ]] || rc=1
if [ $rc -eq 0 ] && [ "$(audit_n auto-suspend)" -eq 1 ] && [ "$(signal numerator)" = 9 ] &&
    ctl show newsletter | grep -q '^suspended: *no$'; then
    pass "a complaint mailed to the feedback address, piped to ingest under the waiver (9/$N, over suspend): no auto-suspend"
else
    fail "complaint under the waiver" "ingest exit $rc, auto-suspend records $(audit_n auto-suspend)" \
        "$(ctl show newsletter | grep -i suspended)" "pipe: ${line:-none}"
fi
ctl signals newsletter >"$T/sig.out" 2>&1
if [ "$(signal state) $(signal waived)" = "suspend True" ] &&
    grep -Eq '^newsletter +complaint_rate .*waived #[0-9]+ CHG-8 until' "$T/sig.out"; then
    pass "signals newsletter: complaint_rate over suspend, shown waived (CHG-8)"
else
    fail "signals shows the waiver" "$(cat "$T/sig.out")"
fi
# the complained-about recipient is on newsletter's suppression list (the
# complaints named it): refused at RCPT; another recipient is delivered
r=$(one w0)
if [[ $r == "550 5.7.1 [suppressed]"* ]]; then
    pass "the recipient the complaints named is refused at RCPT: $r"
else
    fail "suppressed recipient" "reply: ${r:-none}"
fi
r=$(TO=reader2@mailbox.example.net delivered_within 2 w1)
if [[ $r == 250* ]]; then
    pass "under the waiver a message to another recipient is accepted (250) and reaches the sink ($(since "$t_re")s after reinstate)"
else
    fail "delivered under the waiver" "last reply: ${r:-none}"
fi
while [ "$(date +%s)" -le "$wexp" ]; do sleep 0.5; done
# through Postfix: mailed to the feedback address, piped to ingest
arf 10 "${SINK_FILES[10]}" >"$T/arf/10.eml"
line=$(fbl_mail "$T/arf/10.eml")
rc=$?
[[ $line == *status=sent* ]] || rc=1
t_susp=$(now)
if [ $rc -eq 0 ] && [ "$(audit_n waiver-expired)" -eq 1 ] && [ "$(audit_n auto-suspend)" -eq 2 ] &&
    ctl show newsletter | grep -q '^suspended: *since '; then
    pass "after the waiver's until: waiver-expired, the next complaint (piped) auto-suspends again (10/$N)"
else
    fail "waiver lapsed" "ingest exit $rc, waiver-expired $(audit_n waiver-expired), auto-suspend $(audit_n auto-suspend)" \
        "pipe: ${line:-none}"
fi
r=$(refused_within 2 s3)
if [[ $r == "550 5.7.1 [suspended]"* ]]; then
    pass "and the next message gets 550 5.7.1 [suspended] again ($(since "$t_susp")s)"
else
    fail "suspended again at the relay" "last reply after 2 s: ${r:-none}"
fi

# an unusable report at the feedback address: 65, bounced, never counted
printf 'From: <someone@mailbox.example.net>\nTo: <fbl@feedback.bulkwarden.test>\nSubject: hello\nDate: %s\nMessage-ID: <plain.%s@mailbox.example.net>\n\nnot a report\n' \
    "$(date -R)" "$TAG" >"$T/arf/plain.eml"
line=$(fbl_mail "$T/arf/plain.eml")
if [[ $line == *dsn=5.6.0*status=bounced*"data format error"*"unusable report"* ]] && [ "$(signal numerator)" = 10 ]; then
    pass "a message that is no report, piped to ingest: exit 65, bounced 5.6.0 (not retried), nothing counted"
else
    fail "unusable report through the pipe" "pipe: ${line:-none}" "numerator $(signal numerator)"
fi

# ------------------------------------------ 5. the chain, one event per message
if ctl audit --verify >"$T/verify.out" 2>&1; then
    pass "audit --verify: $(cat "$T/verify.out")"
else
    fail "audit --verify" "$(cat "$T/verify.out")"
fi
d=$(decisions)
SENT=$(wc -l <"$T/sent")
if [ "$d" -eq "$SENT" ]; then
    pass "one decision event per message: $d events, $SENT messages"
else
    fail "decision events" "$d events for $SENT messages"
fi

finish
