#!/bin/bash
# Sending paths across a fleet (SPEC §8, §9; issue 15): two real milters
# sharing one real redis-server. With new_sending_path.action = tempfail, a
# new login seen by milter 1 is pending on milter 2 as well (one audit
# record between them, also when both see it at once); bulkwardenctl paths
# approve on host 2's config releases it on both; a path learned by one
# milter is known to the other (no record of its own). An identity dormant
# in the store (its last message three days ago, dormant_days 1) gets one
# dormant audit record for the fleet, though both milters judge it at
# start. Milter 1's /metrics shows the signals computed from the Redis
# store's feedback and counters, and a suspension made on host 2 within a
# few seconds. Prints PASS/FAIL
# lines and "redis-paths: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
BULKWARDEN=${BULKWARDEN:-$here/../../bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
PY=/usr/bin/python3
MILT="$PY $here/milt.py"
for p in redis-server redis-cli; do
	command -v $p >/dev/null || { echo "FAIL: $p not installed"; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-rpaths.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else ko "$1"; fi; }
freeport() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

$PY "$here/../dns/dns_server.py" "$here/zone" "$dir/dns.port" 2>"$dir/dns.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/dns.port" ] && break; sleep 0.05; done
[ -s "$dir/dns.port" ] || { echo "FAIL: DNS server did not start"; exit 1; }

RPORT=$(freeport)
mkdir -p "$dir/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$dir/redis" --save "" --daemonize no \
	--logfile "$dir/redis/log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done

MPORT=$(freeport)
for n in 1 2; do
	cat >"$dir/bw$n.conf" <<CONF
$([ "$n" = 1 ] && echo "metrics = { listen = \"127.0.0.1:$MPORT\"; };")
milter = { socket = "unix:$dir/bw$n.sock"; pidfile = "$dir/bw$n.pid"; };
state = { backend = "redis"; redis = { host = "127.0.0.1"; port = $RPORT; prefix = "bwpaths:"; timeout_ms = 1000; }; };
log = { target = "file"; path = "$dir/events$n.jsonl"; };
dns = { nameservers = ["127.0.0.1:$(cat "$dir/dns.port")"]; timeout = 2; };
policy = { actions = { dmarc = "accept"; };
           governance = { dormant_days = 1; new_sending_path = { action = "tempfail"; }; }; };
