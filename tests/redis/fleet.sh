#!/bin/bash
# Fleet tests (SPEC §8): real redis-server instances on loopback ports,
# several real bulkwarden milters sharing one store, driven by milt.py (a
# milter-protocol client playing the MTA) and bulkwardenctl.
#   - a suspension/reinstatement on one host's config reaches all three
#     milters within 1 s (p99 over 50 cycles, printed)
#   - the exception path as on SQLite: suspend never shortens a suspension
#     in force (--until 2s over an indefinite one), the suspender cannot
#     reinstate
#   - limits are exact across three milters on Redis (messages, recipients)
#     and across two milter processes on one SQLite file, also after that
#     file was replaced under them
#   - Redis killed under load: state-error within stale_after + 1 s, no
#     crash; restarted: service resumes, stats counts every message
#   - a waiver granted on one host reaches all milters within 1 s and
#     expires with one waiver-expired record
#   - Sentinel failover; state export/import between the backends
# Prints PASS/FAIL lines and "redis: N passed, N failed"; exits 1 on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BULKWARDEN=${BULKWARDEN:-$here/../../bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
PY=/usr/bin/python3
MILT="$PY $here/milt.py"
for p in redis-server redis-cli; do
	command -v $p >/dev/null || { echo "FAIL: $p not installed (contrib/common.sh BW_PACKAGES)"; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-redis.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
[ -n "${KEEP:-}" ] && cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; echo "kept $dir"; }
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
freeport() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# DNS for the DMARC preflight
$PY "$here/../dns/dns_server.py" "$here/zone" "$dir/dns.port" 2>"$dir/dns.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$dir/dns.port" ] && break; sleep 0.05; done
[ -s "$dir/dns.port" ] || { echo "FAIL: DNS server did not start"; cat "$dir/dns.err"; exit 1; }

