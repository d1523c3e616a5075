#!/bin/bash
# New sending paths through the real milter (SPEC §9, issue 15): the first
# message of an identity from a new client network (/24, /64) or SASL login
# writes a new-sending-path audit record (actor bulkwarden) and gets
# policy.governance.new_sending_path.action: alert accepts, quarantine
# holds it, tempfail defers it (and every later one) until
# `bulkwardenctl paths approve`. A known path adds no record; the decision
# event lists the check. Prints PASS/FAIL lines and "paths: N passed, N
# failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
BULKWARDEN=${BULKWARDEN:-$here/../../bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
MILTERTEST=${MILTERTEST:-miltertest}
command -v "$MILTERTEST" >/dev/null || { echo "miltertest not found"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-paths.XXXXXX")
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

/usr/bin/python3 "$here/../dns/dns_server.py" "$here/zone" "$dir/dns.port" 2>"$dir/dns.err" &
dnspid=$!
for _ in $(seq 100); do [ -s "$dir/dns.port" ] && break; sleep 0.05; done
[ -s "$dir/dns.port" ] || { echo "DNS server did not start:"; cat "$dir/dns.err"; exit 1; }

# conf ACTION: the registry with new_sending_path.action = ACTION
conf() {
	cat >"$dir/bulkwarden.conf" <<CONF
milter = { socket = "unix:$dir/bw.sock"; pidfile = "$dir/bw.pid"; };
relay = { egress_ips = ["192.0.2.25"]; };
state = { backend = "sqlite"; path = "$dir/state.db"; };
log = { target = "file"; path = "$dir/events.jsonl"; };
dns = { nameservers = ["127.0.0.1:$(cat "$dir/dns.port")"]; timeout = 2; cache_ttl = 0; };
policy = { actions = { dmarc = "accept"; spf = "accept"; };   # no records for the vendor domain here
           governance = { new_sending_path = { action = "$1"; }; }; };
identities = (
  { id = "newsletter"; description = "Weekly newsletter"; class = "marketing";
    owners = { dns = "dns@example.com"; platform = "martech@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };
    lifecycle = { decommission = "2099-01-01"; };
    credentials = { logins = ["svc-news", "svc-news2"]; networks = ["10.20.0.0/16", "2001:db8::/32"]; };
    envelope_domains = ["news.example.com"]; },
  { id = "vendor"; description = "ESP, signs with its own key"; class = "transactional";
    platform = "ExampleSend Inc.";
    owners = { dns = "dns@example.com"; platform = "vendors@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-3"; };
    credentials = { logins = ["svc-esp"]; };
    envelope_domains = ["events.example.com"];
    dkim_mode = "verify";
    dkim = ( { domain = "events.example.com"; selector = "esp1"; key = "$here/../dkim/vendor-rsa.pub"; } ); }
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
# send IP LOGIN EXPECT DETAIL
send() {
	local out rc
	out=$("$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" \
		-D ip="$1" -D login="$2" -D expect="$3" -D detail="$4" -s "$here/paths/send.lua" 2>&1)
	rc=$?
	echo "$out" | grep -E '^(PASS|FAIL):'
	pass=$((pass + $(echo "$out" | grep -c '^PASS:')))
	fail=$((fail + $(echo "$out" | grep -c '^FAIL:')))
	[ $rc -ne 0 ] && ! echo "$out" | grep -q '^FAIL:' && ko "miltertest exited $rc: $out"
	return 0
}
nsp() { grep -c '"event.action":"new-sending-path"' "$dir/events.jsonl"; }

conf alert
start || exit 1

# alert: the first message through a network and a login is accepted; two
# records, actor bulkwarden, naming the identity, the kind and the path
send 10.20.1.5 svc-news accept "new network:10.20.1.0/24"
check "alert: two new-sending-path audit events (network and login)" '[ "$(nsp)" -eq 2 ]'
check "alert: the network record names identity, kind and path" \
	'grep "\"event.action\":\"new-sending-path\"" "$dir/events.jsonl" | grep "kind=network path=network:10.20.1.0/24" | grep "\"bulkwarden.actor\":\"bulkwarden\"" | grep -q "\"bulkwarden.identity.id\":\"newsletter\""'
check "alert: the login record names login:svc-news" \
	'grep "\"event.action\":\"new-sending-path\"" "$dir/events.jsonl" | grep -q "path=login:svc-news"'
# the same /24 and login again: known, no record
send 10.20.1.77 svc-news accept "known network:10.20.1.0/24"
check "a known path writes no record" '[ "$(nsp)" -eq 2 ]'
# IPv6: the /64
send 2001:db8:1:2::5 svc-news accept "new network:2001:db8:1:2::/64"
check "IPv6 client: one record for the /64" '[ "$(nsp)" -eq 3 ] && grep -q "path=network:2001:db8:1:2::/64" "$dir/events.jsonl"'
send 2001:db8:1:2:ffff::9 svc-news accept "known network:2001:db8:1:2::/64"
check "IPv6: another host of the /64 is known" '[ "$(nsp)" -eq 3 ]'
# a new login from a known network
send 10.20.1.6 svc-news2 accept "new login:svc-news2"
check "a new login from a known network: one record" '[ "$(nsp)" -eq 4 ]'
out=$(ctl paths newsletter --json)
check "paths --json lists the four known paths" \
	'[ "$(echo "$out" | grep -o "\"state\":\"known\"" | wc -l)" -eq 4 ] && echo "$out" | grep -q "\"path\":\"login:svc-news2\""'

# a restarted milter (empty cache) knows them from the store
kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
start || exit 1
send 10.20.1.8 svc-news accept "known network:10.20.1.0/24"
check "after a restart the paths are known from the store" '[ "$(nsp)" -eq 4 ]'

# quarantine: the first message through a new path is held, the next not
conf quarantine
reload || ko "reload to quarantine"
send 10.20.2.5 svc-news quarantine "new network:10.20.2.0/24"
check "quarantine: one record" '[ "$(nsp)" -eq 5 ]'
send 10.20.2.6 svc-news accept "known network:10.20.2.0/24"

# tempfail: deferred at MAIL FROM until approved, one record only
conf tempfail
reload || ko "reload to tempfail"
send 10.20.3.5 svc-news tempfail "new network:10.20.3.0/24"
send 10.20.3.6 svc-news tempfail "network:10.20.3.0/24 awaits"
check "tempfail: one record for two deferred messages" '[ "$(nsp)" -eq 6 ]'
check "paths shows the path pending" 'ctl paths newsletter | grep "network:10.20.3.0/24" | grep -q pending'
out=$(ctl paths approve newsletter network:10.20.3.0/24 2>&1); rc=$?
check "paths approve without --by is a usage error (exit 2)" '[ $rc -eq 2 ]'
out=$(ctl paths approve newsletter network:10.99.0.0/24 --by ciso@example.com 2>&1); rc=$?
check "approving a path never seen fails (exit 1)" '[ $rc -eq 1 ] && echo "$out" | grep -q "no sending path"'
out=$(ctl paths approve newsletter network:10.20.3.0/24 --by ciso@example.com --ticket CHG-9 2>&1); rc=$?
check "paths approve: done, with an audit record" '[ $rc -eq 0 ] && echo "$out" | grep -q "audit record"'
check "the path-approve audit event names approver and ticket" \
	'grep "\"event.action\":\"path-approve\"" "$dir/events.jsonl" | grep -q "CHG-9"'
send 10.20.3.7 svc-news accept "known network:10.20.3.0/24"
out=$(ctl paths approve newsletter network:10.20.3.0/24 --by ciso@example.com 2>&1); rc=$?
check "approving again changes nothing" '[ $rc -eq 0 ] && echo "$out" | grep -q "already approved"'

# a vendor (platform not in-house, dkim_mode verify): the DKIM key of its
# verified signature is a path too, judged at end of message
vendor() { # TAG EXPECT DETAIL
	printf 'From: Events <invite@events.example.com>\r\nTo: guest@example.net\r\nSubject: You are invited\r\nDate: %s\r\nMessage-ID: <%s.%s@events.example.com>\r\n\r\nSee you there.\r\n' \
		"$(date -R)" "$1" "$$" >"$dir/$1.raw"
	/usr/bin/python3 "$here/../dkim/sign.py" "$dir/$1.raw" --key "$here/../dkim/vendor-rsa.pem" \
		--domain events.example.com --selector esp1 >"$dir/$1.eml" || { ko "sign $1"; return; }
	local out rc
	out=$("$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" \
		-D eml="$dir/$1.eml" -D expect="$2" -D detail="$3" -s "$here/paths/vendor.lua" 2>&1)
	rc=$?
	echo "$out" | grep -E '^(PASS|FAIL):'
	pass=$((pass + $(echo "$out" | grep -c '^PASS:')))
	fail=$((fail + $(echo "$out" | grep -c '^FAIL:')))
	[ $rc -ne 0 ] && ! echo "$out" | grep -q '^FAIL:' && ko "miltertest exited $rc: $out"
}
check "bulkwardenctl audit lists new-sending-path records by bulkwarden" \
	'[ "$(ctl audit | grep new-sending-path | grep -c bulkwarden)" -eq 6 ]'
vendor v0 mailtempfail "new network:10.60.0.0/24"
ctl paths approve vendor network:10.60.0.0/24 --by ciso@example.com >/dev/null &&
	ctl paths approve vendor login:svc-esp --by ciso@example.com >/dev/null ||
	ko "approve the vendor's network and login"
vendor v1 tempfail "new dkim:events.example.com/esp1"
check "vendor: one record for the key (after one each for its network and login)" \
	'[ "$(nsp)" -eq 9 ] && grep "\"event.action\":\"new-sending-path\"" "$dir/events.jsonl" | grep -q "kind=dkim path=dkim:events.example.com/esp1"'
ctl paths approve vendor dkim:events.example.com/esp1 --by ciso@example.com >/dev/null ||
	ko "approve the vendor's key"
vendor v2 accept "known dkim:events.example.com/esp1"
check "an in-house identity has no dkim path" '! ctl paths newsletter | grep -q "dkim:"' 

# state export keeps the paths; an import into a new store has them all
ctl state export "$dir/export.jsonl" 2>/dev/null || ko "state export"
sed "s|$dir/state.db|$dir/state2.db|" "$dir/bulkwarden.conf" >"$dir/copy.conf"
out=$("$BULKWARDENCTL" -c "$dir/copy.conf" state import "$dir/export.jsonl" 2>&1)
check "state import restores the sending paths ($out)" \
	'[ "$(ctl paths --json)" = "$("$BULKWARDENCTL" -c "$dir/copy.conf" paths --json)" ] && [ "$(grep -c "\"kind\":\"path\"" "$dir/export.jsonl")" -eq 9 ]'

check "the audit chain verifies" 'ctl audit --verify >/dev/null'

# dormancy: an identity that sent before but nothing for dormant_days (1
# here) wakes up through a new path named after its last day; one that
# sent within the window does not. A fresh store with that history.
kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
conf tempfail
sed -i "s|$dir/state.db|$dir/state3.db|; s|governance = {|governance = { dormant_days = 1;|" "$dir/bulkwarden.conf"
now=$(date +%s)
old=$(( (now - 3 * 86400) / 3600 * 3600 )) recent=$(( (now - 7200) / 3600 * 3600 ))
oldday=$(date -u -d "@$old" +%Y-%m-%d)
row() { echo "{\"kind\":\"counter\",\"id\":\"$1\",\"hour\":$2,\"counts\":{\"messages\":3,\"recipients\":3,\"bytes\":300,\"accepted\":3,\"rejected\":0,\"quarantined\":0,\"tempfailed\":0}}"; }
{
	echo '{"kind":"bulkwarden-state","format":1,"backend":"sqlite","exported":"2026-01-01T00:00:00Z"}'
	row newsletter "$old"
	row vendor "$recent"
	echo '{"kind":"path","id":"newsletter","path":"network:10.20.1.0/24","first_seen":1768435200,"pending":false,"approved_at":0,"approved_by":"","ticket":""}'
	echo '{"kind":"path","id":"newsletter","path":"login:svc-news","first_seen":1768435200,"pending":false,"approved_at":0,"approved_by":"","ticket":""}'
	echo '{"kind":"path","id":"vendor","path":"network:10.20.1.0/24","first_seen":1768435200,"pending":false,"approved_at":0,"approved_by":"","ticket":""}'
	echo '{"kind":"path","id":"vendor","path":"login:svc-esp","first_seen":1768435200,"pending":false,"approved_at":0,"approved_by":"","ticket":""}'
	echo '{"kind":"end","audit":0,"suspensions":0,"counters":2,"usage":0,"paths":4}'
} >"$dir/dormant.jsonl"
out=$(ctl state import "$dir/dormant.jsonl" 2>&1) || ko "import the dormancy history: $out"
start || exit 1
n0=$(nsp)
send 10.20.1.5 svc-news tempfail "new dormant:$oldday"
check "dormant identity: one new-sending-path record for dormant:$oldday" \
	'[ "$(nsp)" -eq $((n0 + 1)) ] && grep "\"event.action\":\"new-sending-path\"" "$dir/events.jsonl" | tail -n 1 | grep -q "kind=dormant path=dormant:$oldday"'
send 10.20.1.6 svc-news tempfail "dormant:$oldday awaits"
ctl paths approve newsletter "dormant:$oldday" --by ciso@example.com --ticket CHG-7 >/dev/null || ko "approve dormant:$oldday"
send 10.20.1.7 svc-news accept "known dormant:$oldday"
check "the dormancy wrote one record only" '[ "$(nsp)" -eq $((n0 + 1)) ]'
cat >"$dir/awake.lua" <<LUA
dofile(libdir .. "/lib.lua")
T.run("an identity that sent within dormant_days is not dormant", function()
	local before = T.decisions()
	local conn = T.connect("10.20.1.5")
	T.check(T.mail(conn, "svc-esp", "<invite@events.example.com>") == SMFIR_CONTINUE, "mail continue")
	mt.disconnect(conn)
	T.check(T.wait_decisions(before + 1), "its decision event")
	local ev = T.last_decision()
	T.has(ev, "bulkwarden.identity.id", "vendor")
	T.check(string.find(ev, "dormant:", 1, true) == nil, "no dormant path: " .. ev)
end)
LUA
out=$("$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" -s "$dir/awake.lua" 2>&1)
if echo "$out" | grep -q '^PASS'; then ok "an identity that sent within dormant_days is not dormant"; else ko "awake identity: $out"; fi
check "no record for the awake identity" '[ "$(nsp)" -eq $((n0 + 1)) ]'
check "the audit chain verifies (dormancy store)" 'ctl audit --verify >/dev/null'

echo "paths: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
