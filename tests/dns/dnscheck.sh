#!/bin/bash
# tests/dns/dnscheck.sh - `bulkwardenctl dns-check` against a real DNS server
# on loopback (tests/dns/dns_server.py) serving a zone written here, with
# DKIM keys generated here:
#   good  - SPF authorizes the egress IP, RSA and Ed25519 keys published,
#           DMARC p=quarantine with rua: every row ok, exit 0 alone;
#   bad   - SPF -all, another key published than the registered one, no
#           DMARC record, a wildcard envelope domain (skipped): FAIL rows;
#   weak  - DMARC p=none while the identity requires quarantine, no rua,
#           a DKIM record with k=ed25519 for an RSA key, split TXT strings;
#   slow  - the nameserver never answers: dns-error rows within the timeout.
# Prints PASS:/FAIL: lines and "dns: N passed, N failed"; exits 1 on any
# failure, 77 (skip) without bulkwardenctl, python3-dnspython or openssl.
#
# Environment: BULKWARDENCTL (default ./bulkwardenctl), top_srcdir.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CTL=${BULKWARDENCTL:-./bulkwardenctl}
PY=/usr/bin/python3
[ -x "$CTL" ] || { echo "SKIP: bulkwardenctl not found at $CTL"; exit 77; }
"$PY" -c 'import dns.message' 2>/dev/null || { echo "SKIP: needs python3-dnspython"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: needs openssl"; exit 77; }
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")

dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-dnscheck.XXXXXX")
server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }

# ---- keys ------------------------------------------------------------------
mkdir -m 700 "$dir/keys"
genkey() { # genkey FILE rsa|ed25519
	if [ "$2" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
	else
		openssl genpkey -algorithm ed25519 -out "$1" 2>/dev/null
	fi
	chmod 600 "$1"
}
pub_rsa() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | base64 -w0; }
pub_ed() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0; }
genkey "$dir/keys/good.rsa" rsa
genkey "$dir/keys/good.ed" ed25519
genkey "$dir/keys/bad.rsa" rsa
genkey "$dir/keys/rogue.rsa" rsa
genkey "$dir/keys/weak.rsa" rsa
good_rsa=$(pub_rsa "$dir/keys/good.rsa")
good_ed=$(pub_ed "$dir/keys/good.ed")
rogue_rsa=$(pub_rsa "$dir/keys/rogue.rsa")
weak_rsa=$(pub_rsa "$dir/keys/weak.rsa")
[ -n "$good_rsa" ] && [ -n "$good_ed" ] && [ -n "$rogue_rsa" ] ||
	{ echo "FAIL: key generation"; echo "dns: 0 passed, 1 failed"; exit 1; }

# ---- zone and server ---------------------------------------------------------
cat >"$dir/zone" <<EOF
good.test TXT v=spf1 ip4:203.0.113.0/24 -all
_dmarc.good.test TXT v=DMARC1; p=quarantine; rua=mailto:dmarc@good.test
nl._domainkey.good.test TXT v=DKIM1; k=rsa; p=$good_rsa
ed._domainkey.good.test TXT v=DKIM1; k=ed25519; p=$good_ed
bad.test TXT v=spf1 -all
old._domainkey.bad.test TXT v=DKIM1; k=rsa; p=$rogue_rsa
weak.test TXT v=spf1 include:spf.weak.test -all
spf.weak.test TXT v=spf1 ip4:203.0.113.7 -all
_dmarc.weak.test TXT v=DMARC1; p=none
w1._domainkey.weak.test TXT "v=DKIM1; k=ed25519; " "p=${weak_rsa:0:200}" "${weak_rsa:200}"
slow.test TIMEOUT
_dmarc.slow.test TIMEOUT
EOF
"$PY" "$here/dns_server.py" "$dir/zone" "$dir/port" "$dir/queries.log" 2>"$dir/server.log" &
server=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port" 2>/dev/null)
[ -n "$port" ] || { echo "FAIL: DNS server did not start"; cat "$dir/server.log"; echo "dns: 0 passed, 1 failed"; exit 1; }

