#!/bin/bash
# tests/dns/dnssec.sh - DNSSEC through libunbound's validator, seen from
# `bulkwardenctl dns-check` with dns.dnssec = true and the test's own
# trust anchor. The loopback server (tests/dns/dns_server.py) serves:
#   sec.test    - signed here with ldns-keygen/ldns-signzone (ldnsutils):
#                 SPF, DKIM and DMARC records reported "signed";
#   forged      - forged.sec.test's SPF record altered after signing: the
#                 signature fails, the row is dns-error ("bogus"), never
#                 a pass;
#   plain.test  - an unsigned zone: its rows are reported "unsigned".
# Prints PASS:/FAIL: lines and "dnssec: N passed, N failed"; exits 1 on
# any failure, 77 (skip) without bulkwardenctl, python3-dnspython,
# ldnsutils or openssl.
#
# Environment: BULKWARDENCTL (default ./bulkwardenctl), top_srcdir.
set -u
here=$(cd "$(dirname "$0")" && pwd)
CTL=${BULKWARDENCTL:-./bulkwardenctl}
PY=/usr/bin/python3
[ -x "$CTL" ] || { echo "SKIP: bulkwardenctl not found at $CTL"; exit 77; }
"$PY" -c 'import dns.message, dns.zone' 2>/dev/null || { echo "SKIP: needs python3-dnspython"; exit 77; }
command -v ldns-signzone >/dev/null || { echo "SKIP: needs ldnsutils"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: needs openssl"; exit 77; }
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")

dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-dnssec.XXXXXX")
server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
die() { ko "$1"; echo "dnssec: $pass passed, $fail failed"; exit 1; }

# ---- keys and the signed zone ------------------------------------------------
mkdir -m 700 "$dir/keys"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/keys/sec.rsa" 2>/dev/null
chmod 600 "$dir/keys/sec.rsa"
pub=$(openssl pkey -in "$dir/keys/sec.rsa" -pubout -outform DER 2>/dev/null | base64 -w0)
[ -n "$pub" ] || die "DKIM key generation"
cd "$dir" || exit 1
ksk=$(ldns-keygen -k -a ECDSAP256SHA256 sec.test) || die "ldns-keygen KSK"
zsk=$(ldns-keygen -a ECDSAP256SHA256 sec.test) || die "ldns-keygen ZSK"
cat >"$dir/sec.zone" <<EOF
\$ORIGIN sec.test.
\$TTL 300
@ IN SOA ns.sec.test. hostmaster.sec.test. 1 3600 600 86400 300
@ IN NS ns.sec.test.
ns IN A 127.0.0.1
@ IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@sec.test"
nl._domainkey IN TXT "v=DKIM1; k=rsa; " "p=${pub:0:200}" "${pub:200}"
forged IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
EOF
ldns-signzone -f "$dir/sec.signed" "$dir/sec.zone" "$zsk" "$ksk" || die "ldns-signzone"
# forge forged.sec.test's record: its RRSIG no longer matches
sed -i '/^forged\.sec\.test\..*TXT/s|ip4:203\.0\.113\.0/24 -all|+all|' "$dir/sec.signed"
grep -q '^forged\.sec\.test\..*TXT.*+all' "$dir/sec.signed" || die "forging the record"
cp "$ksk.key" "$dir/anchor.key"
cd - >/dev/null || exit 1

cat >"$dir/zone" <<EOF
@signed $dir/sec.signed sec.test.
plain.test TXT v=spf1 ip4:203.0.113.0/24 -all
_dmarc.plain.test TXT v=DMARC1; p=quarantine; rua=mailto:dmarc@plain.test
EOF
"$PY" "$here/dns_server.py" "$dir/zone" "$dir/port" "$dir/queries.log" 2>"$dir/server.log" &
server=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port" 2>/dev/null)
[ -n "$port" ] || { cat "$dir/server.log"; die "DNS server did not start"; }

# ---- registry ----------------------------------------------------------------
mkdir "$dir/state"
id_common='owners = { dns = "dns@example.com"; platform = "p@example.com"; compliance = "c@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };'
cat >"$dir/bulkwarden.conf" <<EOF
milter = { socket = "unix:$dir/bw.sock"; pidfile = "$dir/bw.pid"; };
relay = { egress_ips = ["203.0.113.7"]; };
state = { backend = "sqlite"; path = "$dir/state/state.db"; };
log = { target = "file"; path = "$dir/events.jsonl"; };
dns = { nameservers = ["127.0.0.1:$port"]; timeout = 2; cache_ttl = 60;
        dnssec = true; trust_anchor = "$dir/anchor.key"; };
policy = { mode = "enforce"; min_dmarc_policy = "none"; };
identities = (
  { id = "sec"; description = "signed zone"; class = "transactional";
    $id_common
    credentials = { logins = ["svc-sec"]; };
    envelope_domains = ["sec.test"];
    dkim = ( { domain = "sec.test"; selector = "nl"; key = "$dir/keys/sec.rsa"; } ); },
  { id = "forged"; description = "signature broken"; class = "transactional";
    $id_common
    credentials = { logins = ["svc-forged"]; };
    envelope_domains = ["forged.sec.test"]; },
  { id = "plain"; description = "unsigned zone"; class = "transactional";
    $id_common
    credentials = { logins = ["svc-plain"]; };
    envelope_domains = ["plain.test"]; }
);
EOF
conf=$dir/bulkwarden.conf

"$CTL" -c "$conf" dns-check --json >"$dir/out" 2>"$dir/err"
rc=$?
q() {
	"$PY" -c '
import json, sys
rows = json.load(open(sys.argv[1]))
def row(ident, check, subject=None):
    for r in rows:
        if r["identity"] == ident and r["check"] == check and (subject is None or r["subject"] == subject):
            return r
    raise SystemExit("no row %s %s %s" % (ident, check, subject))
sys.exit(0 if eval(sys.argv[2]) else 1)
' "$dir/out" "$1" 2>>"$dir/q.err"
}
check() { # check NAME EXPR
	if q "$2"; then ok "$1"; else ko "$1: $2 ($(tail -n1 "$dir/q.err" 2>/dev/null)) $(head -c 1500 "$dir/out") $(cat "$dir/err")"; fi
}
if [ "$rc" -eq 1 ]; then ok "dns-check exits 1 (the forged record)"; else ko "exit $rc, want 1: $(cat "$dir/err")"; fi
check "sec: SPF pass, signed" 'row("sec","spf")["status"]=="ok" and row("sec","spf")["dnssec"]=="signed"'
check "sec: DKIM key matches, signed" 'row("sec","dkim","nl")["status"]=="ok" and row("sec","dkim","nl")["dnssec"]=="signed"'
check "sec: DMARC found, signed" 'row("sec","dmarc")["status"]=="ok" and row("sec","dmarc")["dnssec"]=="signed"'
check "forged: bogus SPF record is dns-error, never a pass" \
	'row("forged","spf")["status"]=="dns-error" and row("forged","spf")["result"]!="pass" and row("forged","spf")["dnssec"]=="bogus"'
check "forged: the detail says why" '"bogus" in row("forged","spf")["detail"]'
check "plain: SPF pass, unsigned" 'row("plain","spf")["status"]=="ok" and row("plain","spf")["dnssec"]=="unsigned"'
check "plain: DMARC found, unsigned" 'row("plain","dmarc")["status"]=="ok" and row("plain","dmarc")["dnssec"]=="unsigned"'

# table output names the state too
"$CTL" -c "$conf" dns-check sec >"$dir/out" 2>"$dir/err"
if grep -q "DNSSEC signed" "$dir/out"; then ok "table output shows DNSSEC signed"; else ko "table: $(cat "$dir/out")"; fi

# without a readable trust anchor: a clear startup error, nothing checked
sed -i "s|trust_anchor = \"$dir/anchor.key\"|trust_anchor = \"$dir/missing.key\"|" "$conf"
"$CTL" -c "$conf" dns-check sec >"$dir/out" 2>"$dir/err"
rc=$?
if [ "$rc" -ne 0 ] && grep -q "trust_anchor" "$dir/err"; then ok "missing trust anchor refused"; else ko "missing anchor: rc $rc $(cat "$dir/err")"; fi

echo "dnssec: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
