#!/bin/bash
# policy.require_reapproval through the real milter (SPEC §10): a reload
# that changes a security-relevant field of an identity approved earlier
# makes it pending (mail refused at MAIL FROM, the decision event saying
# "changed since approval on DATE, re-approval required"); it stays pending
# across a restart (the change is read back from the state store's audit
# log); with require_reapproval = false it is accepted; renewing
# approval.date lifts it. bulkwarden -n, bulkwardenctl check and show say
# it. Prints PASS/FAIL lines and "reapproval: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
BULKWARDEN=${BULKWARDEN:-$here/../../bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
MILTERTEST=${MILTERTEST:-miltertest}
command -v "$MILTERTEST" >/dev/null || { echo "miltertest not found"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-reapproval.XXXXXX")
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

# the DMARC record of the From domain comes from a DNS server on loopback
/usr/bin/python3 "$here/../dns/dns_server.py" "$here/zone" "$dir/dns.port" 2>"$dir/dns.err" &
dnspid=$!
for _ in $(seq 100); do [ -s "$dir/dns.port" ] && break; sleep 0.05; done
[ -s "$dir/dns.port" ] || { echo "DNS server did not start:"; cat "$dir/dns.err"; exit 1; }

# conf REQUIRE LOGINS APPROVAL_DATE: write the registry
conf() {
	cat >"$dir/bulkwarden.conf" <<CONF
milter = { socket = "unix:$dir/bw.sock"; pidfile = "$dir/bw.pid"; };
relay = { egress_ips = ["192.0.2.25"]; };
state = { backend = "sqlite"; path = "$dir/state.db"; };
log = { target = "file"; path = "$dir/events.jsonl"; };
dns = { nameservers = ["127.0.0.1:$(cat "$dir/dns.port")"]; timeout = 2; cache_ttl = 0; };
policy = { require_reapproval = $1; };
identities = (
  { id = "newsletter"; description = "Weekly newsletter"; class = "marketing";
    owners = { dns = "dns@example.com"; platform = "martech@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "$3"; ticket = "SEC-1"; };
    lifecycle = { decommission = "2099-01-01"; };
    credentials = { logins = [$2]; networks = ["10.20.0.0/24"]; };
    envelope_domains = ["news.example.com"]; }
);
CONF
}
start() {
	"$BULKWARDEN" -f -c "$dir/bulkwarden.conf" 2>>"$dir/milter.err" &
	pid=$!
	for _ in $(seq 100); do [ -S "$dir/bw.sock" ] && return 0; sleep 0.05; done
	echo "milter did not start:"; cat "$dir/milter.err"; return 1
}
stop() {
	kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
	rm -f "$dir/bw.sock"
}
ctl() { "$BULKWARDENCTL" -c "$dir/bulkwarden.conf" "$@"; }
# reload and wait for its config-reload audit event (the Nth)
n_reloads=0
reload() {
	n_reloads=$((n_reloads + 1))
	ctl reload >/dev/null || ko "bulkwardenctl reload"
	for _ in $(seq 100); do
		[ "$(grep -c '"event.action":"config-reload"' "$dir/events.jsonl")" -ge "$n_reloads" ] && return 0
		sleep 0.05
	done
	ko "reload $n_reloads not confirmed by a config-reload event"
}
lua() {
	local out rc
	out=$("$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" \
		-D expect="$1" -D step="$2" -s "$here/state/reapproval.lua" 2>&1)
	rc=$?
	echo "$out" | grep -E '^(PASS|FAIL):'
	pass=$((pass + $(echo "$out" | grep -c '^PASS:')))
	fail=$((fail + $(echo "$out" | grep -c '^FAIL:')))
	if [ $rc -ne 0 ] && ! echo "$out" | grep -q '^FAIL:'; then ko "$2: miltertest exited $rc: $out"; fi
}

today=$(date -u +%Y-%m-%d)
why="changed since approval on 2026-01-15, re-approval required"
conf true '"svc-news"' 2026-01-15
start || exit 1
n_reloads=1
lua accept "approved, unchanged"

# a login added after the approval date: pending from this reload on
conf true '"svc-news", "svc-news2"' 2026-01-15
reload
lua pending "after the reload that added a login"
check "the milter logs that the reload made it pending" 'grep -q "identity newsletter is pending: $why" "$dir/milter.err"'
out=$(ctl audit --json | /usr/bin/python3 -c 'import json,sys; print([(r["identity"], r["detail"]) for r in json.load(sys.stdin) if r["action"] == "config-change"])')
check "the reload wrote its config-change record ($out)" '[ "$out" = "[('"'"'newsletter'"'"', '"'"'+login svc-news2'"'"')]" ]'
out=$("$BULKWARDEN" -n -c "$dir/bulkwarden.conf" 2>&1); rc=$?
check "bulkwarden -n: valid (0) and says the identity is pending ($out)" \
	'[ $rc -eq 0 ] && echo "$out" | grep -qx "note: identity newsletter is pending: $why"'
out=$(ctl check 2>&1); rc=$?
check "bulkwardenctl check says it" '[ $rc -eq 0 ] && echo "$out" | grep -qx "note: identity newsletter is pending: $why"'
out=$(ctl check --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["reapproval"], d["notes"][0]["why"])' 2>&1)
check "check --json: the note and that re-approval was evaluated ($out)" '[ "$out" = "True $why" ]'
out=$(ctl show newsletter 2>&1)
check "bulkwardenctl show says it" 'echo "$out" | grep -qx "state:            pending: $why" &&
	echo "$out" | grep -q "^last change:.*after its approval: re-approve"'
out=$(ctl show newsletter --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["lifecycle"], d["changed_since_approval"], d["lifecycle_why"])' 2>&1)
check "show --json: lifecycle, changed_since_approval, why ($out)" '[ "$out" = "pending True $why" ]'

# a restart reads the change back from the store: still pending
stop
start || exit 1
n_reloads=$((n_reloads + 1))
lua pending "after a restart"

# require_reapproval = false: the same registry is accepted
conf false '"svc-news", "svc-news2"' 2026-01-15
reload
lua accept "require_reapproval = false"
out=$("$BULKWARDEN" -n -c "$dir/bulkwarden.conf" 2>&1)
check "bulkwarden -n says nothing with require_reapproval = false" '! echo "$out" | grep -q "^note:"'
# ... and back to true: the change is carried over the reloads
conf true '"svc-news", "svc-news2"' 2026-01-15
reload
lua pending "require_reapproval = true again"

# renewed approval: accepted, after a reload and after a restart
conf true '"svc-news", "svc-news2"' "$today"
reload
lua accept "re-approved today (reload)"
stop
start || exit 1
n_reloads=$((n_reloads + 1))
lua accept "re-approved today (restart)"
out=$(ctl check 2>&1)
check "check: no note once re-approved" '! echo "$out" | grep -q "^note: identity newsletter"'
stop

# a store with no database yet: -n and check evaluate re-approval (nothing
# recorded: nothing pending) and create nothing
sed -i "s|path = \"$dir/state.db\"|path = \"$dir/fresh/state.db\"|" "$dir/bulkwarden.conf"
mkdir "$dir/fresh"
out=$("$BULKWARDEN" -n -c "$dir/bulkwarden.conf" 2>&1); rc=$?
check "-n on a store not created yet: valid (0), no note, nothing created ($out)" \
	'[ $rc -eq 0 ] && ! echo "$out" | grep -q "^note:" && [ -z "$(ls -A "$dir/fresh")" ]'
out=$(ctl check 2>&1); rc=$?
check "check on a store not created yet: valid (0), nothing created" \
	'[ $rc -eq 0 ] && [ -z "$(ls -A "$dir/fresh")" ]'

echo "reapproval: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
