#!/bin/bash
# The suppression list on a fleet (SPEC §8, §9): one real redis-server, two
# relays A and B with their own state directories (so their own site key
# files), one running milter on A, driven by milt.py.
#   - bulkwardenctl on B suppresses a recipient: its key file is made, the
#     store keeps the key's check value
#   - the milter on A sees the entry but has no key: recipients are
#     tempfailed (fails closed), the log says why
#   - bulkwardenctl on A with a key of its own is refused (not the store's)
#   - B's key copied to A: within seconds the milter on A refuses the
#     listed recipient alone with 550 5.7.1 [suppressed], without a restart
#   - unsuppress on B reaches the milter on A within a second
#   - counts agree on both relays; the audit chain verifies; no address is
#     in Redis (a dump of every key)
# Prints PASS/FAIL lines and "redis-suppress: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
BULKWARDEN=${BULKWARDEN:-$here/../../bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
PY=/usr/bin/python3
MILT="$PY $here/milt.py"
for p in redis-server redis-cli; do
	command -v $p >/dev/null || { echo "FAIL: $p not installed"; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-rsupp.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
freeport() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

$PY "$here/../dns/dns_server.py" "$here/zone" "$dir/dns.port" 2>"$dir/dns.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/dns.port" ] && break; sleep 0.05; done
[ -s "$dir/dns.port" ] || { echo "FAIL: DNS server did not start"; exit 1; }
RPORT=$(freeport)
mkdir -p "$dir/redis" "$dir/a" "$dir/b"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$dir/redis" --save "" --daemonize no \
	--logfile "$dir/redis/log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
for n in a b; do
	sed "s|@DIR@|$dir|g; s|@N@|$n|g; s|@BACKEND@|redis|; s|@REDIS@|host = \"127.0.0.1\"; port = $RPORT;|; s|@DNSPORT@|$(cat "$dir/dns.port")|; s|$dir/state.db|$dir/$n/state.db|" \
		"$here/fleet.conf.in" >"$dir/bw$n.conf"
done
ctl() { local n=$1; shift; "$BULKWARDENCTL" -c "$dir/bw$n.conf" "$@"; }
"$BULKWARDEN" -f -c "$dir/bwa.conf" 2>>"$dir/milter.err" &
pids+=($!)
for _ in $(seq 200); do [ -S "$dir/bwa.sock" ] && break; sleep 0.05; done
[ -S "$dir/bwa.sock" ] || { echo "FAIL: milter did not start: $(cat "$dir/milter.err")"; exit 1; }
# one message, recipients r0 and r1: "accept" or the first refusal's code
send() { $MILT burst 1 2 svc-news a@news.example.com "$dir/bwa.sock"; }

out=$(send)
echo "$out" | grep -q '^accept 1' && ok "before any suppression: accepted" || ko "before: $out"
if ctl b suppress news R1@Example.NET --reason "complaint" --by dpo@example.com >"$dir/out" 2>&1; then
	ok "suppress on relay B"
else
	ko "suppress on relay B: $(cat "$dir/out")"
fi
[ -f "$dir/b/suppress.key" ] && ok "relay B made its key file" || ko "no key on B"
[ "$(redis-cli -p "$RPORT" get bwtest:supp:check | wc -c)" -eq 33 ] && ok "the store keeps the key's check value" ||
	ko "no check value in Redis"
for _ in $(seq 30); do out=$(send); echo "$out" | grep -q '^451 4.3.0' && break; sleep 0.1; done
echo "$out" | grep -q '^451 4.3.0' && ok "relay A without the key fails closed (451 4.3.0)" || ko "A without key: $out"
grep -q "no suppression key file" "$dir/milter.err" && ok "the milter log says the key is missing" ||
	ko "milter log: $(tail -3 "$dir/milter.err")"
if ctl a suppress news other@example.net --reason x >"$dir/out" 2>&1; then
	ko "relay A with a key of its own was allowed to write"
else
	grep -q "not the one the state store" "$dir/out" && ok "relay A's own key is refused" || ko "A: $(cat "$dir/out")"
fi
cp -p "$dir/b/suppress.key" "$dir/a/suppress.key"
for _ in $(seq 60); do out=$(send); echo "$out" | grep -q '^550 5.7.1 \[suppressed\]' && break; sleep 0.1; done
echo "$out" | grep -q '^550 5.7.1 \[suppressed\]' &&
	ok "with B's key copied, A refuses the listed recipient: 550 5.7.1 [suppressed], no restart" ||
	ko "after the key copy: $out"
grep -q '"bulkwarden.envelope.rcpt_suppressed":1' "$dir/eventsa.jsonl" 2>/dev/null ||
	grep -rq '"bulkwarden.envelope.rcpt_suppressed":1' "$dir"/events*.jsonl 2>/dev/null &&
	ok "the decision event counts the suppressed recipient" || ko "no rcpt_suppressed in the events"
c1=$(ctl a suppressions news | awk '{print $2}') c2=$(ctl b suppressions news | awk '{print $2}')
[ "$c1" = 1 ] && [ "$c2" = 1 ] && ok "both relays count one entry" || ko "counts $c1 / $c2"
ctl b unsuppress news r1@example.net --reason "consent" --by dpo2@example.com >/dev/null ||
	ko "unsuppress on B"
t0=$(date +%s%N)
for _ in $(seq 30); do out=$(send); echo "$out" | grep -q '^accept 1' && break; sleep 0.05; done
ms=$((($(date +%s%N) - t0) / 1000000))
echo "$out" | grep -q '^accept 1' && [ "$ms" -lt 1500 ] && ok "unsuppress on B reaches A's milter (${ms} ms)" ||
	ko "after unsuppress: $out (${ms} ms)"
ctl a audit --verify >/dev/null && ok "the audit chain verifies" || ko "audit --verify"
dump=$(redis-cli -p "$RPORT" --scan | while read -r k; do
	t=$(redis-cli -p "$RPORT" type "$k")
	case $t in
	hash) redis-cli -p "$RPORT" hgetall "$k" ;;
	zset) redis-cli -p "$RPORT" zrange "$k" 0 -1 ;;
	string) redis-cli -p "$RPORT" get "$k" ;;
	esac
done)
echo "$dump" | grep -qi 'r1@example' && ko "an address is in Redis" || ok "no address in Redis"

# state export from Redis, import into a new SQLite store: the list moves
ctl b suppress news keep@example.net --reason "moved along" --by dpo@example.com >/dev/null
mkdir "$dir/c"
sed "s|backend = \"redis\"|backend = \"sqlite\"|; s|$dir/a/state.db|$dir/c/state.db|" "$dir/bwa.conf" >"$dir/bwc.conf"
cp -p "$dir/b/suppress.key" "$dir/c/suppress.key"
if ctl a state export "$dir/x.jsonl" 2>/dev/null && ctl c state import "$dir/x.jsonl" >"$dir/out" 2>&1; then
	[ "$(ctl c suppressions news | awk '{print $2}')" = 1 ] && ok "Redis export, SQLite import: the list moved" ||
		ko "after import: $(ctl c suppressions)"
else
	ko "export/import: $(cat "$dir/out")"
fi

echo "redis-suppress: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
