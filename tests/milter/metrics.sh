#!/bin/bash
# Metrics (issue 15): the real bulkwarden with metrics.listen on loopback,
# driven by miltertest (the protocol cases, several clients at once);
# /metrics is checked by promtool, its decision counts against the decision
# events written, and a real Prometheus on loopback scrapes it and answers a
# query for bulkwarden_decisions_total. Prints PASS/FAIL; exit 1 on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BULKWARDEN=${BULKWARDEN:-$here/../../bulkwarden}
MILTERTEST=${MILTERTEST:-miltertest}
PY=/usr/bin/python3
for t in "$MILTERTEST" promtool prometheus; do
	command -v "$t" >/dev/null || { echo "FAIL: $t not found (Debian: miltertest, prometheus)"; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-metrics.XXXXXX")
pid= dnspid= prompid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$prompid" ] && kill "$prompid" 2>/dev/null
	[ -n "$dnspid" ] && kill "$dnspid" 2>/dev/null
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
freeport() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
get() { $PY -c 'import sys,urllib.request
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print("HTTP", e.code); sys.exit(2)' "$1"; }

$PY "$here/../dns/dns_server.py" "$here/zone" "$dir/dns.port" 2>"$dir/dns.err" &
dnspid=$!
for _ in $(seq 100); do [ -s "$dir/dns.port" ] && break; sleep 0.05; done
[ -s "$dir/dns.port" ] || { echo "FAIL: DNS server did not start"; cat "$dir/dns.err"; exit 1; }
mport=$(freeport)
sed "s|@DIR@|$dir|g; s|@DNSPORT@|$(cat "$dir/dns.port")|g" "$here/registry.conf.in" >"$dir/bulkwarden.conf"
printf 'metrics = { listen = "127.0.0.1:%s"; per_identity = true; };\n' "$mport" >>"$dir/bulkwarden.conf"
cp -r "$here/identities.d" "$dir/"
mkdir -m 700 "$dir/keys"
install -m 600 "$here/../dkim/news-rsa.pem" "$here/../dkim/news-ed25519.pem" "$dir/keys/"

start() {
	"$BULKWARDEN" -f -c "$dir/bulkwarden.conf" 2>>"$dir/milter.err" &
	pid=$!
	for _ in $(seq 100); do [ -S "$dir/bw.sock" ] && get "http://127.0.0.1:$mport/metrics" >/dev/null 2>&1 && return 0; sleep 0.05; done
	echo "FAIL: milter did not start:"; cat "$dir/milter.err"; return 1
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=; }
start || exit 1

# a bad metrics.listen is refused by the loader with file:line
printf 'metrics = { listen = "localhost"; };\n' >"$dir/bad.conf"
out=$("$BULKWARDEN" -n -c "$dir/bad.conf" 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$out" | grep -q 'bad.conf:1' && echo "$out" | grep -q 'ip:port'; then ok "metrics.listen without ip:port refused with file:line"; else ko "bad metrics.listen (rc=$rc): $out"; fi

# before any message: a valid exposition, registry revision and load time
get "http://127.0.0.1:$mport/metrics" >"$dir/m0.txt"
if promtool check metrics <"$dir/m0.txt" >"$dir/promtool0.out" 2>&1; then ok "promtool check metrics: empty milter"; else ko "promtool (empty): $(cat "$dir/promtool0.out")"; fi
if grep -q '^bulkwarden_registry_info{revision="[0-9a-f]\{16\}"} 1$' "$dir/m0.txt" &&
   grep -q '^bulkwarden_registry_load_timestamp_seconds [1-9]' "$dir/m0.txt"; then ok "registry revision and load time exposed"; else ko "registry revision/load time"; fi
code=$(get "http://127.0.0.1:$mport/nope" 2>&1 | tail -1)
if [ "$code" = "HTTP 404" ]; then ok "other paths answer 404"; else ko "other paths: $code"; fi

# traffic: every protocol case, three clients at once, twice over
run_cases() {
	for t in "$here"/cases/*.lua; do
		timeout 60 "$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" -s "$t" >>"$dir/cases.out" 2>&1
	done
}
for _ in 1 2; do
	run_cases & c1=$!
	run_cases & c2=$!
	run_cases & c3=$!
	wait "$c1" "$c2" "$c3"
done
sleep 0.2
get "http://127.0.0.1:$mport/metrics" >"$dir/m1.txt"
if promtool check metrics <"$dir/m1.txt" >"$dir/promtool1.out" 2>&1; then ok "promtool check metrics: after traffic"; else ko "promtool (traffic): $(cat "$dir/promtool1.out")"; fi

# the counts equal the decision events, per identity and action
if $PY - "$dir/events.jsonl" "$dir/m1.txt" >"$dir/cmp.out" 2>&1 <<'PYEOF'
import collections, json, re, sys
ev = collections.Counter()
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o.get("event.dataset") != "bulkwarden.decision":
        continue
    ev[(o.get("bulkwarden.identity.id") or "_unattributed", o["event.action"])] += 1
m = collections.Counter()
pat = re.compile(r'^bulkwarden_decisions_total\{identity="([^"]*)",outcome="([^"]*)",check="[^"]*"\} (\d+)$')
for l in open(sys.argv[2]):
    r = pat.match(l.strip())
    if r:
        m[(r.group(1), r.group(2))] += int(r.group(3))
print("events", sum(ev.values()), "metrics", sum(m.values()))
for k in sorted(set(ev) | set(m)):
    if ev[k] != m[k]:
        print("differs", k, "events", ev[k], "metrics", m[k])
sys.exit(0 if ev == m and sum(ev.values()) > 50 else 1)
PYEOF
then ok "decision counts equal the decision events ($(head -1 "$dir/cmp.out"))"; else ko "counts vs events: $(cat "$dir/cmp.out")"; fi
lat=$(sed -n 's/^bulkwarden_decision_latency_seconds_count{stage="eom"} //p' "$dir/m1.txt")
if [ "${lat:-0}" -gt 0 ] && grep -q '^bulkwarden_decisions_total{identity="newsletter",outcome="accept",check="none"} [1-9]' "$dir/m1.txt" &&
   grep -q 'outcome="reject",check="unregistered"' "$dir/m1.txt"; then ok "latency histogram per stage and labelled decisions ($lat at eom)"; else ko "latency/labels"; fi
if grep -q '^bulkwarden_state_up 1$' "$dir/m1.txt" && grep -q '^bulkwarden_dns_last_success_timestamp_seconds [1-9]' "$dir/m1.txt" &&
   grep -q '^bulkwarden_suspended_identities 0$' "$dir/m1.txt"; then ok "state-store and DNS health, suspended identities"; else ko "health gauges: $(grep -E '_up|last_success|suspended' "$dir/m1.txt")"; fi

# a real Prometheus on loopback scrapes it and answers a query
pport=$(freeport)
cat >"$dir/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: bulkwarden
    static_configs: [ { targets: ["127.0.0.1:$mport"] } ]
YML
prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prom-data" \
	--web.listen-address="127.0.0.1:$pport" >"$dir/prom.log" 2>&1 &
prompid=$!
if $PY - "$pport" >"$dir/query.out" 2>&1 <<'PYEOF'
import json, sys, time, urllib.parse, urllib.request
url = "http://127.0.0.1:%s/api/v1/query?" % sys.argv[1] + urllib.parse.urlencode(
    {"query": 'sum(bulkwarden_decisions_total{identity="newsletter",outcome="accept"})'})
deadline = time.time() + 60
while time.time() < deadline:
    try:
        d = json.load(urllib.request.urlopen(url, timeout=5))
        if d["status"] == "success" and d["data"]["result"]:
            v = float(d["data"]["result"][0]["value"][1])
            print("newsletter accepts", v)
            sys.exit(0 if v > 0 else 1)
    except OSError:
        pass
    time.sleep(0.5)
print("no answer"); sys.exit(1)
PYEOF
then ok "Prometheus scraped /metrics and answered a query: $(cat "$dir/query.out")"; else ko "Prometheus query: $(cat "$dir/query.out"; tail -5 "$dir/prom.log")"; fi
kill "$prompid"; wait "$prompid" 2>/dev/null; prompid=

# per_identity = false: no identity label at all
stop
sed -i 's/per_identity = true/per_identity = false/' "$dir/bulkwarden.conf"
start || exit 1
"$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" -s "$here/cases/accept.lua" >/dev/null 2>&1
get "http://127.0.0.1:$mport/metrics" >"$dir/m2.txt"
if grep -q '^bulkwarden_decisions_total{outcome="accept",check="none"} 1$' "$dir/m2.txt" && ! grep -q 'identity=' "$dir/m2.txt" &&
   promtool check metrics <"$dir/m2.txt" >/dev/null 2>&1; then ok "per_identity = false drops the identity label"; else ko "per_identity = false: $(grep decisions_total "$dir/m2.txt")"; fi
stop

echo "metrics: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
