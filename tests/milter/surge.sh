#!/bin/bash
# Volume surges through the real milter (SPEC §9, issue 15) with real
# traffic and a small min_messages: the history of the same hour last week
# is imported into the store (bulkwardenctl state import), then messages
# are sent. A new identity gets no verdict ("no baseline yet" in the
# event); alert accepts and writes one volume-surge audit record for the
# identity-hour; tempfail defers the rest of the hour with 451 4.7.28
# [volume-surge]; suspend suspends (actor bulkwarden, the figures in the
# reason). An identity's own governance.volume_surge (a lower factor and
# min_messages) makes its surge come sooner. Prints PASS/FAIL lines and
# "surge: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
BULKWARDEN=${BULKWARDEN:-$here/../../bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
MILTERTEST=${MILTERTEST:-miltertest}
command -v "$MILTERTEST" >/dev/null || { echo "miltertest not found"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-surge.XXXXXX")
pid= dnspid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$dnspid" ] && kill "$dnspid" 2>/dev/null
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else ko "$1"; fi; }

# the counts are per UTC hour: do not start in the last minute of one
left=$((3600 - $(date +%s) % 3600))
[ "$left" -lt 60 ] && sleep "$left"

/usr/bin/python3 "$here/../dns/dns_server.py" "$here/zone" "$dir/dns.port" 2>"$dir/dns.err" &
dnspid=$!
for _ in $(seq 100); do [ -s "$dir/dns.port" ] && break; sleep 0.05; done
[ -s "$dir/dns.port" ] || { echo "DNS server did not start:"; cat "$dir/dns.err"; exit 1; }

ident() { # ID LOGIN [MORE]
	cat <<ID
  { id = "$1"; description = "Surge test $1"; class = "transactional"; ${3:-}
    owners = { dns = "dns@example.com"; platform = "ops@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };
    credentials = { logins = ["$2"]; };
    envelope_domains = ["news.example.com"]; }
ID
}
mport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
conf() { # ACTION
	cat >"$dir/bulkwarden.conf" <<CONF
metrics = { listen = "127.0.0.1:$mport"; };
milter = { socket = "unix:$dir/bw.sock"; pidfile = "$dir/bw.pid"; };
relay = { egress_ips = ["192.0.2.25"]; };
state = { backend = "sqlite"; path = "$dir/state.db"; };
log = { target = "file"; path = "$dir/events.jsonl"; };
dns = { nameservers = ["127.0.0.1:$(cat "$dir/dns.port")"]; timeout = 2; cache_ttl = 0; };
policy = { governance = { volume_surge = { factor = 2.0; min_messages = 5; baseline_days = 7; action = "$1"; }; }; };
identities = (
$(ident fresh svc-fresh),
$(ident alerting svc-alert),
$(ident deferring svc-defer),
$(ident suspending svc-susp),
$(ident tight svc-tight "governance = { volume_surge = { factor = 1.5; min_messages = 3; }; };")
);
CONF
}
start() {
	"$BULKWARDEN" -f -c "$dir/bulkwarden.conf" 2>>"$dir/milter.err" &
	pid=$!
	for _ in $(seq 100); do [ -S "$dir/bw.sock" ] && return 0; sleep 0.05; done
	echo "milter did not start:"; cat "$dir/milter.err"; return 1
}
reload() {
	local n
	n=$(grep -c '"config-reload"' "$dir/events.jsonl")
	kill -USR2 "$pid"
	for _ in $(seq 50); do [ "$(grep -c '"config-reload"' "$dir/events.jsonl")" -gt "$n" ] && return 0; sleep 0.1; done
	return 1
}
ctl() { "$BULKWARDENCTL" -c "$dir/bulkwarden.conf" "$@"; }
send() { # LOGIN N SURGE_AT ACTION [SAY]
	local out rc
	out=$("$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" \
		-D login="$1" -D n="$2" -D surge_at="$3" -D action="$4" -D say="${5:-}" -s "$here/surge/send.lua" 2>&1)
	rc=$?
	echo "$out" | grep -E '^(PASS|FAIL):'
	pass=$((pass + $(echo "$out" | grep -c '^PASS:')))
	fail=$((fail + $(echo "$out" | grep -c '^FAIL:')))
	[ $rc -ne 0 ] && ! echo "$out" | grep -q '^FAIL:' && ko "miltertest exited $rc: $out"
	return 0
}
surges() { grep '"event.action":"volume-surge"' "$dir/events.jsonl" | grep -c "\"bulkwarden.identity.id\":\"$1\""; }

# history: 2 messages in this hour of the week, one week ago, for the three
# identities with a baseline (threshold 2 x 2 = 4; min_messages 5)
conf alert
hour=$(( $(date +%s) / 3600 * 3600 - 7 * 86400 ))
{
	echo '{"kind":"bulkwarden-state","format":1,"backend":"sqlite","exported":"2026-01-01T00:00:00Z"}'
	for id in alerting deferring suspending tight; do
		echo "{\"kind\":\"counter\",\"id\":\"$id\",\"hour\":$hour,\"counts\":{\"messages\":2,\"recipients\":2,\"bytes\":100,\"accepted\":2,\"rejected\":0,\"quarantined\":0,\"tempfailed\":0}}"
	done
	echo '{"kind":"end","audit":0,"suspensions":0,"counters":4,"usage":0}'
} >"$dir/history.jsonl"
out=$(ctl state import "$dir/history.jsonl" 2>&1) || ko "state import of the history: $out"
start || exit 1

# a new identity: eight messages, no verdict, said in the event
send svc-fresh 8 0 none "no baseline yet"
check "no baseline: no volume-surge record" '[ "$(surges fresh)" -eq 0 ]'

# alert: the 5th message of the hour is a surge; all accepted, one record
send svc-alert 7 5 alert
check "alert: one volume-surge audit record for the identity-hour" '[ "$(surges alerting)" -eq 1 ]'
check "alert: the record has the figures and actor bulkwarden" \
	'grep "\"event.action\":\"volume-surge\"" "$dir/events.jsonl" | grep "\"bulkwarden.actor\":\"bulkwarden\"" | grep -q "count=5 baseline=2.0 factor=2.0 min_messages=5"'

# the identity's own factor 1.5 and min_messages 3: its 4th message (4 > 1.5 x 2)
send svc-tight 6 4 alert
check "identity.governance.volume_surge: the surge at the 4th message, one record with its own figures" \
	'[ "$(surges tight)" -eq 1 ] && grep "\"event.action\":\"volume-surge\"" "$dir/events.jsonl" | grep "\"bulkwarden.identity.id\":\"tight\"" | grep -q "count=4 baseline=2.0 factor=1.5 min_messages=3"'

# tempfail: from the 5th message the rest of the hour is deferred
conf tempfail
reload || ko "reload to tempfail"
send svc-defer 7 5 tempfail
check "tempfail: one volume-surge audit record" '[ "$(surges deferring)" -eq 1 ]'

# suspend: the 5th message suspends the identity, actor bulkwarden
conf suspend
reload || ko "reload to suspend"
send svc-susp 5 5 tempfail
check "suspend: one volume-surge audit record" '[ "$(surges suspending)" -eq 1 ]'
for _ in $(seq 30); do grep -q '"event.action":"suspend"' "$dir/events.jsonl" && break; sleep 0.1; done
check "suspend: the identity is suspended by bulkwarden with the figures in the reason" \
	'ctl audit | grep " suspend " | grep suspending | grep bulkwarden | grep -q "messages in the hour"'
sleep 1.2 # the overlay picks the suspension up within a second
cat >"$dir/suspended.lua" <<LUA
dofile(libdir .. "/lib.lua")
T.run("a suspended identity is refused at MAIL FROM", function()
	local conn = T.connect("10.20.0.5")
	T.check(T.mail(conn, "svc-susp", "<n@news.example.com>") == SMFIR_REPLYCODE, "refused")
	mt.disconnect(conn)
	T.wait_decisions(1)
	T.failed(T.last_decision(), "suspended")
end)
LUA
out=$("$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" -s "$dir/suspended.lua" 2>&1)
if echo "$out" | grep -q '^PASS'; then ok "after the surge the identity is suspended on the milter"; else ko "suspended after the surge: $out"; fi
check "the audit chain verifies" 'ctl audit --verify >/dev/null'
curl -s "http://127.0.0.1:$mport/metrics" >"$dir/metrics.txt"
check "metrics: decisions by the volume-surge check, by identity" \
	'grep -q "^bulkwarden_decisions_total{.*identity=\"deferring\".*check=\"volume-surge\"" "$dir/metrics.txt" || grep -q "^bulkwarden_decisions_total{.*check=\"volume-surge\".*identity=\"deferring\"" "$dir/metrics.txt"'

echo "surge: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