identities = (
  { id = "sleeper"; description = "Sent three days ago, nothing since"; class = "transactional";
    owners = { dns = "dns@example.com"; platform = "martech@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-2"; };
    credentials = { logins = ["svc-sleep"]; };
    envelope_domains = ["sleep.example.com"]; },
  { id = "news"; description = "Newsletter"; class = "transactional";
    owners = { dns = "dns@example.com"; platform = "martech@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };
    credentials = { logins = ["svc-news", "svc-a", "svc-b"]; };
    envelope_domains = ["news.example.com"]; }
);
CONF
done
old=$(( ($(date +%s) - 3 * 86400) / 3600 * 3600 )) hr=$(( $(date +%s) / 3600 * 3600 - 3600 ))
{
	echo '{"kind":"bulkwarden-state","format":1,"backend":"redis","exported":"2026-01-01T00:00:00Z"}'
	echo "{\"kind\":\"counter\",\"id\":\"sleeper\",\"hour\":$old,\"counts\":{\"messages\":4,\"recipients\":4,\"bytes\":400,\"accepted\":4,\"rejected\":0,\"quarantined\":0,\"tempfailed\":0}}"
	echo "{\"kind\":\"counter\",\"id\":\"news\",\"hour\":$hr,\"counts\":{\"messages\":1000,\"recipients\":1000,\"bytes\":1000,\"accepted\":1000,\"rejected\":0,\"quarantined\":0,\"tempfailed\":0}}"
	echo "{\"kind\":\"feedback\",\"id\":\"news\",\"hour\":$hr,\"counts\":{\"complaints\":2,\"hard_bounces\":0,\"soft_bounces\":0,\"dmarc_messages\":0,\"dmarc_failures\":0}}"
	echo '{"kind":"end","audit":0,"suspensions":0,"counters":2,"usage":0,"feedback":1}'
} >"$dir/seed.jsonl"
out=$("$BULKWARDENCTL" -c "$dir/bw1.conf" state import "$dir/seed.jsonl" 2>&1) || { echo "FAIL: seed import: $out"; exit 1; }
for n in 1 2; do
	"$BULKWARDEN" -f -c "$dir/bw$n.conf" 2>>"$dir/milter$n.err" &
	pids+=($!)
	for _ in $(seq 200); do [ -S "$dir/bw$n.sock" ] && break; sleep 0.05; done
	[ -S "$dir/bw$n.sock" ] || { echo "FAIL: milter $n did not start"; cat "$dir/milter$n.err"; exit 1; }
done
S1=$dir/bw1.sock S2=$dir/bw2.sock
ctl() { local n=$1; shift; "$BULKWARDENCTL" -c "$dir/bw$n.conf" "$@"; }
records() { ctl 1 audit | grep -c "new-sending-path"; }

# the client network (10.20.0.0/24) and svc-news: new on milter 1, pending
out=$($MILT probe "$S1" svc-news a@news.example.com)
check "milter 1: a new path is deferred ($out)" 'echo "$out" | grep -q "451 4.7.1 \[new-sending-path\]"'
out=$($MILT probe "$S2" svc-news a@news.example.com)
check "milter 2: the same path is pending there too ($out)" 'echo "$out" | grep -q "451 4.7.1 \[new-sending-path\]"'
check "one record per path for the fleet (network and login: 2)" '[ "$(records)" -eq 2 ]'
check "paths on host 2 lists both pending" '[ "$(ctl 2 paths news | grep -c pending)" -eq 2 ]'
ctl 2 paths approve news network:10.20.0.0/24 --by ciso@example.com --ticket CHG-1 >/dev/null &&
	ctl 2 paths approve news login:svc-news --by ciso@example.com --ticket CHG-1 >/dev/null ||
	ko "paths approve on host 2"
out1=$($MILT probe "$S1" svc-news a@news.example.com)
out2=$($MILT probe "$S2" svc-news a@news.example.com)
check "approved on host 2: both milters pass MAIL FROM ($out1, $out2)" '[ "$out1" = continue ] && [ "$out2" = continue ]'

# the dormant identity: both milters judged it at start, one record
dorm() { ctl 1 audit --json | $PY -c 'import json,sys; print(" ".join(r["identity"] + "/" + r["actor"] for r in json.load(sys.stdin) if r["action"] == "dormant"))'; }
for _ in $(seq 40); do [ -n "$(dorm)" ] && break; sleep 0.25; done
sleep 1
got=$(dorm)
n1=$(grep -c '"event.action":"dormant"' "$dir/events1.jsonl") n2=$(grep -c '"event.action":"dormant"' "$dir/events2.jsonl")
check "two milters on one Redis: one dormant record for the fleet ($got; events $n1 + $n2)" '[ "$got" = "sleeper/bulkwarden" ] && [ $((n1 + n2)) -eq 1 ]'

# milter 1's /metrics: signals from the Redis store, a suspension made on host 2
met() { curl -s "http://127.0.0.1:$MPORT/metrics"; }
for _ in $(seq 40); do met | grep -q '^bulkwarden_signals_timestamp_seconds [1-9]' && break; sleep 0.25; done
check "milter 1 /metrics: news complaint_rate 0.002 (2/1000 from Redis) against warn 0.001" \
	'met | grep -q "^bulkwarden_signal_value{identity=\"news\",signal=\"complaint_rate\"} 0.002$" && met | grep -q "^bulkwarden_signal_threshold{identity=\"news\",signal=\"complaint_rate\",level=\"warn\"} 0.001$" && met | grep -q "^bulkwarden_signal_identities{signal=\"complaint_rate\",state=\"warn\"} 1$"'
t0=$(date +%s%N)
ctl 2 suspend sleeper --reason "fleet metrics test" --by soc@example.com >/dev/null || ko "suspend on host 2"
for _ in $(seq 100); do met | grep -q '^bulkwarden_identity_suspended{identity="sleeper"} 1$' && break; sleep 0.05; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "a suspension on host 2 shows in milter 1's /metrics after ${ms} ms" \
	'met | grep -q "^bulkwarden_identity_suspended{identity=\"sleeper\"} 1$" && met | grep -q "^bulkwarden_suspended_identities 1$" && [ "$ms" -le 5000 ]'
ctl 2 reinstate sleeper --reason "fleet metrics test done" --by ciso@example.com --ticket CHG-9 >/dev/null || ko "reinstate on host 2"

# both milters see a new login at the same moment: one record between them
before=$(records)
race=()
for k in $(seq 4); do
	$MILT probe "$S1" svc-a a@news.example.com >"$dir/race1.$k" &
	race+=($!)
	$MILT probe "$S2" svc-a a@news.example.com >"$dir/race2.$k" &
	race+=($!)
done
wait "${race[@]}"
check "eight messages on two milters at once: one record for login:svc-a" '[ "$(records)" -eq $((before + 1)) ]'
check "and all eight were deferred" '[ "$(cat "$dir"/race* | grep -c "new-sending-path")" -eq 8 ]'
check "the audit chain verifies" 'ctl 2 audit --verify >/dev/null'

echo "redis-paths: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
