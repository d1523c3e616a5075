#!/bin/bash
# Metrics (issue 15): the real bulkwarden with metrics.listen on loopback,
# driven by miltertest (the protocol cases, several clients at once);
# /metrics is checked by promtool, its decision counts against the decision
# events written, and a real Prometheus on loopback scrapes it and answers a
# query for bulkwarden_decisions_total. Prints PASS/FAIL; exit 1 on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
BULKWARDEN=${BULKWARDEN:-$here/../../bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
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
ctl() { "$BULKWARDENCTL" -c "$dir/bulkwarden.conf" "$@"; }
# metric LINE-PREFIX: the value of the first sample starting with it
metric() { get "http://127.0.0.1:$mport/metrics" | grep -F "$1" | head -1 | awk '{print $NF}'; }
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

# signals against thresholds, suspended identities, daily dormant record:
# a fresh store seeded with counters and feedback (state import), dormant
# after 1 day. newsletter: 2000 accepted in the last hour, 4 complaints
# (0.002: warn), 20 hard bounces (0.01: ok), 120 of 600 DMARC failures
# plus 400 of its 2000 messages failing spf/dkim/dmarc at submission
# (auth_failed: 520 / 2600 = 0.2: suspend); receipts: 5 messages three days
# ago, nothing since (dormant; its line has no auth_failed, as an older
# export: read as 0); the others never sent.
stop
sed -i "s|$dir/state.db|$dir/state4.db|; s|mode = \"enforce\";|mode = \"enforce\"; governance = { dormant_days = 1; };|" "$dir/bulkwarden.conf"
now=$(date +%s)
hr=$(( now / 3600 * 3600 - 3600 )) old=$(( (now - 3 * 86400) / 3600 * 3600 ))
oldday=$(date -u -d "@$old" +%Y-%m-%d) today=$(date -u +%Y-%m-%d)
{
	echo '{"kind":"bulkwarden-state","format":1,"backend":"sqlite","exported":"2026-01-01T00:00:00Z"}'
	echo "{\"kind\":\"counter\",\"id\":\"newsletter\",\"hour\":$hr,\"counts\":{\"messages\":2000,\"recipients\":2000,\"bytes\":200000,\"accepted\":2000,\"rejected\":0,\"quarantined\":0,\"tempfailed\":0,\"auth_failed\":400}}"
	echo "{\"kind\":\"counter\",\"id\":\"receipts\",\"hour\":$old,\"counts\":{\"messages\":5,\"recipients\":5,\"bytes\":500,\"accepted\":5,\"rejected\":0,\"quarantined\":0,\"tempfailed\":0}}"
	echo "{\"kind\":\"feedback\",\"id\":\"newsletter\",\"hour\":$hr,\"counts\":{\"complaints\":4,\"hard_bounces\":20,\"soft_bounces\":0,\"dmarc_messages\":600,\"dmarc_failures\":120}}"
	echo '{"kind":"end","audit":0,"suspensions":0,"counters":2,"usage":0,"feedback":1,"feedback_keys":0}'
} >"$dir/seed.jsonl"
out=$(ctl state import "$dir/seed.jsonl" 2>&1) || ko "import the seed: $out"
start || exit 1
for _ in $(seq 40); do [ "$(metric bulkwarden_signals_timestamp_seconds)" != 0 ] && break; sleep 0.25; done
get "http://127.0.0.1:$mport/metrics" >"$dir/m3.txt"
if promtool check metrics <"$dir/m3.txt" >"$dir/promtool3.out" 2>&1; then ok "promtool check metrics: with signals and suspensions"; else ko "promtool (signals): $(cat "$dir/promtool3.out")"; fi
sv() { sed -n "s/^bulkwarden_signal_value{identity=\"$1\",signal=\"$2\"} //p" "$dir/m3.txt"; }
st() { sed -n "s/^bulkwarden_signal_threshold{identity=\"$1\",signal=\"$2\",level=\"$3\"} //p" "$dir/m3.txt"; }
got="$(sv newsletter complaint_rate) $(sv newsletter hard_bounce_rate) $(sv newsletter dmarc_fail_rate) $(sv receipts complaint_rate)"
if [ "$got" = "0.002 0.01 0.2 0" ]; then ok "signal values of the seeded store ($got)"; else ko "signal values: got '$got'"; fi
got="$(st newsletter complaint_rate warn) $(st newsletter complaint_rate suspend) $(st newsletter hard_bounce_rate suspend) $(st newsletter dmarc_fail_rate warn)"
if [ "$got" = "0.001 0.003 0.05 0.02" ]; then ok "signal thresholds per identity and level ($got)"; else ko "signal thresholds: got '$got'"; fi
ids=$(grep -c '^bulkwarden_identity_suspended{' "$dir/m3.txt")
if grep -q '^bulkwarden_signal_identities{signal="complaint_rate",state="warn"} 1$' "$dir/m3.txt" &&
   grep -q '^bulkwarden_signal_identities{signal="dmarc_fail_rate",state="suspend"} 1$' "$dir/m3.txt" &&
   grep -q "^bulkwarden_signal_identities{signal=\"complaint_rate\",state=\"insufficient-data\"} $((ids - 1))\$" "$dir/m3.txt" &&
   grep -q '^bulkwarden_suspended_identities 0$' "$dir/m3.txt" && grep -q '^bulkwarden_identity_suspended{identity="newsletter"} 0$' "$dir/m3.txt"; then
	ok "identities per signal state, none suspended yet ($ids identities)"
else
	ko "signal states: $(grep -E 'signal_identities|suspended' "$dir/m3.txt")"
fi
t0=$(date +%s%N)
ctl suspend receipts --reason "metrics test INC-9" --by soc@example.com >/dev/null || ko "suspend receipts"
for _ in $(seq 100); do [ "$(metric 'bulkwarden_identity_suspended{identity="receipts"}')" = 1 ] && break; sleep 0.05; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
get "http://127.0.0.1:$mport/metrics" >"$dir/m4.txt"
if grep -q '^bulkwarden_identity_suspended{identity="receipts"} 1$' "$dir/m4.txt" && grep -q '^bulkwarden_suspended_identities 1$' "$dir/m4.txt" &&
   grep -q '^bulkwarden_identity_suspended{identity="newsletter"} 0$' "$dir/m4.txt" && [ "$ms" -le 5000 ]; then
	ok "a suspension shows in /metrics after ${ms} ms"
else
	ko "suspension in /metrics after ${ms} ms: $(grep suspended "$dir/m4.txt")"
fi
# the daily dormant record: receipts only, once per UTC day, also after a restart
dorm() { ctl audit --json | $PY -c 'import json,sys; print(" ".join(r["identity"] + "/" + r["actor"] for r in json.load(sys.stdin) if r["action"] == "dormant"))'; }
got=$(dorm)
if [ "$got" = "receipts/bulkwarden" ] && grep '"event.action":"dormant"' "$dir/events.jsonl" | tail -n 1 | grep -q "dormant:$oldday"; then
	ok "one dormant audit record (receipts, by bulkwarden, last message $oldday) and its event"
else
	ko "dormant records: '$got' $(grep '"event.action":"dormant"' "$dir/events.jsonl")"
fi
stop
start || exit 1
for _ in $(seq 40); do [ "$(metric bulkwarden_signals_timestamp_seconds)" != 0 ] && break; sleep 0.25; done
sleep 0.5
got=$(dorm)
if [ "$got" = "receipts/bulkwarden" ] && ctl state export 2>/dev/null | grep -q "\"key\":\"dormant:receipts:$today\""; then
	ok "after a restart the same day: still one dormant record (key dormant:receipts:$today in the store)"
else
	ko "dormant after restart: '$got'"
fi
if ctl audit --verify >/dev/null; then ok "the audit chain verifies (signals store)"; else ko "audit chain"; fi

# per_identity = false: no identity label at all (the seeded store: the
# first message is a new sending path, accepted; counts per signal state)
stop
sed -i 's/per_identity = true/per_identity = false/' "$dir/bulkwarden.conf"
start || exit 1
"$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" -s "$here/cases/accept.lua" >/dev/null 2>&1
for _ in $(seq 40); do [ "$(metric bulkwarden_signals_timestamp_seconds)" != 0 ] && break; sleep 0.25; done
get "http://127.0.0.1:$mport/metrics" >"$dir/m2.txt"
if grep -q '^bulkwarden_decisions_total{outcome="accept",check="[a-z-]*"} 1$' "$dir/m2.txt" && ! grep -q 'identity=' "$dir/m2.txt" &&
   grep -q '^bulkwarden_signal_identities{signal="complaint_rate",state="warn"} 1$' "$dir/m2.txt" &&
   grep -q '^bulkwarden_suspended_identities 1$' "$dir/m2.txt" &&
   promtool check metrics <"$dir/m2.txt" >/dev/null 2>&1; then ok "per_identity = false drops the identity label"; else ko "per_identity = false: $(grep -E "decisions_total|identity=|signal_identities|suspended_identities" "$dir/m2.txt")"; fi
stop

echo "metrics: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