# redis_start NAME PORT [extra args]: a redis-server on loopback; its pid in
# $dir/NAME.pid (also in pids for the cleanup)
redis_start() {
	local name=$1 port=$2
	shift 2
	mkdir -p "$dir/$name"
	redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$name" --save "" \
		--daemonize no --logfile "$dir/$name/log" "$@" &
	local p=$!
	pids+=($p)
	echo $p >"$dir/$name.pid"
	for _ in $(seq 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.05; done
	echo "redis $name did not start:"; cat "$dir/$name/log"; return 1
}

# conf N BACKEND REDIS-SETTINGS [STATEDIR]: the config of milter N
conf() {
	local n=$1 backend=$2 redis=$3 sdir=${4:-$dir}
	sed "s|@DIR@|$dir|g; s|@N@|$n|g; s|@BACKEND@|$backend|; s|@REDIS@|$redis|; s|@DNSPORT@|$(cat "$dir/dns.port")|; s|$dir/state.db|$sdir/state.db|" \
		"$here/fleet.conf.in" >"$dir/bw$n.conf"
}

# milter_start N: start milter N on its config; pid in $dir/milter$N.pid
milter_start() {
	local n=$1
	rm -f "$dir/bw$n.sock"
	"$BULKWARDEN" -f -c "$dir/bw$n.conf" 2>>"$dir/milter$n.err" &
	local p=$!
	pids+=($p)
	echo $p >"$dir/milter$n.pid"
	for _ in $(seq 200); do [ -S "$dir/bw$n.sock" ] && return 0; sleep 0.05; done
	echo "milter $n did not start:"; cat "$dir/milter$n.err"; return 1
}
milter_stop() {
	local p
	p=$(cat "$dir/milter$1.pid")
	kill "$p" 2>/dev/null
	for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.05; done
	kill -9 "$p" 2>/dev/null
}
ctl() { local n=$1; shift; "$BULKWARDENCTL" -c "$dir/bw$n.conf" "$@"; }
# outcome OUT CODE: the count of outcome CODE in a milt.py burst output
outcome() { echo "$1" | awk -v c="$2" '{n=$NF; $NF=""; sub(/ $/, ""); if ($0 == c) print n}' | grep . || echo 0; }

# ---- one Redis, three milters -------------------------------------------
RPORT=$(freeport)
redis_start main "$RPORT" || exit 1
for n in 1 2 3; do conf $n redis "host = \"127.0.0.1\"; port = $RPORT;"; milter_start $n || exit 1; done
S1=$dir/bw1.sock S2=$dir/bw2.sock S3=$dir/bw3.sock

out=$($MILT probe "$S1" svc-news a@news.example.com)
if [ "$out" = continue ]; then ok "redis: a registered sender passes MAIL FROM"; else ko "redis: registered sender at MAIL FROM: $out"; fi

# suspensions: 50 cycles, on the config of host 2, seen by all three
out=$($MILT cycles 50 "$BULKWARDENCTL" "$dir/bw2.conf" news svc-news a@news.example.com "$S1" "$S2" "$S3")
echo "$out" | grep -v '^p99_ms\|^missed' | sed 's/^/# /'
p99=$(echo "$out" | awk '/^p99_ms/ {print $2}')
missed=$(echo "$out" | awk '/^missed/ {print $2}')
if [ -n "$p99" ] && [ "$missed" = 0 ] && [ "$p99" -le 1000 ]; then
	ok "redis: suspend/reinstate reach all three milters within 1 s (p99 $p99 ms over 50 cycles)"
else ko "redis: suspension propagation (p99 ${p99:-none} ms, missed $missed)"; fi
if ctl 1 audit --verify >/dev/null; then ok "redis: audit chain verifies after 100 changes"; else ko "redis: audit --verify after the cycles"; fi
nrec=$(ctl 3 audit --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(len(d["records"]) if isinstance(d, dict) else len(d))' 2>/dev/null)
if [ "${nrec:-0}" -ge 100 ]; then ok "redis: the audit log is shared ($nrec records seen from host 3)"; else ko "redis: shared audit log ($nrec records)"; fi

# concurrent writers never fork the chain: 4 bulkwardenctl loops at once
for k in 1 2 3 4; do
	( for i in $(seq 10); do
		# another writer's suspension in force refuses this one (SPEC §6): an answer, not a failure
		ctl $(( (k - 1) % 3 + 1 )) suspend capped --reason "race $k.$i" --by soc-$k --ticket R-$k >/dev/null 2>"$dir/race.$k.err" ||
			grep -q "is already suspended" "$dir/race.$k.err" ||
			{ cat "$dir/race.$k.err" >>"$dir/race.err"; echo x >>"$dir/race.fail"; }
		ctl $(( (k - 1) % 3 + 1 )) reinstate capped --reason "race $k.$i" --by soc-x$k --ticket R-$k >/dev/null 2>>"$dir/race.err"
	done ) &
done 2>/dev/null
for j in $(jobs -pr); do case " ${pids[*]} " in *" $j "*) ;; *) wait "$j" ;; esac; done
out=$(ctl 1 audit --verify 2>&1); rc=$?
if [ $rc -eq 0 ] && [ ! -s "$dir/race.fail" ]; then ok "redis: 4 concurrent writers, chain intact ($(echo $out | head -c 80))"
else ko "redis: concurrent writers (rc=$rc): $out $(head -3 "$dir/race.err" 2>/dev/null)"; fi
# a record altered behind bulkwarden's back is found
redis-cli -p "$RPORT" hset bwtest:audit:7 reason "nothing to see" >/dev/null
out=$(ctl 1 audit --verify 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "7"; then ok "redis: audit --verify exits 1 on an altered record (seq 7)"
else ko "redis: tampering not detected (rc=$rc): $out"; fi
redis-cli -p "$RPORT" del bwtest:audit:head >/dev/null # later tests start a fresh log
redis-cli -p "$RPORT" --scan --pattern 'bwtest:audit:*' | xargs -r redis-cli -p "$RPORT" del >/dev/null

# the exception path (SPEC §6) holds on Redis as on SQLite: a suspension in
# force is never shortened or lifted by another suspend; whoever suspended
# cannot reinstate
ctl 1 suspend news --reason "incident" --by soc-a --ticket SX-1 >/dev/null 2>&1
out=$(ctl 2 suspend news --reason "false alarm" --by mallory --until 2s 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "already suspended until reinstated .*never shortened"; then
	ok "redis: suspend --until 2s on an indefinitely suspended identity is refused (exit 1)"
else ko "redis: a timed suspend over an indefinite one (rc=$rc): $out"; fi
out=$(ctl 3 reinstate news --reason "mine" --by " SOC-A" --ticket SX-1 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "suspended by soc-a: someone else must reinstate it"; then
	ok "redis: whoever suspended cannot reinstate (whatever the case and blanks)"
else ko "redis: reinstate by the suspender (rc=$rc): $out"; fi
sleep 3
a=$($MILT probe "$S1" svc-news a@news.example.com) b=$($MILT probe "$S3" svc-news a@news.example.com)
js=$(ctl 2 list --json)
if [ "${a:0:21}|${b:0:21}" = "550 5.7.1 [suspended]|550 5.7.1 [suspended]" ] &&
	echo "$js" | $PY -c 'import json,sys; d=[x for x in json.load(sys.stdin) if x["id"] == "news"][0]; s=d["suspension"]; sys.exit(0 if d["suspended"] and s["by"] == "soc-a" and "until" not in s else 1)'; then
	ok "redis: 3 s later the indefinite suspension by soc-a is still in force on the milters and in the store"
else ko "redis: suspension after the refused --until 2s: '$a' / '$b' $(echo "$js" | head -c 300)"; fi
ctl 1 suspend capped --reason "dated" --by soc-a --until 1h >/dev/null 2>&1
out1=$(ctl 2 suspend capped --reason "shorter" --by soc-c --until 30m 2>&1); rc1=$?
out2=$(ctl 3 suspend capped --reason "longer" --by soc-c --until 2h --json 2>&1); rc2=$?
js=$(ctl 1 list --json)
if [ $rc1 -eq 1 ] && [ $rc2 -eq 0 ] && echo "$out2" | grep -q "extends the suspension since .* by soc-a" &&
	echo "$js" | $PY -c 'import json,sys; d=[x for x in json.load(sys.stdin) if x["id"] == "capped"][0]["suspension"]; sys.exit(0 if d["by"] == "soc-a" else 1)'; then
	ok "redis: a shorter timed suspend is refused, a longer one extends it keeping who suspended"
else ko "redis: timed extension (rc $rc1/$rc2): $out1 / $out2"; fi
out=$(ctl 2 reinstate news --reason "cleared" --by soc-b --ticket SX-1 2>&1); rc=$?
ctl 2 reinstate capped --reason "cleared" --by soc-b --ticket SX-2 >/dev/null 2>&1
for _ in $(seq 20); do a=$($MILT probe "$S2" svc-news a@news.example.com); [ "$a" = continue ] && break; sleep 0.1; done
if [ $rc -eq 0 ] && [ "$a" = continue ] && ctl 1 audit --verify >/dev/null; then
	ok "redis: reinstate by someone else with a ticket lifts it; audit chain intact"
else ko "redis: reinstate by soc-b (rc=$rc): $out"; fi

# limits: 24 parallel connections over three milters, limit 5 per hour
out=$($MILT burst 24 1 svc-capped a@capped.example.com "$S1" "$S2" "$S3")
acc=$(outcome "$out" accept) rl=$(outcome "$out" "451 4.7.28 [rate-limit]")
if [ "$acc" = 5 ] && [ "$rl" = 19 ]; then ok "redis: per_hour 5, 24 parallel over 3 milters: exactly 5 accepted, 19 x 451 4.7.28 [rate-limit]"
else ko "redis: message limit across the fleet: $(echo $out)"; fi
# recipients: 5 per hour, 2 recipients per message: two messages fit
out=$($MILT burst 24 2 svc-rcapped a@rcapped.example.com "$S1" "$S2" "$S3")
acc=$(outcome "$out" accept) rl=$(outcome "$out" "451 4.7.28 [rate-limit]")
if [ "$acc" = 2 ] && [ "$rl" = 22 ]; then ok "redis: recipients_per_hour 5, 24 parallel 2-recipient messages: exactly 2 accepted, 22 x 451 4.7.28"
else ko "redis: recipient limit across the fleet: $(echo $out)"; fi
if ctl 1 stats rcapped --json | grep -q '"recipients_per_hour":5' && ctl 1 show rcapped | grep -q "recipient limits: *5 per hour"; then
	ok "bulkwardenctl stats/show name the recipient limits"; else ko "recipient limits not shown: $(ctl 1 show rcapped | grep -i limit)"; fi
used=$(redis-cli -p "$RPORT" --raw eval "local k = redis.call('KEYS', 'bwtest:use:h:*:rcapped'); return redis.call('HGET', k[1], 'r')" 0)
if [ "$used" = 4 ]; then ok "redis: the store holds 4 recipients granted for rcapped"; else ko "redis: recipients granted in the store: $used"; fi

# change control on Redis: a reload that adds a login records a
# security-relevant config-change in the shared audit log; with
# policy.require_reapproval another host's check reads it from Redis
sed -i 's|logins = \["svc-news"\]|logins = ["svc-news", "svc-news2"]|' "$dir/bw1.conf"
kill -USR2 "$(cat "$dir/milter1.pid")"
for _ in $(seq 100); do ctl 1 audit --json 2>/dev/null | grep -q '"config-change"' && break; sleep 0.1; done
sed 's|policy = { mode = "enforce";|policy = { mode = "enforce"; require_reapproval = true;|' "$dir/bw2.conf" >"$dir/bw2r.conf"
out=$("$BULKWARDEN" -n -c "$dir/bw2r.conf" 2>&1); rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "identity news is pending: changed since approval"; then
	ok "redis: require_reapproval reads the change times from Redis: news pending after host 1's reload added a login"
else ko "redis: require_reapproval on Redis (rc=$rc): $(echo "$out" | tail -3)"; fi

# waivers are fleet-wide (SPEC §8, §9): granted on host 2's config, every
# milter applies it within 1 s; at its --until every milter stops applying
# it, and of the three milters ending it at once exactly one writes the
# waiver-expired record
a=$($MILT probe "$S1" svc-news a@elsewhere.example)
if [ "${a:0:27}" = "553 5.7.1 [envelope-domain]" ]; then ok "redis: a foreign envelope domain is refused before any waiver"
else ko "redis: envelope-domain before the waiver: $a"; fi
t0=$($PY -c 'import time; print(time.time())')
if ctl 2 waive news --check envelope-domain --until 5s --reason "domain migration" --by martech@example.com \
	--approver ciso@example.com --ticket CHG-9 >/dev/null; then
	seen=
	for _ in $(seq 40); do
		a=$($MILT probe "$S1" svc-news a@elsewhere.example) b=$($MILT probe "$S3" svc-news a@elsewhere.example)
		[ "$a|$b" = "continue|continue" ] && { seen=$($PY -c "import time; print(int((time.time() - $t0) * 1000))"); break; }
		sleep 0.05
	done
	if [ -n "$seen" ] && [ "$seen" -le 1000 ]; then ok "redis: a waiver on host 2 lets milters 1 and 3 accept the waived check within 1 s ($seen ms)"
	else ko "redis: waiver propagation (${seen:-never}; last '$a' / '$b')"; fi
	js=$(ctl 1 waivers --json)
	if echo "$js" | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if len(d) == 1 and d[0]["identity"] == "news" and d[0]["name"] == "envelope-domain" and d[0]["approver"] == "ciso@example.com" else 1)'; then
		ok "redis: host 1 lists the waiver granted on host 2"
	else ko "redis: waivers on host 1: $js"; fi
	while [ "$($PY -c "import time; print(int(time.time() - $t0))")" -lt 6 ]; do sleep 0.2; done
	for _ in $(seq 20); do
		a=$($MILT probe "$S2" svc-news a@elsewhere.example)
		[ "${a:0:27}" = "553 5.7.1 [envelope-domain]" ] && break; sleep 0.1
	done
	sleep 1.5
	n=$(ctl 3 audit --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for r in d if r["action"] == "waiver-expired" and r["identity"] == "news"))')
	if [ "${a:0:27}" = "553 5.7.1 [envelope-domain]" ] && [ "$n" = 1 ] && ctl 1 audit --verify >/dev/null; then
		ok "redis: after --until the milters refuse again; one waiver-expired record for three milters, chain intact"
	else ko "redis: waiver expiry ('$a', $n waiver-expired records)"; fi
	js=$(ctl 2 waivers --all --json)
	if echo "$js" | grep -q '"status":"expired"' &&
		ctl 2 waivers --json | $PY -c 'import json,sys; sys.exit(0 if json.load(sys.stdin) == [] else 1)'; then ok "redis: waivers --all shows it expired, waivers none in force"
	else ko "redis: waivers after expiry: $js / $(ctl 2 waivers --json)"; fi
else
	ko "redis: bulkwardenctl waive on Redis"
fi

# ---- two milter processes on one SQLite file ---------------------------
mkdir -p "$dir/sq"
for n in 4 5; do conf $n sqlite "" "$dir/sq"; milter_start $n || exit 1; done
# a copy with no use counts yet, restored over the live file further down
$PY -c 'import sqlite3,sys; s=sqlite3.connect(sys.argv[1]); d=sqlite3.connect(sys.argv[2]); s.backup(d); d.close()' \
	"$dir/sq/state.db" "$dir/sq/fresh.db"
out=$($MILT burst 24 1 svc-capped a@capped.example.com "$dir/bw4.sock" "$dir/bw5.sock")
acc=$(outcome "$out" accept) rl=$(outcome "$out" "451 4.7.28 [rate-limit]")
if [ "$acc" = 5 ] && [ "$rl" = 19 ]; then ok "sqlite: per_hour 5, 24 parallel over 2 milter processes on one file: exactly 5 accepted"
else ko "sqlite: message limit across processes: $(echo $out)"; fi
out=$($MILT burst 24 2 svc-rcapped a@rcapped.example.com "$dir/bw4.sock" "$dir/bw5.sock")
acc=$(outcome "$out" accept) rl=$(outcome "$out" "451 4.7.28 [rate-limit]")
if [ "$acc" = 2 ] && [ "$rl" = 22 ]; then ok "sqlite: recipients_per_hour 5 across 2 processes: exactly 2 accepted"
else ko "sqlite: recipient limit across processes: $(echo $out)"; fi
# the file replaced under both milters (a backup restored, a new inode):
# the reservations follow it like the suspensions do, so the new file's
# empty hour grants exactly 5 again and holds them (the handle that
# reserves is not the state thread's)
mv "$dir/sq/fresh.db" "$dir/sq/state.db"
rm -f "$dir/sq/state.db-wal" "$dir/sq/state.db-shm"
sleep 1.5
out=$($MILT burst 24 1 svc-capped a@capped.example.com "$dir/bw4.sock" "$dir/bw5.sock")
acc=$(outcome "$out" accept)
held=$($PY -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT coalesce(sum(messages),0) FROM usage WHERE id = ? AND win = 0", ("capped",)).fetchone()[0])' "$dir/sq/state.db" 2>&1)
if [ "$acc" = 5 ] && [ "$held" = 5 ]; then ok "sqlite: database replaced under 2 milters: exactly 5 accepted again, the new file holds the 5 grants"
else ko "sqlite: reservations after the file was replaced: accepted ${acc:-none}, the new file holds $held: $(echo $out)"; fi
milter_stop 4; milter_stop 5

# ---- Redis killed under load, then restarted ------------------------------
# an append-only Redis, so that a restart keeps what was acknowledged
DPORT=$(freeport)
redis_start dur "$DPORT" --appendonly yes --appendfsync always || exit 1
conf 6 redis "host = \"127.0.0.1\"; port = $DPORT;"
milter_start 6 || exit 1
$MILT load 14 svc-bulk a@bulk.example.com "$dir/load.txt" "$dir/bw6.sock" &
loadpid=$!
sleep 3
kill -9 "$(cat "$dir/dur.pid")"
t_kill=$(date +%s.%N)
sleep 6
t_back=$(date +%s.%N) # before it can answer
redis_start dur "$DPORT" --appendonly yes --appendfsync always || exit 1
wait $loadpid
verdict=$($PY - "$dir/load.txt" "$t_kill" "$t_back" <<'PYEOF'
import sys
rows = [l.split(None, 1) for l in open(sys.argv[1])]
rows = [(float(t), o.strip()) for t, o in rows]
kill, back = float(sys.argv[2]), float(sys.argv[3])
err = [t for t, o in rows if t > kill and o.startswith("451 4.3.0")]
first = (err[0] - kill) if err else -1
acc_late = [t for t, o in rows if kill + 4.0 < t < back and o == "accept"]
after = [o for t, o in rows if t > back + 2.5]
errors = [o for t, o in rows if o.startswith("error")]
print("first_state_error %.2f" % first)
print("accepted_while_stale %d" % len(acc_late))
print("resumed %d" % (1 if after and after[-1] == "accept" else 0))
print("accepted %d" % sum(1 for t, o in rows if o == "accept"))
print("messages %d" % len(rows))
print("client_errors %d" % len(errors))
PYEOF
)
echo "$verdict" | sed 's/^/# /'
v() { echo "$verdict" | awk -v k="$1" '$1 == k {print $2}'; }
if awk -v f="$(v first_state_error)" 'BEGIN {exit !(f >= 0 && f <= 4.0)}' && [ "$(v accepted_while_stale)" = 0 ]; then
	ok "redis down: 451 4.3.0 [state-error] after $(v first_state_error) s (stale_after 3 + 1 s), nothing accepted once stale"
else ko "redis down: state-error timing ($(echo $verdict))"; fi
if kill -0 "$(cat "$dir/milter6.pid")" 2>/dev/null && [ "$(v client_errors)" = 0 ]; then ok "redis down: the milter kept answering, no crash"
else ko "redis down: milter died or dropped connections"; fi
if [ "$(v resumed)" = 1 ]; then ok "redis back: service resumes"; else ko "redis back: service did not resume"; fi
sleep 2.5 # a counter flush
st=$(ctl 6 stats bulk --json | $PY -c 'import json,sys; d=json.load(sys.stdin)["identities"][0]["today"]; print(d["messages"], d["accepted"])')
if [ "$st" = "$(v messages) $(v accepted)" ]; then ok "redis back: stats counts every message ($st: messages, accepted)"
else ko "redis back: stats shows '$st', the client saw $(v messages) messages, $(v accepted) accepted"; fi

# ---- state export / import, SQLite -> Redis -> SQLite -------------------
ctl 4 suspend news --reason "moving test" --by soc-a --ticket MV-1 >/dev/null
ctl 4 suspend bulk --reason "dated" --by soc-a --until 30d >/dev/null
W=(--reason "moving test" --by martech@example.com --approver ciso@example.com)
ctl 4 waive news --check spf --until 2d "${W[@]}" --ticket MV-2 >/dev/null
ctl 4 waive news --check spf --until 3d "${W[@]}" --ticket MV-3 >/dev/null # replaces MV-2
ctl 4 waive bulk --signal volume_surge --until 5d "${W[@]}" --ticket MV-4 >/dev/null
body() { grep -v '"kind":"bulkwarden-state"' "$1" | sort; }
# an hour of news with 2 messages that failed spf/dkim/dmarc at submission
# (auth_failed), written as a milter flush would: it moves with the store
# and reaches dmarc_fail_rate on Redis
$PY -c 'import sqlite3,sys,time; h=int(time.time())//3600*3600; c=sqlite3.connect(sys.argv[1]); c.execute("INSERT INTO counters (id, hour, messages, accepted, auth_failed) VALUES (?, ?, 7, 7, 2) ON CONFLICT (id, hour) DO UPDATE SET messages = messages + 7, accepted = accepted + 7, auth_failed = auth_failed + 2", ("news", h)); c.commit()' "$dir/sq/state.db"
if ctl 4 state export "$dir/sq.jsonl" 2>/dev/null && [ "$(wc -l <"$dir/sq.jsonl")" -gt 5 ]; then ok "export: SQLite store written as JSON lines ($(wc -l <"$dir/sq.jsonl") lines)"
else ko "export from SQLite"; fi
IPORT=$(freeport)
redis_start imp "$IPORT" || exit 1
conf 7 redis "host = \"127.0.0.1\"; port = $IPORT;"
out=$(ctl 7 state import "$dir/sq.jsonl" 2>&1); rc=$?
if [ $rc -eq 0 ] && ctl 7 audit --verify >/dev/null; then ok "import into Redis: $out; audit --verify passes"
else ko "import into Redis (rc=$rc): $out"; fi
ctl 7 state export "$dir/rd.jsonl" 2>/dev/null
if [ "$(body "$dir/sq.jsonl")" = "$(body "$dir/rd.jsonl")" ]; then ok "Redis holds exactly what SQLite held (suspensions, audit, counters, use counts)"
else ko "SQLite and Redis exports differ: $(diff <(body "$dir/sq.jsonl") <(body "$dir/rd.jsonl") | head -5)"; fi
af=$(ctl 7 signals news --json | $PY -c '
import json, sys
def walk(o):
    if isinstance(o, dict):
        if o.get("signal") == "dmarc_fail_rate":
            yield o
        o = list(o.values())
    if isinstance(o, list):
        for x in o:
            yield from walk(x)
s = list(walk(json.load(sys.stdin)))[0]
print(s["numerator"])' 2>&1)
if grep -q '"auth_failed":2' "$dir/rd.jsonl" && [ "$af" = 2 ]; then ok "auth_failed moves to Redis and counts in dmarc_fail_rate there (numerator $af)"
else ko "auth_failed on Redis: numerator $af, $(grep -c '"auth_failed":2' "$dir/rd.jsonl") rows"; fi
if ctl 7 list --json | grep -q '"suspended"'; then ok "the imported suspension is in force on Redis"; else ko "imported suspension not listed: $(ctl 7 list 2>&1 | head -5)"; fi
if [ "$(grep -c '"kind":"waiver"' "$dir/rd.jsonl")" = 3 ] &&
	ctl 7 waivers --json | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if sorted(x["ticket"] for x in d) == ["MV-3", "MV-4"] else 1)'; then
	ok "waivers move with the store: 3 exported (one replaced), the 2 in force are in force on Redis"
else ko "waivers in the moved store: $(grep -c '"kind":"waiver"' "$dir/rd.jsonl") lines, $(ctl 7 waivers 2>&1 | head -4)"; fi
mkdir -p "$dir/sq2"
conf 8 sqlite "" "$dir/sq2"
out=$(ctl 8 state import "$dir/rd.jsonl" 2>&1); rc=$?
ctl 8 state export "$dir/sq2.jsonl" 2>/dev/null
if [ $rc -eq 0 ] && ctl 8 audit --verify >/dev/null && [ "$(body "$dir/rd.jsonl")" = "$(body "$dir/sq2.jsonl")" ]; then
	ok "the reverse, Redis -> SQLite: identical, audit --verify passes"
else ko "Redis -> SQLite (rc=$rc): $out"; fi
out=$(ctl 8 state import "$dir/rd.jsonl" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "not empty"; then ok "import refuses a store that is not empty"; else ko "import into a non-empty store (rc=$rc): $out"; fi
# an export made before auth_failed existed imports, the count read as 0
sed 's/,"auth_failed":[0-9]*//' "$dir/rd.jsonl" >"$dir/old.jsonl"
mkdir -p "$dir/sq4"; conf 19 sqlite "" "$dir/sq4"
out=$(ctl 19 state import "$dir/old.jsonl" 2>&1); rc=$?
ctl 19 state export "$dir/sq4.jsonl" 2>/dev/null
if [ $rc -eq 0 ] && ! grep -q '"auth_failed":[1-9]' "$dir/sq4.jsonl" && [ "$(grep -c '"kind":"counter"' "$dir/sq4.jsonl")" = "$(grep -c '"kind":"counter"' "$dir/rd.jsonl")" ]; then
	ok "an export without auth_failed imports (read as 0)"
else ko "import of an export without auth_failed (rc=$rc): $out"; fi
head -n 3 "$dir/rd.jsonl" >"$dir/trunc.jsonl"
mkdir -p "$dir/sq3"; conf 9 sqlite "" "$dir/sq3"
out=$(ctl 9 state import "$dir/trunc.jsonl" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q "truncated" && [ "$(ctl 9 audit --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(len(d["records"]) if isinstance(d, dict) else len(d))')" = 0 ]; then
	ok "a truncated export is refused and nothing is written"
else ko "truncated import (rc=$rc): $out"; fi

# ---- Sentinel: one primary, one replica, three sentinels ----------------
if command -v redis-sentinel >/dev/null; then
	PP=$(freeport) RP=$(freeport)
	redis_start prim "$PP" || exit 1
	redis_start repl "$RP" --replicaof 127.0.0.1 "$PP" || exit 1
	for _ in $(seq 100); do redis-cli -p "$RP" info replication | grep -q "master_link_status:up" && break; sleep 0.1; done
	sents=
	for k in 1 2 3; do
		sp=$(freeport)
		mkdir -p "$dir/sent$k"
		printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor bwm 127.0.0.1 %s 2\nsentinel down-after-milliseconds bwm 1000\nsentinel failover-timeout bwm 10000\nsentinel parallel-syncs bwm 1\n' \
			"$sp" "$dir/sent$k" "$PP" >"$dir/sent$k/sentinel.conf"
		redis-sentinel "$dir/sent$k/sentinel.conf" --logfile "$dir/sent$k/log" &
		pids+=($!)
		sents="$sents${sents:+, }\"127.0.0.1:$sp\""
	done
	for k in 1 2 3; do
		for _ in $(seq 100); do redis-cli -p "$(awk '/^port/ {print $2}' "$dir/sent$k/sentinel.conf")" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
	done
	sleep 1 # sentinels discover the replica and each other
	for n in 10 11; do conf $n redis "sentinels = [$sents]; master = \"bwm\";"; milter_start $n || exit 1; done
	out=$($MILT probe "$dir/bw10.sock" svc-news a@news.example.com)
	if [ "$out" = continue ]; then ok "sentinel: milters found the primary through Sentinel"; else ko "sentinel: probe through Sentinel: $out $(tail -3 "$dir/milter10.err")"; fi
	out=$(ctl 10 suspend news --reason "before the failover" --by soc-a --ticket FO-1 2>&1); rc=$?
	kill -9 "$(cat "$dir/prim.pid")" # right after bulkwardenctl said done
	t0=$(date +%s.%N)
	if [ $rc -eq 0 ]; then ok "sentinel: suspend acknowledged (a replica has it: WAIT)"; else ko "sentinel: suspend before the kill (rc=$rc): $out"; fi
	s1port=$(awk '/^port/ {print $2}' "$dir/sent1/sentinel.conf")
	newp=
	for _ in $(seq 300); do
		newp=$(redis-cli -p "$s1port" sentinel get-master-addr-by-name bwm | tail -1)
		[ "$newp" = "$RP" ] && break
		sleep 0.1
	done
	took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')
	if [ "$newp" = "$RP" ]; then ok "sentinel: primary killed, replica promoted after $took s"; else ko "sentinel: no failover (sentinel names $newp)"; fi
	# past stale_after: the milters answer from the new primary or not at all
	sleep 4.5
	a=$($MILT probe "$dir/bw10.sock" svc-news a@news.example.com 2>/dev/null)
	b=$($MILT probe "$dir/bw11.sock" svc-news a@news.example.com 2>/dev/null)
	case "$a|$b" in
	"550 5.7.1 [suspended]"*"|550 5.7.1 [suspended]"*) ok "sentinel: both milters follow the new primary; the suspension acknowledged before the kill holds" ;;
	*) ko "sentinel: after the failover: '$a' / '$b' $(tail -3 "$dir/milter10.err")" ;;
	esac
	if ctl 11 audit --verify >/dev/null 2>&1 && ctl 11 list --json | grep -q suspended; then ok "sentinel: bulkwardenctl on the new primary: suspension listed, audit chain intact"
	else ko "sentinel: ctl after the failover: $(ctl 11 audit --verify 2>&1)"; fi
	out=$(ctl 11 reinstate news --reason "after the failover" --by soc-b --ticket FO-1 2>&1); rc=$?
	if [ $rc -eq 1 ] && echo "$out" | grep -q "no replica acknowledged"; then ok "sentinel: no replica left: a change is reported as not durable (exit 1)"
	else ko "sentinel: change without a replica (rc=$rc): $out"; fi
	a=
	for _ in $(seq 50); do
		a=$($MILT probe "$dir/bw10.sock" svc-news a@news.example.com 2>/dev/null)
		b=$($MILT probe "$dir/bw11.sock" svc-news a@news.example.com 2>/dev/null)
		[ "$a|$b" = "continue|continue" ] && break
		sleep 0.1
	done
	if [ "$a|$b" = "continue|continue" ]; then ok "sentinel: a change on the new primary reaches both milters"; else ko "sentinel: reinstatement on the new primary not seen: '$a' / '$b'"; fi
	milter_stop 10; milter_stop 11
else
	ko "redis-sentinel not installed (contrib/common.sh BW_PACKAGES)"
fi

echo "redis: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