# ---- registry ----------------------------------------------------------------
mkdir "$dir/state"
id_common='owners = { dns = "dns@example.com"; platform = "p@example.com"; compliance = "c@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };'
cat >"$dir/bulkwarden.conf" <<EOF
milter = { socket = "unix:$dir/bw.sock"; pidfile = "$dir/bw.pid"; };
relay = { egress_ips = ["203.0.113.7"]; };
state = { backend = "sqlite"; path = "$dir/state/state.db"; };
log = { target = "file"; path = "$dir/events.jsonl"; };
dns = { nameservers = ["127.0.0.1:$port"]; timeout = 1; cache_ttl = 60; };
policy = { mode = "enforce"; min_dmarc_policy = "none"; };
identities = (
  { id = "good"; description = "all records right"; class = "transactional";
    $id_common
    credentials = { logins = ["svc-good"]; };
    envelope_domains = ["good.test"];
    dkim = ( { domain = "good.test"; selector = "nl"; key = "$dir/keys/good.rsa"; },
             { domain = "good.test"; selector = "ed"; key = "$dir/keys/good.ed"; } ); },
  { id = "bad"; description = "records wrong"; class = "transactional";
    $id_common
    credentials = { logins = ["svc-bad"]; };
    envelope_domains = ["bad.test", "*.bounce.bad.test"];
    from_domains = ["bad.test"];
    dkim = ( { domain = "bad.test"; selector = "old"; key = "$dir/keys/bad.rsa"; } ); },
  { id = "weak"; description = "policy too weak"; class = "transactional";
    $id_common
    credentials = { logins = ["svc-weak"]; };
    envelope_domains = ["weak.test"];
    min_dmarc_policy = "quarantine";
    dkim = ( { domain = "weak.test"; selector = "w1"; key = "$dir/keys/weak.rsa"; } ); },
  { id = "slow"; description = "DNS never answers"; class = "transactional";
    $id_common
    credentials = { logins = ["svc-slow"]; };
    envelope_domains = ["slow.test"]; }
);
EOF
conf=$dir/bulkwarden.conf

# run ARGS...: bulkwardenctl with the test config; sets rc, out, err, secs
run() {
	local t0 t1
	t0=$(date +%s%N)
	"$CTL" -c "$conf" "$@" >"$dir/out" 2>"$dir/err"
	rc=$?
	t1=$(date +%s%N)
	secs=$(((t1 - t0) / 1000000))
	out=$(cat "$dir/out")
	err=$(cat "$dir/err")
}
# q EXPR: evaluate a python expression over rows (the parsed JSON array)
q() {
	"$PY" -c '
import json, sys
rows = json.load(open(sys.argv[1]))
def row(ident, check, subject=None, domain=None):
    for r in rows:
        if r["identity"] == ident and r["check"] == check and \
           (subject is None or r["subject"] == subject) and (domain is None or r["domain"] == domain):
            return r
    raise SystemExit("no row %s %s %s" % (ident, check, subject))
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$dir/out" "$1" 2>>"$dir/q.err"
}
check() { # check NAME EXPR
	if q "$2"; then ok "$1"; else ko "$1: $2 ($(tail -n1 "$dir/q.err" 2>/dev/null))"; fi
}

# ---- all identities, JSON ------------------------------------------------------
run dns-check --json
if [ "$rc" -eq 1 ]; then ok "dns-check --json exits 1 when a record is wrong"; else ko "exit $rc, want 1: $err"; fi
if "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$dir/out" 2>/dev/null; then
	ok "--json output parses"
else
	ko "--json output does not parse: $(head -c 300 "$dir/out")"
