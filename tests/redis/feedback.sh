#!/bin/bash
# Feedback counts on the Redis backend (SPEC §8, §9), with a real
# redis-server on a loopback port: a report counted once however many
# relays ingest it at the same time, the signals verb, automatic suspension
# and one threshold-warning, and state export/import of the feedback
# counts and report keys from Redis to SQLite; then end to end with a real
# milter: 2000 messages sent through it, 6 complaints ingested, the next
# message refused 550 5.7.1 [suspended] within a second.
# Prints PASS/FAIL lines and "redis feedback: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
CTL=${BULKWARDENCTL:-./bulkwardenctl}
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")
PY=/usr/bin/python3
corpus=$top_srcdir/tests/feedback/corpus
for p in redis-server redis-cli; do
	command -v $p >/dev/null || { echo "FAIL: $p not installed (contrib/common.sh BW_PACKAGES)"; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-redisfb.XXXXXX")
rpid= mpid= dpid=
cleanup() {
	for p in $mpid $dpid $rpid; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --daemonize no \
	--logfile "$dir/redis.log" &
rpid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done

mkdir -p "$dir/state" "$dir/keys"
chmod 700 "$dir/keys"
install -m 600 "$top_srcdir/tests/dkim/news-rsa.pem" "$dir/keys/news-rsa.pem"
sed "s|@DIR@|$dir|g" "$top_srcdir/tests/feedback/registry.conf.in" >"$dir/sqlite.conf"
# state.path on Redis: the directory of the suppression site key (an ARF
# complaint puts its recipient on the list)
mkdir -p "$dir/rstate"
sed "s|^state = .*|state = { backend = \"redis\"; path = \"$dir/rstate/state.db\"; redis = { host = \"127.0.0.1\"; port = $port; prefix = \"fbtest:\"; }; };|" \
	"$dir/sqlite.conf" >"$dir/redis.conf"
ctl() { "$CTL" -c "$dir/redis.conf" "$@"; }
signal() {
	"$CTL" -c "${4:-$dir/redis.conf}" signals --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
for i in d["identities"]:
    for s in i["signals"]:
        if i["id"] == sys.argv[2] and s["signal"] == sys.argv[3]:
            print(s[sys.argv[1]])' "$@"
}
arf() { sed "s/reader@mailbox.example.net/reader$1@mailbox.example.net/g" "$corpus/arf-feedback-id.eml" >"$dir/arf-$1.eml"; }

hour=$(( $(date +%s) / 3600 * 3600 ))
cat >"$dir/seed.jsonl" <<SEED
{"kind":"bulkwarden-state","format":1,"backend":"sqlite","exported":"2026-01-01T00:00:00Z"}
{"kind":"counter","id":"newsletter","hour":$hour,"counts":{"messages":2000,"recipients":2000,"bytes":4000000,"accepted":2000,"rejected":0,"quarantined":0,"tempfailed":0}}
{"kind":"end","audit":0,"suspensions":0,"counters":1,"usage":0}
SEED
if ctl state import "$dir/seed.jsonl" >"$dir/out" 2>&1; then ok "Redis seeded with 2000 accepted messages"; else ko "seed: $(cat "$dir/out")"; fi

# the same report ingested by five relays at once counts once
arf 1
for i in 1 2 3 4 5; do ctl ingest "$dir/arf-1.eml" >"$dir/par-$i.out" 2>&1 & done
wait_ok=0
for j in $(jobs -p); do [ "$j" = "$rpid" ] && continue; wait "$j" || wait_ok=1; done
new=$(grep -L "duplicate" "$dir"/par-*.out | wc -l)
if [ "$(signal numerator newsletter complaint_rate)" = 1 ] && [ "$new" -eq 1 ] && [ $wait_ok -eq 0 ]; then
	ok "one report ingested 5 times in parallel: counted once (1 new, 4 duplicate)"
else
	ko "parallel ingest: complaints $(signal numerator newsletter complaint_rate), $new new, exit status $wait_ok"
fi
states=""
for i in 2 3 4 5 6 7 8; do
	arf $i
	ctl ingest "$dir/arf-$i.eml" >/dev/null 2>"$dir/err"; rc=$?
	states="$states $rc:$(signal state newsletter complaint_rate)"
done
want=" 0:warn 0:warn 0:warn 0:warn 0:suspend 0:suspend 0:suspend"
if [ "$states" = "$want" ]; then ok "Redis: warn at 2/2000, suspend from 6/2000"; else ko "states '$states' want '$want' $(cat "$dir/err")"; fi
if ctl show newsletter | grep -qi suspended; then ok "Redis: show newsletter says suspended"; else ko "Redis: not suspended"; fi
au=$(ctl audit 2>/dev/null | grep -c 'auto-suspend')
tw=$(ctl audit 2>/dev/null | grep -c 'threshold-warning')
if [ "$au" -eq 1 ] && [ "$tw" -eq 1 ] && ctl audit 2>/dev/null | grep 'auto-suspend' | grep -q 'bulkwarden' &&
	ctl audit --verify >/dev/null 2>&1; then
	ok "Redis: one auto-suspend by bulkwarden, one threshold-warning, chain verifies"
else
	ko "Redis audit: auto-suspend $au, threshold-warning $tw"
fi
# an aggregate report twice
ctl ingest "$corpus/agg-microsoft.eml" >/dev/null 2>&1
ctl ingest "$corpus/agg-microsoft.eml" >"$dir/out" 2>&1; rc=$?
d="$(signal numerator newsletter dmarc_fail_rate)/$(signal denominator newsletter dmarc_fail_rate)"
if [ $rc -eq 0 ] && grep -q duplicate "$dir/out" && [ "$d" != "0/0" ]; then
	ok "Redis: Microsoft's aggregate report twice, counted once ($d failing/messages)"
else
	ko "Redis aggregate: exit $rc, $d, $(cat "$dir/out")"
fi
# export from Redis, import into SQLite: the same signals, the same reports known
ctl state export "$dir/rd.jsonl" >/dev/null 2>&1
if "$CTL" -c "$dir/sqlite.conf" state import "$dir/rd.jsonl" >"$dir/out" 2>&1 &&
	grep -q "feedback rows, [1-9][0-9]* feedback report keys" "$dir/out"; then
	ok "export Redis -> import SQLite: $(grep -o '[0-9]* feedback rows, [0-9]* feedback report keys' "$dir/out")"
else
	ko "import into SQLite: $(cat "$dir/out")"
fi
a=$("$CTL" -c "$dir/redis.conf" signals --json | $PY -c 'import json,sys; print([(i["id"],s["signal"],s["numerator"],s["denominator"],s["state"]) for i in json.load(sys.stdin)["identities"] for s in i["signals"]])')
b=$("$CTL" -c "$dir/sqlite.conf" signals --json | $PY -c 'import json,sys; print([(i["id"],s["signal"],s["numerator"],s["denominator"],s["state"]) for i in json.load(sys.stdin)["identities"] for s in i["signals"]])')
if [ "$a" = "$b" ] && [ -n "$a" ]; then ok "SQLite after import shows the same signals as Redis"; else ko "signals differ: redis $a sqlite $b"; fi
"$CTL" -c "$dir/sqlite.conf" ingest "$dir/arf-3.eml" >"$dir/out" 2>&1
if grep -q duplicate "$dir/out"; then ok "a report counted on Redis is a duplicate on the imported SQLite store"; else ko "imported keys: $(cat "$dir/out")"; fi

# ---- end to end: a real milter on the same Redis ------------------------
BULKWARDEN=${BULKWARDEN:-$(dirname "$CTL")/bulkwarden}
MILT="$PY $here/milt.py"
$PY "$top_srcdir/tests/dns/dns_server.py" "$here/zone" "$dir/dns.port" 2>"$dir/dns.err" &
dpid=$!
for _ in $(seq 100); do [ -s "$dir/dns.port" ] && break; sleep 0.05; done
# the fleet registry's mail fails dmarc (no DKIM keys; action accept), so
# every message counts in dmarc_fail_rate (auth_failed): it is kept at
# insufficient-data here (min_messages), this test is about complaint_rate
sed "s|@DIR@|$dir|g; s|@N@|1|g; s|@BACKEND@|redis|; s|@REDIS@|host = \"127.0.0.1\"; port = $port;|; s|@DNSPORT@|$(cat "$dir/dns.port")|" \
	"$here/fleet.conf.in" |
	sed 's|actions = { dmarc = "accept"; };|actions = { dmarc = "accept"; }; governance = { dmarc_fail_rate = { min_messages = 1000000000; }; };|' >"$dir/bw1.conf"
grep -q "dmarc_fail_rate = { min_messages = 1000000000" "$dir/bw1.conf" || ko "test setup: dmarc_fail_rate min_messages not set in bw1.conf"
"$BULKWARDEN" -f -c "$dir/bw1.conf" 2>"$dir/milter.err" &
mpid=$!
for _ in $(seq 200); do [ -S "$dir/bw1.sock" ] && break; sleep 0.05; done
sent=$($MILT send 2000 1 svc-news a@news.example.com "$dir/bw1.sock")
acc=0
for _ in $(seq 50); do # the milter flushes its counters every second
	acc=$("$CTL" -c "$dir/bw1.conf" signals news --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["identities"][0]["signals"][0]["denominator"])')
	[ "$acc" = 2000 ] && break
	sleep 0.2
done
if [ "$acc" = 2000 ]; then ok "2000 messages through the milter: complaint_rate denominator 2000 ($sent)"; else ko "sent through the milter: $sent, denominator $acc"; fi
# their failed dmarc check reached Redis through the milter's counter flush
dfr=$("$CTL" -c "$dir/bw1.conf" signals news --json | $PY -c '
import json, sys
s = [x for x in json.load(sys.stdin)["identities"][0]["signals"] if x["signal"] == "dmarc_fail_rate"][0]
print("%s/%s %s" % (s["numerator"], s["denominator"], s["state"]))')
if [ "$dfr" = "2000/2000 insufficient-data" ]; then ok "Redis: the milter counted 2000 failed dmarc checks (auth_failed): dmarc_fail_rate $dfr"
else ko "Redis: dmarc_fail_rate from the milter's counters: $dfr"; fi
states=""
for i in 1 2 3 4 5 6; do
	sed -e "s/reader@mailbox.example.net/e2e$i@mailbox.example.net/g" \
		-e "s/marketing:newsletter:bulkwarden:news.example.com/transactional:news:bulkwarden:news.example.com/" \
		"$corpus/arf-feedback-id.eml" >"$dir/e2e-$i.eml"
	"$CTL" -c "$dir/bw1.conf" ingest "$dir/e2e-$i.eml" >/dev/null 2>"$dir/err"; rc=$?
	states="$states $rc:$("$CTL" -c "$dir/bw1.conf" signals news --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["identities"][0]["signals"][0]["state"])')"
	[ $i -eq 5 ] && before=$($MILT probe "$dir/bw1.sock" svc-news a@news.example.com)
done
t0=$(date +%s%N)
got=
for _ in $(seq 40); do
	got=$($MILT probe "$dir/bw1.sock" svc-news a@news.example.com)
	[ "${got:0:21}" = "550 5.7.1 [suspended]" ] && break
	sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$states" = " 0:ok 0:warn 0:warn 0:warn 0:warn 0:suspend" ] && [ "$before" = continue ] &&
	[ "${got:0:21}" = "550 5.7.1 [suspended]" ] && [ $ms -le 1000 ]; then
	ok "6 complaints over 2000 messages: the milter refuses the next message 550 5.7.1 [suspended] ${ms} ms after ingest returned"
else
	ko "end to end: states '$states', before '$before', after '$got' (${ms} ms) $(cat "$dir/err")"
fi
if "$CTL" -c "$dir/bw1.conf" audit | grep 'auto-suspend' | grep -q 'complaint_rate 0.0030 >= 0.003 over 24h (6/2000)'; then
	ok "the auto-suspend record names the figures: complaint_rate 0.0030 >= 0.003 over 24h (6/2000)"
else
	ko "auto-suspend record: $("$CTL" -c "$dir/bw1.conf" audit | tail -n 3)"
fi

echo "redis feedback: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
