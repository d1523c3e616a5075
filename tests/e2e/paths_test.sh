#!/bin/bash
#
# tests/e2e/paths_test.sh - new sending paths through a real Postfix (issue
# 15): the real bulkwarden behind a private Postfix on loopback, clients
# given by XCLIENT (address and SASL login), next hop an smtp-sink, DNS from
# a loopback server. With new_sending_path.action = tempfail a new network
# and login get 451 4.7.1 [new-sending-path] at MAIL FROM until
# bulkwardenctl paths approve, then the mail is delivered; quarantine puts
# the first message through a new /24 in the hold queue; alert delivers it
# with its audit record. Prints PASS:/FAIL: per case and "e2e-paths: N
# passed, N failed"; exit 77 (SKIP) without root, postfix, swaks, dnspython.

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

BULKWARDEN=${BULKWARDEN:-./bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
PY=/usr/bin/python3

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (private Postfix instance)"
for p in postfix postqueue smtp-sink swaks timeout; do
    command -v "$p" >/dev/null 2>&1 || skip "$p not installed"
done
id postfix >/dev/null 2>&1 || skip "no postfix user"
"$PY" -c 'import dns.message' 2>/dev/null || skip "$PY lacks dnspython"
case $BULKWARDEN in /*) ;; *) BULKWARDEN=$(pwd)/$BULKWARDEN ;; esac

T=$(mktemp -d "${TMPDIR:-/tmp}/bw-e2e-paths.XXXXXX")
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
reply_to() {
    printf '%s\n' "$1" | awk -v re="$2" '
        found && /^<(-|\*\*) / { sub(/^<(-|\*\*) +/, ""); print; exit }
        !found && /^ *(->|\*\*) / && $0 ~ re { found = 1 }'
}
queue_id() { printf '%s\n' "$1" | sed -n 's/^.*queued as \([0-9A-Za-z]*\).*$/\1/p' | head -n1; }

cat >"$T/zone" <<EOF
news.example.com TXT v=spf1 ip4:192.0.2.25 -all
_dmarc.news.example.com TXT v=DMARC1; p=reject; aspf=r
EOF
pf_dns_start "$T" "$T/zone" || { echo "FAIL: DNS server"; exit 1; }

conf() { # ACTION
    cat >"$T/bw.conf" <<EOF
milter = { socket = "unix:$T/bw.sock"; socket_mode = "0660"; pidfile = "$T/bw.pid"; };
relay = { egress_ips = ["192.0.2.25"]; };
state = { backend = "sqlite"; path = "$T/state.db"; };
log = { target = "file"; path = "$T/events.jsonl"; };
dns = { nameservers = ["127.0.0.1:$PF_DNS_PORT"]; timeout = 3; };
policy = { governance = { new_sending_path = { action = "$1"; }; }; };
identities = (
  { id = "newsletter"; description = "Weekly newsletter"; class = "transactional";
    owners = { dns = "dns@example.com"; platform = "martech@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };
    credentials = { logins = ["svc-news"]; networks = ["10.20.0.0/16"]; };
    envelope_domains = ["news.example.com"]; }
);
EOF
}
ctl() { "$BULKWARDENCTL" -c "$T/bw.conf" "$@"; }
nsp() { grep -c '"event.action":"new-sending-path"' "$T/events.jsonl"; }
reload() {
    local n
    n=$(grep -c '"config-reload"' "$T/events.jsonl")
    kill -USR2 "$MILTER_PID"
    for _ in $(seq 50); do [ "$(grep -c '"config-reload"' "$T/events.jsonl")" -gt "$n" ] && return 0; sleep 0.1; done
    return 1
}

conf tempfail
"$BULKWARDEN" -f -c "$T/bw.conf" >"$T/milter.log" 2>&1 &
MILTER_PID=$!
for _ in $(seq 1 50); do [ -S "$T/bw.sock" ] && chgrp postfix "$T/bw.sock" && break; sleep 0.2; done
[ -S "$T/bw.sock" ] || { fail "milter starts" "$(tail -n 20 "$T/milter.log")"; echo "e2e-paths: $PASSED passed, $FAILED failed"; exit 1; }
pf_start "$PF" "unix:$T/bw.sock" || { fail "postfix starts"; echo "e2e-paths: $PASSED passed, $FAILED failed"; exit 1; }

TAG=$$.$RANDOM
msg() { # ADDR ID
    pf_send --xclient "ADDR=$1 LOGIN=svc-news" --from "n@news.example.com" --to "x@example.net" \
        --header "From: News <n@news.example.com>" --header "Message-Id: <$2.$TAG@news.example.com>" \
        --header "Subject: paths"
}

# tempfail: a new /24 and login are deferred at MAIL FROM, also the second time
out=$(msg 10.20.7.5 p1)
r=$(reply_to "$out" 'MAIL FROM')
if [[ $r == "451 4.7.1 [new-sending-path]"* ]] && [ "$(nsp)" -eq 2 ]; then
    pass "tempfail: a new network and login get 451 4.7.1 [new-sending-path], two records"
else fail "tempfail: new path deferred" "MAIL FROM reply: ${r:-none}" "records: $(nsp)"; fi
out=$(msg 10.20.7.6 p2)
r=$(reply_to "$out" 'MAIL FROM')
if [[ $r == "451 4.7.1 [new-sending-path]"* ]] && [ "$(nsp)" -eq 2 ]; then
    pass "tempfail: deferred again until approved, no new record"
else fail "tempfail: still deferred" "MAIL FROM reply: ${r:-none}" "records: $(nsp)"; fi
ctl paths approve newsletter network:10.20.7.0/24 --by ciso@example.com --ticket CHG-1 >/dev/null &&
    ctl paths approve newsletter login:svc-news --by ciso@example.com --ticket CHG-1 >/dev/null ||
    fail "paths approve"
before=$(pf_delivered "$PF")
out=$(msg 10.20.7.7 p3)
r=$(reply_to "$out" 'lines sent')
if [[ $r == 250* ]] && pf_flush_wait "$PF" $((before + 1)) && pf_sink_grep "$PF" "p3.$TAG@" >/dev/null; then
    pass "approved: the next message is delivered"
else fail "approved: delivered" "end-of-data reply: ${r:-none}"; fi

# quarantine: the first message through a new /24 is held, the next delivered
conf quarantine
reload || fail "reload to quarantine"
out=$(msg 10.20.8.5 p4)
r=$(reply_to "$out" 'lines sent')
qid=$(queue_id "$r")
if [[ $r == 250* ]] && [ -n "$qid" ] && pf_held "$PF" | grep -qx "$qid"; then
    pass "quarantine: the first message through network:10.20.8.0/24 is in the hold queue"
else fail "quarantine: held" "reply: ${r:-none}" "held: $(pf_held "$PF" | tr '\n' ' ')"; fi
before=$(pf_delivered "$PF")
out=$(msg 10.20.8.6 p5)
r=$(reply_to "$out" 'lines sent')
if [[ $r == 250* ]] && pf_flush_wait "$PF" $((before + 1)); then
    pass "quarantine: the next message through that /24 is delivered"
else fail "quarantine: next delivered" "reply: ${r:-none}"; fi

# alert: delivered, with its audit record
conf alert
reload || fail "reload to alert"
n=$(nsp)
before=$(pf_delivered "$PF")
out=$(msg 10.20.9.5 p6)
r=$(reply_to "$out" 'lines sent')
if [[ $r == 250* ]] && pf_flush_wait "$PF" $((before + 1)) && [ "$(nsp)" -eq $((n + 1)) ] &&
    grep '"event.action":"new-sending-path"' "$T/events.jsonl" | tail -n 1 | grep -q 'path=network:10.20.9.0/24'; then
    pass "alert: delivered, one new-sending-path record for network:10.20.9.0/24"
else fail "alert: delivered with a record" "reply: ${r:-none}" "records: $(nsp) (before $n)"; fi
if ctl audit --verify >/dev/null; then pass "the audit chain verifies"; else fail "audit --verify"; fi

echo "e2e-paths: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