fi
check "good: SPF pass for the egress IP, lookup count" \
	'row("good","spf","203.0.113.7")["status"]=="ok" and row("good","spf","203.0.113.7")["result"]=="pass" and row("good","spf","203.0.113.7")["lookups"]==0'
check "good: RSA DKIM key matches" 'row("good","dkim","nl")["status"]=="ok"'
check "good: Ed25519 DKIM key matches" 'row("good","dkim","ed")["status"]=="ok"'
check "good: DMARC p=quarantine found at the From domain" \
	'row("good","dmarc")["status"]=="ok" and row("good","dmarc")["policy"]=="quarantine" and row("good","dmarc")["method"]=="exact"'
check "good: DMARC has rua" 'row("good","dmarc-rua")["status"]=="ok" and row("good","dmarc-rua")["rua_count"]==1'
check "good: aligned" 'row("good","alignment")["status"]=="ok" and row("good","alignment")["aligned"] is True'
check "good: no failing row" 'all(r["status"]=="ok" for r in rows if r["identity"]=="good")'
check "bad: SPF fail" 'row("bad","spf","203.0.113.7")["status"]=="fail" and row("bad","spf","203.0.113.7")["result"]=="fail"'
check "bad: wildcard envelope domain skipped" 'row("bad","spf",domain="*.bounce.bad.test")["status"]=="skip"'
check "bad: another DKIM key published" \
	'row("bad","dkim","old")["status"]=="fail" and "another key" in row("bad","dkim","old")["detail"]'
check "bad: no DMARC record" 'row("bad","dmarc")["status"]=="fail" and "no DMARC record" in row("bad","dmarc")["detail"]'
check "weak: SPF pass through include (1 lookup)" 'row("weak","spf")["status"]=="ok" and row("weak","spf")["lookups"]==1'
check "weak: p=none below the required quarantine" \
	'row("weak","dmarc")["status"]=="fail" and row("weak","dmarc")["policy"]=="none" and row("weak","dmarc")["required"]=="quarantine"'
check "weak: no rua" 'row("weak","dmarc-rua")["status"]=="fail"'
check "weak: k= does not match the registered algorithm" \
	'row("weak","dkim","w1")["status"]=="fail" and "k=ed25519" in row("weak","dkim","w1")["detail"]'
check "weak: aligned by SPF (the DKIM key is wrong)" 'row("weak","alignment")["aligned"] is True and "SPF" in row("weak","alignment")["detail"]'
check "slow: SPF dns-error" 'row("slow","spf")["status"]=="dns-error"'
check "slow: DMARC dns-error" 'row("slow","dmarc")["status"]=="dns-error"'
# two unanswered lookups with dns.timeout = 1: each bounded by the timeout
if [ "$secs" -lt 5000 ]; then ok "whole run bounded ($secs ms)"; else ko "whole run took $secs ms"; fi

# ---- one identity ------------------------------------------------------------
run dns-check good --json
if [ "$rc" -eq 0 ]; then ok "dns-check good exits 0"; else ko "dns-check good exit $rc: $out $err"; fi
check "dns-check good lists only good" 'all(r["identity"]=="good" for r in rows) and len(rows)==6'
run dns-check good
if [ "$rc" -eq 0 ] && grep -q "^6 checks, 0 failed" "$dir/out" && grep -q "^IDENTITY" "$dir/out"; then
	ok "table output"
else
	ko "table output (rc $rc): $out"
fi
run dns-check bad
if [ "$rc" -eq 1 ] && grep -q "FAIL" "$dir/out"; then ok "table shows FAIL"; else ko "table bad (rc $rc): $out"; fi
run dns-check nosuch
if [ "$rc" -eq 1 ] && grep -q "no identity" "$dir/err"; then ok "unknown identity exits 1"; else ko "nosuch: rc $rc $err"; fi
run dns-check good bad
if [ "$rc" -eq 2 ]; then ok "two identities: usage error"; else ko "two ids: rc $rc"; fi

echo "dns: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
