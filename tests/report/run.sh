#!/bin/bash
# The auditor's report (bulkwardenctl report) and governance findings
# (bulkwardenctl check): a registry seeded with every finding and 30 days
# of traffic; the JSON validated against its schema and checked figure by
# figure; Markdown and HTML escaping of hostile registry text; the HTML
# rendered by headless Chromium to a PNG with no console error and its
# charts present; the manual's control mapping against the rule table.
# Prints PASS/FAIL lines and "report: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
CTL=${BULKWARDENCTL:-./bulkwardenctl}
PY=/usr/bin/python3
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-report.XXXXXX")
BULKWARDEN=${BULKWARDEN:-$(dirname "$CTL")/bulkwarden}
mpid=
trap '[ -n "$mpid" ] && kill "$mpid" 2>/dev/null; [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok "$1"; else ko "$1"; fi; }

mkdir -p "$dir/state" "$dir/keys"
chmod 700 "$dir/keys"
install -m 600 "$top_srcdir/tests/dkim/news-rsa.pem" "$dir/keys/news-rsa.pem"
install -m 600 "$top_srcdir/tests/dkim/rogue-rsa.pem" "$dir/keys/shared-rsa.pem"
install -m 600 "$top_srcdir/tests/dkim/promo-ed25519.pem" "$dir/keys/old-ed25519.pem"
touch -d '2 years ago' "$dir/keys/old-ed25519.pem"
day() { date -u -d "$1" +%Y-%m-%d; }
sed "s|@DIR@|$dir|g; s|@RECENT@|$(day '-10 days')|g; s|@FAR@|$(day '+2 years')|g;
     s|@OLD@|$(day '-2 years')|g; s|@SOON@|$(day '+10 days')|g; s|@PAST@|$(day '-5 days')|g;
     s|@DORMANT@|$(day '-200 days')|g" "$here/registry.conf.in" >"$dir/bulkwarden.conf"
ctl() { "$CTL" -c "$dir/bulkwarden.conf" "$@"; }

# traffic: newsletter sends every day of the period (n = 100 + day), a
# tenth refused; the vendor on two days; plus a suspension and a reinstatement
ctl stats >/dev/null 2>&1 || { ko "bulkwardenctl stats creates the store"; }
$PY - "$dir/state/state.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
now = int(time.time()); today = now - now % 86400
for d in range(30):
    day = today - d * 86400
    n = 100 + d
    db.execute("INSERT INTO counters (id, hour, messages, recipients, bytes, accepted, rejected, quarantined, tempfailed)"
               " VALUES ('newsletter', ?, ?, ?, 0, ?, ?, 0, 0)", (day + 3600, n, n, n - n // 10, n // 10))
for d in (3, 4):
    db.execute("INSERT INTO counters (id, hour, messages, recipients, bytes, accepted, rejected, quarantined, tempfailed)"
               " VALUES ('vendor', ?, 50, 50, 0, 40, 0, 10, 0)", (today - d * 86400 + 7200,))
# an identity the registry no longer has: not in the inventory
db.execute("INSERT INTO counters (id, hour, messages) VALUES ('gone', ?, 7)", (today,))
PY
ctl suspend vendor --reason "complaint spike" --by soc@example.com --ticket INC-9 >/dev/null
ctl reinstate vendor --reason "list cleaned" --by lead@example.com --ticket INC-9 >/dev/null
ctl suspend forever --reason "owner approved itself" --by audit@example.com --ticket AUD-1 >/dev/null
# a waiver ending within 7 days: listed, and a waiver-near-expiry finding
ctl waive vendor --check spf --until 3d --reason "SPF include pending at the vendor" \
	--by shop@example.com --approver ciso@example.com --ticket WV-1 >/dev/null

# change control: the milter reloads a registry that gives "ending" a login
# (a security-relevant change after its approval): one config-change record
"$BULKWARDEN" -f -c "$dir/bulkwarden.conf" 2>"$dir/milter.err" &
mpid=$!
for _ in $(seq 100); do [ -S "$dir/bw.sock" ] && break; sleep 0.05; done
sed -i 's|credentials = { networks = \["10.0.0.0/8"\]; };|credentials = { logins = ["svc-ending"]; networks = ["10.0.0.0/8"]; };|' "$dir/bulkwarden.conf"
ctl reload >/dev/null 2>&1
for _ in $(seq 100); do ctl audit --json 2>/dev/null | grep -q config-change && break; sleep 0.1; done
out=$(ctl audit --json | $PY -c 'import json,sys; print([(r["identity"], r["detail"]) for r in json.load(sys.stdin) if r["action"] == "config-change"])')
check "a reload writes one config-change audit record per changed identity, saying what changed ($out)" \
	'[ "$out" = "[('"'"'ending'"'"', '"'"'+login svc-ending'"'"')]" ]'
kill -TERM "$mpid"; wait "$mpid" 2>/dev/null; mpid=

# ---- JSON ----------------------------------------------------------------
ctl report --format json --out "$dir/report.json"; rc=$?
check "report --format json exits 0" '[ $rc -eq 0 ] && [ -s "$dir/report.json" ]'
out=$($PY - "$dir/report.json" "$top_srcdir/man/bulkwarden-report.schema.json" <<'PY' 2>&1
import json, sys
import jsonschema
rep = json.load(open(sys.argv[1]))
jsonschema.validate(rep, json.load(open(sys.argv[2])))
print("schema ok")
ids = {i["id"]: i for i in rep["identities"]}
f = rep["findings"]
rules = {c["finding"] for c in rep["controls"]}
found = {x["id"] for x in f}
print("rules", len(rules), "found", len(found))
missing = sorted(rules - found - {"domain-dns-posture"})  # needs --dns: its own section below
print("missing", ",".join(missing) or "none")
for x in f:
    assert x["csf"], x
nl = ids["newsletter"]
assert nl["traffic"]["messages"] == sum(100 + d for d in range(30)), nl["traffic"]
assert len(nl["daily"]) == 30 and nl["daily"][-1]["messages"] == 100, nl["daily"][-1]
assert nl["traffic"]["rejected"] == sum((100 + d) // 10 for d in range(30))
print("newsletter findings", ",".join(x["id"] for x in f if x["identity"] == "newsletter") or "none")
assert "gone" not in ids
assert ids["vendor"]["traffic"]["quarantined"] == 20
assert ids["forever"]["suspended"]["ticket"] == "AUD-1"
assert ids["forever"]["owners"]["platform"] == "shop@example.com"
assert ids["vendor"]["dkim"][1]["algorithm"] == "ed25519"
acts = [(e["action"], e["identity"], e["ticket"]) for e in rep["events"]]
assert ("suspend", "vendor", "INC-9") in acts and ("reinstate", "vendor", "INC-9") in acts, acts
assert rep["report"]["audit"]["chain_intact"] is True
wv = ids["vendor"]["waivers"]
assert len(wv) == 1 and wv[0]["ticket"] == "WV-1" and wv[0]["name"] == "spf" and wv[0]["approver"] == "ciso@example.com", wv
assert ids["newsletter"]["waivers"] == []
assert [x["identity"] for x in f if x["id"] == "waiver-near-expiry"] == ["vendor"], f
assert ("waiver", "vendor", "WV-1") in acts, acts
assert [x["identity"] for x in f if x["id"] == "changed-since-approval"] == ["ending"], f
assert rep["report"]["daily_totals"][-1]["messages"] == 100
doms = {d["domain"]: d for d in rep["domains"]}
nd = doms["news.example.com"]
assert nd["identities"] == ["newsletter", "ending"] or sorted(nd["identities"]) == ["ending", "newsletter"], nd
assert "martech@example.com" in nd["owners"] and "ops@example.com" in nd["owners"], nd
assert nd["last_seen"] == rep["report"]["to"], nd
assert doms["mailco.example.net"]["uses"] == ["dkim"] and doms["sleeper.example.com"]["last_seen"] == ""
assert len(doms) == 9, sorted(doms)
print("figures ok")
PY
)
check "JSON report validates against man/bulkwarden-report.schema.json" 'echo "$out" | grep -q "schema ok"'
check "every finding of the rule table is raised by the seeded registry ($(echo "$out" | grep ^missing))" \
	'echo "$out" | grep -q "^missing none"'
check "the compliant identity has no finding" 'echo "$out" | grep -q "^newsletter findings none"'
check "traffic per day, outcomes, suspensions and audit records match the store" \
	'echo "$out" | grep -q "figures ok" || { echo "$out" | tail -3; false; }'

# ---- check: findings with severity ---------------------------------------
out=$(ctl check 2>&1); rc=$?
check "check still exits 0 with findings, listing them with severity" \
	'[ $rc -eq 0 ] && echo "$out" | grep -q "^finding: high shared-dkim-key vendor" &&
	 echo "$out" | grep -q "^finding: medium approver-is-owner forever"'
out=$(ctl check --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(len(d["findings"]), d["findings"][0]["severity"])')
check "check --json carries the findings, most severe first ($out)" '[ "${out#* }" = high ]'

# ---- Markdown --------------------------------------------------------------
ctl report --format md >"$dir/report.md"; rc=$?
check "report --format md: tables, hostile text escaped" \
	'[ $rc -eq 0 ] && grep -q "^## Control mapping" "$dir/report.md" &&
	 grep -q "Weekly newsletter \\\\| &lt;script&gt;" "$dir/report.md" && ! grep -q "<script>" "$dir/report.md"'
check "report --format md lists the waivers in force" \
	'grep -A6 "^## Waivers in force" "$dir/report.md" | grep -q "^| vendor | check spf | .* | shop@example.com | ciso@example.com | WV-1 |"'
cols=$(grep "^| newsletter |" "$dir/report.md" | $PY -c 'import re,sys; print(len(re.split(r"(?<!\\)\|", sys.stdin.read().strip())) - 2)')
check "a hostile '|' does not add a table column ($cols columns)" '[ "$cols" = 14 ]'

# ---- HTML ----------------------------------------------------------------
ctl report --format html --out "$dir/report.html" --days 30; rc=$?
check "report --format html writes one file" '[ $rc -eq 0 ] && [ -s "$dir/report.html" ]'
check "report --format html lists the waivers in force" \
	'grep -q "<table id=.waivers.>" "$dir/report.html" && grep -q "<td>WV-1</td>" "$dir/report.html"'
check "HTML is self-contained: no script, no external reference" \
	'! grep -qiE "<script|src=|href=|url\(|@import|https?://" "$dir/report.html"'
check "HTML escapes hostile registry text" 'grep -q "&lt;script&gt;alert(1)&lt;/script&gt;" "$dir/report.html"'
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROMIUM" ]; then
	prof="$dir/chrome"
	flags="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
	       --disable-component-update --disable-sync --user-data-dir=$prof --window-size=1000,2400"
	timeout 120 "$CHROMIUM" $flags --enable-logging=stderr --v=0 --screenshot="$dir/report.png" \
		"file://$dir/report.html" >"$dir/chrome.out" 2>"$dir/chrome.err"
	check "Chromium renders the HTML to a PNG" '[ -s "$dir/report.png" ]'
	check "no console error while rendering" '! grep -E "CONSOLE|Uncaught|ERROR:.*(console|javascript)" "$dir/chrome.err" | grep -qv "dbus\|gcm\|sandbox"'
	timeout 120 "$CHROMIUM" $flags --dump-dom "file://$dir/report.html" >"$dir/dom.html" 2>/dev/null
	out=$($PY - "$dir/dom.html" "$dir/report.png" <<'PY' 2>&1
import sys
from html.parser import HTMLParser
from PIL import Image
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.count = {}
    def handle_starttag(s, tag, a):
        a = dict(a)
        if tag == "svg": s.stack.append(a.get("id"))
        elif s.stack and tag in ("rect", "polyline"):
            s.count[s.stack[-1]] = s.count.get(s.stack[-1], 0) + 1
    def handle_endtag(s, tag):
        if tag == "svg" and s.stack: s.stack.pop()
p = P(); p.feed(open(sys.argv[1]).read())
print("charts", p.count)
assert p.count.get("chart-daily", 0) >= 30 and p.count.get("chart-identities", 0) >= 2 and p.count.get("chart-rates", 0) >= 2
im = Image.open(sys.argv[2]).convert("RGB")
colors = set(im.getdata())
# the accepted green and the rejected red of the charts are on the page
assert (0x2e, 0x7d, 0x32) in colors and (0xc6, 0x28, 0x28) in colors, "chart colours not rendered"
print("render ok", im.size, len(colors))
PY
)
	check "the rendered page has its three charts, drawn ($out)" 'echo "$out" | grep -q "render ok"'
else
	ko "chromium not installed (contrib/common.sh installs it)"
fi

# ---- errors ----------------------------------------------------------------
ctl report --days 0 >/dev/null 2>&1; rc=$?
check "--days 0 is a usage error (2)" '[ $rc -eq 2 ]'
ctl report --format pdf >/dev/null 2>&1; rc=$?
check "--format pdf is a usage error (2)" '[ $rc -eq 2 ]'
ctl report --out "$dir/no/such/dir/r.html" >/dev/null 2>"$dir/err"; rc=$?
check "an unwritable --out fails (1) with a message and leaves nothing" \
	'[ $rc -eq 1 ] && grep -q "cannot write" "$dir/err" && [ ! -e "$dir/no" ]'
sed "s|$dir/state/state.db|$dir/nostate/state.db|" "$dir/bulkwarden.conf" >"$dir/nostate.conf"
"$CTL" -c "$dir/nostate.conf" report --format json >/dev/null 2>"$dir/err"; rc=$?
check "an unopenable state store fails the report (1) clearly" '[ $rc -eq 1 ] && grep -q "state store" "$dir/err"'

# ---- the manual's mapping table names every rule, with the same controls ----
out=$($PY - "$dir/report.json" "$top_srcdir/man/bulkwardenctl.8" <<'PY' 2>&1
import json, re, sys
rep = json.load(open(sys.argv[1]))
man = open(sys.argv[2]).read()
bad = []
for c in rep["controls"]:
    m = re.search(r"^\.B %s\n(.*)$" % re.escape(c["finding"]), man, re.M)
    if not m:
        bad.append(c["finding"] + " missing"); continue
    for ctrl in filter(None, (c["nhi"] + ";" + c["csf"] + ";" + c["agentic"]).split(";")):
        if ctrl not in m.group(1):
            bad.append("%s: %s" % (c["finding"], ctrl))
print("bad", bad)
PY
)
check "bulkwardenctl(8) maps every finding to its controls ($out)" '[ "$out" = "bad []" ]'

# ---- report --dns: the DNS posture of each domain ----------------------------
# a loopback DNS server (tests/dns/dns_server.py, as tests/dns/dnscheck.sh):
# good.test publishes SPF, its DKIM key and DMARC p=reject; nodmarc.test
# SPF and its key but no DMARC; dead.test never answers; then the server
# dies and every lookup fails. dns.timeout = 1: each domain within 1 s.
if ! $PY -c 'import dns.message' 2>/dev/null || ! command -v openssl >/dev/null; then
	echo "SKIP: report --dns needs python3-dnspython and openssl"
else
	dd=$dir/dns
	mkdir -p "$dd/state" && mkdir -m 700 "$dd/keys"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dd/keys/g.rsa" 2>/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dd/keys/n.rsa" 2>/dev/null
	chmod 600 "$dd/keys/"*.rsa
	gpub=$(openssl pkey -in "$dd/keys/g.rsa" -pubout -outform DER 2>/dev/null | base64 -w0)
	npub=$(openssl pkey -in "$dd/keys/n.rsa" -pubout -outform DER 2>/dev/null | base64 -w0)
	cat >"$dd/zone" <<ZONE
good.test TXT v=spf1 ip4:203.0.113.7 -all
_dmarc.good.test TXT v=DMARC1; p=reject; rua=mailto:dmarc@good.test
s1._domainkey.good.test TXT v=DKIM1; k=rsa; p=$gpub
nodmarc.test TXT v=spf1 ip4:203.0.113.0/24 -all
s2._domainkey.nodmarc.test TXT v=DKIM1; k=rsa; p=$npub
dead.test TIMEOUT
_dmarc.dead.test TIMEOUT
s3._domainkey.dead.test TIMEOUT
ZONE
	$PY "$top_srcdir/tests/dns/dns_server.py" "$dd/zone" "$dd/port" "$dd/queries.log" 2>"$dd/server.log" &
	dpid=$!
	for _ in $(seq 100); do [ -s "$dd/port" ] && break; sleep 0.1; done
	port=$(cat "$dd/port" 2>/dev/null)
	common='owners = { dns = "dns@example.com"; platform = "p@example.com"; compliance = "c@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };
    lifecycle = { decommission = "2030-01-01"; };'
	cat >"$dd/bulkwarden.conf" <<CONF
milter = { socket = "unix:$dd/bw.sock"; pidfile = "$dd/bw.pid"; };
relay = { egress_ips = ["203.0.113.7"]; };
state = { backend = "sqlite"; path = "$dd/state/state.db"; };
log = { target = "file"; path = "$dd/events.jsonl"; };
dns = { nameservers = ["127.0.0.1:${port:-1}"]; timeout = 1; };
policy = { mode = "enforce"; min_dmarc_policy = "quarantine"; };
identities = (
  { id = "good"; description = "every record right"; class = "transactional"; $common
    credentials = { logins = ["svc-good"]; networks = ["10.1.0.0/24"]; };
    envelope_domains = ["good.test"]; from_domains = ["good.test"];
    dkim = ( { domain = "good.test"; selector = "s1"; key = "$dd/keys/g.rsa"; } ); },
  { id = "nodmarc"; description = "no DMARC record"; class = "transactional"; $common
    credentials = { logins = ["svc-nodmarc"]; networks = ["10.2.0.0/24"]; };
    envelope_domains = ["nodmarc.test"]; from_domains = ["nodmarc.test"];
    dkim = ( { domain = "nodmarc.test"; selector = "s2"; key = "$dd/keys/n.rsa"; } ); },
  { id = "dead"; description = "its DNS never answers"; class = "transactional"; $common
    credentials = { logins = ["svc-dead"]; networks = ["10.3.0.0/24"]; };
    envelope_domains = ["dead.test"]; from_domains = ["dead.test"];
    dkim = ( { domain = "dead.test"; selector = "s3"; key = "$dd/keys/g.rsa"; } ); }
);
CONF
	dctl() { "$CTL" -c "$dd/bulkwarden.conf" "$@"; }
	dctl stats >/dev/null 2>&1
	# dnsq FILE EXPR: a python expression over the report (dom(name): its posture)
	dnsq() {
		$PY - "$1" "$2" "$top_srcdir/man/bulkwarden-report.schema.json" <<'PY' 2>>"$dir/q.err"
import json, sys, jsonschema
rep = json.load(open(sys.argv[1]))
jsonschema.validate(rep, json.load(open(sys.argv[3])))
def dom(n):
    return [d for d in rep["domains"] if d["domain"] == n][0]["dns_posture"]
def finding(n):
    return [f for f in rep["findings"] if f["id"] == "domain-dns-posture" and f["subject"] == n]
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
	}
	dctl report --format json --out "$dd/off.json"
	check "without --dns no lookup is made and dns_posture stays a string" \
		'[ ! -s "$dd/queries.log" ] && dnsq "$dd/off.json" "dom(\"good.test\")==\"not checked (bulkwardenctl dns-check)\" and not finding(\"nodmarc.test\")"'
	t0=$(date +%s%N)
	dctl report --dns --format json --out "$dd/on.json"; rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	check "report --dns exits 0 and validates against the schema" '[ $rc -eq 0 ] && dnsq "$dd/on.json" True'
	check "good.test: SPF pass, DKIM ok, DMARC found p=reject, no finding" \
		'dnsq "$dd/on.json" "dom(\"good.test\")==dict(checked=True, spf=\"pass\", dkim=\"ok\", dmarc=dict(status=\"found\", policy=\"reject\"), dnssec=\"unknown\", ok=True, detail=\"\") and not finding(\"good.test\")"'
	check "nodmarc.test: SPF pass, DKIM ok, DMARC none, a domain-dns-posture finding with its mapping" \
		'dnsq "$dd/on.json" "(lambda p, f: p[\"spf\"]==\"pass\" and p[\"dkim\"]==\"ok\" and p[\"dmarc\"]==dict(status=\"none\", policy=\"\") and not p[\"ok\"] and len(f)==1 and f[0][\"severity\"]==\"medium\" and \"NHI4:2025\" in f[0][\"nhi\"] and \"PR.PS-01\" in f[0][\"csf\"])(dom(\"nodmarc.test\"), finding(\"nodmarc.test\"))"'
	check "dead.test (never answers): error everywhere, a finding" \
		'dnsq "$dd/on.json" "(lambda p: p[\"spf\"]==\"error\" and p[\"dkim\"]==\"error\" and p[\"dmarc\"][\"status\"]==\"error\" and not p[\"ok\"])(dom(\"dead.test\")) and len(finding(\"dead.test\"))==1"'
	check "the unanswered domain costs one dns.timeout, not one per lookup ($ms ms)" '[ "$ms" -lt 3000 ]'
	check "controls list domain-dns-posture with its count" \
		'dnsq "$dd/on.json" "[c[\"count\"] for c in rep[\"controls\"] if c[\"finding\"]==\"domain-dns-posture\"]==[2]"'
	dctl report --dns --format md --out "$dd/on.md"
	check "Markdown shows the posture text" \
		'grep -q "| SPF pass, DKIM ok, DMARC p=reject, DNSSEC unknown |" "$dd/on.md" && grep -q "DMARC none, DNSSEC unknown: dmarc" "$dd/on.md"'
	dctl report --dns --format html --out "$dd/on.html"
	check "HTML shows the posture text" \
		'grep -q "<td>SPF pass, DKIM ok, DMARC p=reject, DNSSEC unknown</td>" "$dd/on.html"'
	# the server dies: every domain's lookups fail, within the timeout each
	kill "$dpid"; wait "$dpid" 2>/dev/null
	t0=$(date +%s%N)
	dctl report --dns --format json --out "$dd/dead.json"; rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	check "dead DNS server: exit 0, every posture an error, one finding per domain ($ms ms)" \
		'[ $rc -eq 0 ] && [ "$ms" -lt 6000 ] && dnsq "$dd/dead.json" "all(dom(n)[\"spf\"]==\"error\" and dom(n)[\"dmarc\"][\"status\"]==\"error\" and len(finding(n))==1 for n in (\"good.test\", \"nodmarc.test\", \"dead.test\"))"'
fi

echo "report: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
