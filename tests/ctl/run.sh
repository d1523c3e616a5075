#!/bin/bash
# CLI tests for bulkwardenctl: every verb and every usage error (exit codes
# 0/1/2), --json output parsed by python3, suspensions and their audit
# records and events, expiry, the hash chain (recomputed independently and
# tampered with), store errors (missing directory, corrupt file, newer
# schema, a lock held by another process), reload against fake milters, and
# escaping of hostile values. Prints PASS/FAIL lines and
# "ctl: N passed, N failed"; exits 1 on any failure.
#
# Environment: BULKWARDENCTL (default ./bulkwardenctl), top_srcdir.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
CTL=${BULKWARDENCTL:-./bulkwardenctl}
PY=/usr/bin/python3
[ -x "$CTL" ] || { echo "bulkwardenctl not found at $CTL"; exit 1; }
[ -x "$PY" ] || { echo "$PY not found"; exit 1; }
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")

dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-ctl.XXXXXX")
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

mkdir "$dir/state"
sed "s|@DIR@|$dir|g" "$here/bulkwarden.conf.in" >"$dir/bulkwarden.conf"
cp -r "$here/identities.d" "$dir/"
conf=$dir/bulkwarden.conf
db=$dir/state/state.db
events=$dir/events.jsonl

# run ARGS...: bulkwardenctl with the test config; sets rc, out, err
run() {
	"$CTL" -c "$conf" "$@" >"$dir/out" 2>"$dir/err"
	rc=$?
	out=$(cat "$dir/out")
	err=$(cat "$dir/err")
}
# expect NAME RC [PATTERN]: the last run exited RC and out+err matches PATTERN
expect() {
	local name=$1 want=$2 pat=${3:-}
	if [ "$rc" -ne "$want" ]; then
		ko "$name (exit $rc, want $want: $(echo "$out $err" | head -c 300))"
	elif [ -n "$pat" ] && ! printf '%s\n%s\n' "$out" "$err" | grep -qE -- "$pat"; then
		ko "$name (no /$pat/ in: $(echo "$out $err" | head -c 300))"
	else
		ok "$name"
	fi
}
# usage NAME ARGS...: exit 2 with a one-line usage on stderr
usage() {
	local name=$1
	shift
	run "$@"
	if [ "$rc" -eq 2 ] && echo "$err" | grep -q '^usage: bulkwardenctl' && [ -z "$out" ]; then
		ok "usage error: $name"
	else
		ko "usage error: $name (exit $rc: $err)"
	fi
}
# json NAME PYEXPR: stdout of the last run parses; PYEXPR on d is true
json() {
	if echo "$out" | "$PY" -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($2) else 1)" 2>/dev/null; then
		ok "$1"
	else
		ko "$1 (json: $(echo "$out" | head -c 300))"
	fi
}
# sql DB STATEMENT...: change a database behind bulkwarden's back
sql() {
	"$PY" - "$@" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
for s in sys.argv[2:]:
    db.execute(s)
db.close()
PY
}

# ---- global options and dispatch ---------------------------------------
run -h; expect "-h lists the verbs" 0 "reinstate ID --reason R --by WHO --ticket T"
run -V; expect "-V prints the version" 0 "^bulkwardenctl [0-9]"
usage "no verb"
usage "unknown verb" frobnicate
usage "unknown global option" --bogus list
usage "-c without a value" -c
run show --help; expect "verb --help prints its usage" 0 "usage: bulkwardenctl .*show ID"

# ---- check ---------------------------------------------------------------
run check; expect "check accepts the test registry" 0 "OK, 5 identities, revision [0-9a-f]{16}"
expect "check notes pending and retired identities" 0 "note: identity unowned is pending"
run check --json; json "check --json" "d['ok'] and d['identities'] == 5 and len(d['notes']) == 2"
usage "check with an argument" check extra
printf 'policy = { mode = "enforce"; bogus = 1; };\n' >"$dir/bad.conf"
"$CTL" -c "$dir/bad.conf" check >"$dir/out" 2>"$dir/err"; rc=$?; out=$(cat "$dir/out"); err=$(cat "$dir/err")
expect "check refuses a bad config naming file:line and key" 1 "bad.conf:1.*bogus"
"$CTL" -c "$dir/bad.conf" --json check >"$dir/out" 2>/dev/null; rc=$?; out=$(cat "$dir/out")
if [ $rc -eq 1 ]; then json "check --json on a bad config" "not d['ok'] and len(d['errors']) >= 1"; else ko "check --json bad config exit $rc"; fi
"$CTL" -c "$dir/none.conf" list >/dev/null 2>"$dir/err"; rc=$?; err=$(cat "$dir/err"); out=
expect "a missing config file fails" 1 "none.conf"

# ---- list / show / stats before any change ---------------------------------
run list; expect "list shows every identity" 0 "receipts +transactional +active"
expect "list shows retired and pending" 0 "old +notification +retired +2020-01-20"
run list --json; json "list --json" "len(d) == 5 and [x['id'] for x in d] == sorted(x['id'] for x in d) and d[0]['owners']['dns'] == 'dns@example.com'"
run --json list; json "global --json before the verb" "isinstance(d, list) and len(d) == 5"
usage "list with an argument" list newsletter
usage "list with a foreign option" list --reason x
run show newsletter; expect "show an identity" 0 "networks: +10.20.0.0/24, 2001:db8:20::/48"
expect "show limits and counters" 0 "this hour: +0 messages \(limit 5000\)"
run show newsletter --json; json "show --json" "d['id'] == 'newsletter' and d['limits']['per_day'] == 50000 and d['logins'] == ['svc-news'] and not d['suspended']"
run show nosuch; expect "show an unknown identity exits 1" 1 "no identity \"nosuch\""
usage "show without an id" show
usage "show with two ids" show newsletter receipts
run stats; expect "stats" 0 "newsletter +this-hour"
run stats --json; json "stats --json" "len(d['identities']) == 5 and d['identities'][0]['limits']['per_hour'] == 5000"
run stats newsletter --json; json "stats ID --json" "len(d['identities']) == 1 and d['identities'][0]['hours'] == []"
run stats nosuch; expect "stats of an unknown identity exits 1" 1 "no identity"
usage "stats with two ids" stats a b

# ---- suspend: usage errors ---------------------------------------------------
usage "suspend without an id" suspend --reason r --by a
usage "suspend without --reason" suspend newsletter --by a
usage "suspend without --by" suspend newsletter --reason r
usage "suspend with an empty --reason" suspend newsletter --reason "" --by a
usage "suspend with --reason missing its value" suspend newsletter --by a --reason
usage "suspend with two ids" suspend newsletter receipts --reason r --by a
usage "suspend with an unknown option" suspend newsletter --reason r --by a --force
usage "suspend with a malformed --until" suspend newsletter --reason r --by a --until tomorrow
usage "suspend with a bad date" suspend newsletter --reason r --by a --until 2026-02-30
usage "suspend with --until in the past" suspend newsletter --reason r --by a --until 2020-01-01
usage "suspend with a zero duration" suspend newsletter --reason r --by a --until 0h
usage "suspend with --until beyond ten years" suspend newsletter --reason r --by a --until 5000d
usage "suspend with an over-long reason" suspend newsletter --by a --reason "$(head -c 600 /dev/zero | tr '\0' x)"
run suspend newsletter --reason r --by a --until yesterday
expect "a bad --until names the accepted formats" 2 "ISO 8601.*2h"
run suspend nosuch --reason r --by a; expect "suspend an unknown identity exits 1" 1 "no identity \"nosuch\""
n=$("$PY" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from audit').fetchone()[0])" "$db")
[ "$n" = 0 ] && ok "refused suspends wrote nothing" || ko "refused suspends wrote $n audit records"

# ---- suspend / reinstate -------------------------------------------------------
run suspend newsletter --reason "spam complaints" --by alice@example.com --ticket SEC-9 --until 2h
expect "suspend" 0 "suspended newsletter \(audit record 1, hash [0-9a-f]{16}\)"
run list; expect "list shows the suspension" 0 "newsletter +marketing +active\+suspended"
run list --json; json "list --json shows the suspension" "[x for x in d if x['id'] == 'newsletter'][0]['suspension']['by'] == 'alice@example.com' and [x for x in d if x['id'] == 'receipts'][0]['suspended'] is False"
run show newsletter; expect "show shows the suspension" 0 "suspended: +since .* by alice@example.com, until .*, ticket SEC-9: spam complaints"
if "$PY" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
e = ev[-1]
assert e["event.dataset"] == "bulkwarden.audit" and e["event.action"] == "suspend", e
assert e["bulkwarden.actor"] == "alice@example.com" and e["bulkwarden.ticket"] == "SEC-9"
assert e["bulkwarden.identity.id"] == "newsletter" and e["bulkwarden.audit.seq"] == 1
assert e["bulkwarden.audit.prev_hash"] == "0" * 64 and len(e["bulkwarden.audit.hash"]) == 64
assert e["event.reason"] == "spam complaints" and e["event.id"] and e["@timestamp"]
' "$events" 2>"$dir/err"; then ok "suspend wrote the audit event"; else ko "suspend audit event: $(cat "$dir/err")"; fi
run suspend newsletter --reason "still bad" --by bob --json
json "a longer second suspend extends the first (--json record)" "d['seq'] == 2 and 'extends the suspension since' in d['detail'] and 'by alice@example.com' in d['detail'] and 'until reinstated' in d['detail']"
# SPEC §6: suspend never shortens or lifts the suspension in force, and the
# one who suspended cannot reinstate
run suspend newsletter --reason "false alarm" --by mallory --until 2s
expect "a timed suspend does not shorten an indefinite one" 1 "already suspended until reinstated .*never shortened"
run suspend newsletter --reason "again" --by bob
expect "an equal suspend changes nothing" 1 "already suspended until reinstated"
run reinstate newsletter --reason "done" --by alice@example.com --ticket SEC-9
expect "whoever suspended cannot reinstate" 1 "suspended by alice@example.com: someone else must reinstate it"
run reinstate newsletter --reason "done" --by " Alice@Example.com" --ticket SEC-9
expect "whoever suspended cannot reinstate, whatever the case" 1 "someone else must reinstate it"
sleep 2
run list --json; json "the indefinite suspension is still in force, as alice made it" "[x for x in d if x['id'] == 'newsletter'][0]['suspension']['by'] == 'alice@example.com' and 'until' not in [x for x in d if x['id'] == 'newsletter'][0]['suspension']"

usage "reinstate without --ticket" reinstate newsletter --reason r --by a
usage "reinstate without --by" reinstate newsletter --reason r --ticket T
usage "reinstate without --reason" reinstate newsletter --by a --ticket T
usage "reinstate without an id" reinstate --reason r --by a --ticket T
usage "reinstate with --until" reinstate newsletter --reason r --by a --ticket T --until 2h
run reinstate nosuch --reason r --by a --ticket T; expect "reinstate an unknown identity exits 1" 1 "no identity"
run reinstate receipts --reason r --by a --ticket T; expect "reinstate an identity that is not suspended exits 1" 1 "not suspended"
run reinstate newsletter --reason "list cleaned" --by carol --ticket "  "
expect "reinstate with a blank ticket" 1 "ticket is required"
run reinstate newsletter --reason "list cleaned" --by carol --ticket SEC-10
expect "reinstate" 0 "reinstated newsletter \(audit record 3"
run list --json; json "list after reinstate" "not any(x['suspended'] for x in d)"

# expiry: a suspension for one second lifts itself (here: at the next change)
run suspend receipts --reason "cool down" --by alice --ticket T-1 --until 1s
expect "suspend for one second" 0 "audit record 4"
sleep 2
run list --json; json "an expired suspension no longer shows" "not [x for x in d if x['id'] == 'receipts'][0]['suspended']"
run suspend old --reason "belt and braces" --by alice
expect "the next change lifts the expired suspension first" 0 "expired: suspension of receipts \(audit record 5\)"
run audit --json
json "the expiry is in the audit log" "[r['action'] for r in d] == ['suspend', 'suspend', 'reinstate', 'suspend', 'expire', 'suspend'] and d[4]['actor'] == 'bulkwarden' and d[4]['identity'] == 'receipts'"
if grep -q '"event.action":"expire"' "$events"; then ok "the expiry wrote an audit event"; else ko "expiry event"; fi

# ---- audit ---------------------------------------------------------------------
run audit; expect "audit lists the records" 0 "^ +6 +[0-9T:-]+Z +suspend +old +alice"
run audit --verbose; expect "audit --verbose shows hashes" 0 "prev: +0{64}"
run audit --verify; expect "audit --verify passes" 0 "intact: 6 records"
run audit --verify --json; json "audit --verify --json" "d == {'ok': True, 'records': 6}"
usage "audit with an argument" audit all
usage "audit with a foreign option" audit --by x
# the documented hash, recomputed without bulkwarden
if "$PY" - "$db" <<'PY'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
prev = "0" * 64
for row in db.execute("SELECT seq, ts, action, actor, identity, reason, ticket, detail, prev_hash, hash FROM audit ORDER BY seq"):
    seq, ts, *fields, ph, h = row
    data = b"bulkwarden-audit-v1\n"
    for f in [prev, str(seq), str(ts)] + fields:
        b = f.encode()
        data += str(len(b)).encode() + b":" + b + b","
    assert ph == prev and hashlib.sha256(data).hexdigest() == h, seq
    prev = h
PY
then ok "the hash chain matches the documented format"; else ko "documented hash format"; fi

# hostile values are stored as given, escaped in tables, exact in JSON
evil=$(printf 'x\033[31mred\nX-Forged: 1\\')
run suspend trial --reason "$evil" --by "$(printf 'eve\r')" --ticket T
expect "suspend with control characters in the reason" 0 "audit record 7"
run audit
if echo "$out" | grep -q 'x\\x1b\[31mred\\x0aX-Forged: 1\\x5c' && ! echo "$out" | grep -q $'\033' && echo "$out" | grep -q 'eve\\x0d'; then ok "table values are escaped"; else ko "table escaping: $out"; fi
run list; if ! echo "$out$err" | grep -q $'\033'; then ok "list prints no raw control characters"; else ko "list escaping"; fi
run audit --json; json "JSON keeps the exact value" "d[-1]['reason'] == 'x\x1b[31mred\nX-Forged: 1\\\\' and d[-1]['actor'] == 'eve\r'"
run reinstate trial --reason done --by alice --ticket T; expect "reinstate trial" 0 ""

# several bulkwardenctl processes writing at once: each suspends and
# reinstates (as another person) its own identity three times
k=0
for cid in newsletter receipts trial unowned; do
	k=$((k + 1))
	( for i in 1 2 3; do
		"$CTL" -c "$conf" suspend "$cid" --reason "load $k.$i" --by "w$k" >/dev/null 2>>"$dir/conc.err" || echo fail >>"$dir/conc.fail"
		"$CTL" -c "$conf" reinstate "$cid" --reason "load $k.$i" --by "r$k" --ticket "T$k" >/dev/null 2>>"$dir/conc.err" || echo fail >>"$dir/conc.fail"
	done ) &
done
wait
run audit --verify
if [ ! -e "$dir/conc.fail" ] && echo "$out" | grep -q "intact: 32 records"; then ok "four concurrent writers: every change recorded, chain intact"; else ko "concurrent writers: $out $(cat "$dir/conc.err" 2>/dev/null)"; fi

# ---- tampering --------------------------------------------------------------------
cp "$db" "$dir/good.db"
# verify_tampered NAME BAD_SEQ SQL...: tamper with a copy, verify must exit 1 at BAD_SEQ
verify_tampered() {
	local name=$1 bad=$2
	shift 2
	cp "$dir/good.db" "$db"
	rm -f "$db-wal" "$db-shm"
	sql "$db" "$@"
	run audit --verify
	if [ "$rc" -eq 1 ] && echo "$out" | grep -q "BROKEN at record $bad:" && echo "$err" | grep -q "broken at record $bad"; then
		ok "tamper detected: $name"
	else
		ko "tamper: $name (exit $rc: $out $err)"
	fi
}
verify_tampered "reason rewritten" 3 "UPDATE audit SET reason = 'routine' WHERE seq = 3"
verify_tampered "actor rewritten" 1 "UPDATE audit SET actor = 'mallory' WHERE seq = 1"
verify_tampered "record deleted" 2 "DELETE FROM audit WHERE seq = 2"
verify_tampered "last record deleted" 32 "DELETE FROM audit WHERE seq = 32"
verify_tampered "records swapped" 4 "UPDATE audit SET seq = -1 WHERE seq = 4" "UPDATE audit SET seq = 4 WHERE seq = 5" "UPDATE audit SET seq = 5 WHERE seq = -1"
verify_tampered "hash replaced" 6 "UPDATE audit SET hash = '$(printf 'f%.0s' $(seq 64))' WHERE seq = 6"
cp "$dir/good.db" "$db"; rm -f "$db-wal" "$db-shm"
sql "$db" "UPDATE audit SET ticket = 'NONE' WHERE seq = 2"
run --json audit --verify; json "tampering in --verify --json" "d['ok'] is False and d['bad_seq'] == 2 and 'altered' in d['why']"
[ $rc -eq 1 ] && ok "--verify --json exits 1 on a break" || ko "--verify --json exit $rc"
cp "$dir/good.db" "$db"; rm -f "$db-wal" "$db-shm"
run audit --verify; expect "the untouched copy verifies again" 0 "intact: 32"

# ---- store errors -------------------------------------------------------------------
# a lock held by another process: writers give up after the busy timeout, readers go on
rm -f "$dir/locked"
"$PY" - "$db" "$dir/locked" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
db.execute("UPDATE counters SET messages = messages")
open(sys.argv[2], "w").close()
time.sleep(12)
PY
pids+=($!)
for _ in $(seq 100); do [ -e "$dir/locked" ] && break; sleep 0.1; done
run list; expect "list works while another process holds the write lock" 0 "newsletter"
start=$(date +%s)
run suspend newsletter --reason r --by a
took=$(( $(date +%s) - start ))
if [ "$rc" -eq 1 ] && echo "$err" | grep -q "locked by another process" && [ "$took" -le 9 ]; then ok "a locked database fails clearly after the busy timeout (${took}s)"; else ko "locked database (exit $rc after ${took}s: $err)"; fi
kill "${pids[-1]}" 2>/dev/null; wait "${pids[-1]}" 2>/dev/null
run suspend newsletter --reason r --by a; expect "writes work once the lock is gone" 0 "suspended newsletter"

# a user who may not write the store (WAL mode needs that even to read)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod -R a+rX "$dir"
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" -c "$conf" suspend receipts --reason r --by a >"$dir/out" 2>"$dir/err"
	rc=$?; out=$(cat "$dir/out"); err=$(cat "$dir/err")
	expect "a user without write access gets a clear error" 1 "is read-only for this process.*run as root"
fi

# missing directory
sed "s|$dir/state/state.db|$dir/nonexistent/state.db|" "$conf" >"$dir/nodir.conf"
"$CTL" -c "$dir/nodir.conf" list >"$dir/out" 2>"$dir/err"; rc=$?; out=$(cat "$dir/out"); err=$(cat "$dir/err")
expect "a missing state directory is a clear error" 1 "state directory $dir/nonexistent: does not exist"
[ ! -e "$dir/nonexistent" ] && ok "nothing was created for the missing directory" || ko "missing directory created"
# corrupt file, foreign schema version
mkdir "$dir/bad"
head -c 8192 /dev/urandom >"$dir/bad/state.db"
sed "s|$dir/state/state.db|$dir/bad/state.db|" "$conf" >"$dir/corrupt.conf"
"$CTL" -c "$dir/corrupt.conf" list >"$dir/out" 2>"$dir/err"; rc=$?; out=$(cat "$dir/out"); err=$(cat "$dir/err")
expect "a corrupt database is a clear error" 1 "not a bulkwarden state database or is corrupt"
"$CTL" -c "$dir/corrupt.conf" audit --verify >"$dir/out" 2>"$dir/err"; rc=$?; out=$(cat "$dir/out"); err=$(cat "$dir/err")
expect "audit --verify on a corrupt database exits 1" 1 "corrupt"
cp "$dir/good.db" "$dir/bad/state.db"
sql "$dir/bad/state.db" "PRAGMA user_version = 7"
"$CTL" -c "$dir/corrupt.conf" list >"$dir/out" 2>"$dir/err"; rc=$?; out=$(cat "$dir/out"); err=$(cat "$dir/err")
expect "a newer schema is refused" 1 "schema version 7, newer than this bulkwarden supports"

# ---- event log targets ------------------------------------------------------------------
sed 's|target = "file";|target = "stdout";|' "$conf" >"$dir/stdout.conf"
"$CTL" -c "$dir/stdout.conf" suspend receipts --reason r --by a >"$dir/out" 2>"$dir/err"; rc=$?; out=$(cat "$dir/out"); err=$(cat "$dir/err")
expect "log.target stdout: the change is made, and it says no event is written" 0 "log.target is stdout, so no audit event"
if ! grep -q '"event.dataset"' "$dir/out"; then ok "log.target stdout: no event on the CLI's stdout"; else ko "event on stdout"; fi
if "$PY" -c '
import json, sys
for l in open(sys.argv[1]):
    json.loads(l)
' "$events"; then ok "every event line parses"; else ko "event lines parse"; fi

# ---- reload ---------------------------------------------------------------------------------
usage "reload with an argument" reload now
rm -f "$dir/bw.pid"
run reload; expect "reload without a pidfile" 1 "no pidfile $dir/bw.pid: is bulkwarden running"
sh -c 'exit 0' & dead=$!; wait $dead
echo $dead >"$dir/bw.pid"
run reload; expect "reload with a stale pidfile" 1 "not running \(stale pidfile\)"
echo "garbage" >"$dir/bw.pid"
run reload; expect "reload with a garbage pidfile" 1 "does not hold a process id"
sleep 30 & pids+=($!)
echo "${pids[-1]}" >"$dir/bw.pid"
run reload; expect "reload refuses to signal a process that is not bulkwarden" 1 "is \"sleep\", not bulkwarden"
kill -0 "${pids[-1]}" 2>/dev/null && ok "the foreign process was not signalled" || ko "foreign process signalled"
cp "$(command -v sleep)" "$dir/bulkwarden"
rm -f "$dir/bw.pid" "$dir/fake.rc"
( "$dir/bulkwarden" 30 & echo $! >"$dir/bw.pid"; wait $!; echo $? >"$dir/fake.rc" ) 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -s "$dir/bw.pid" ] && break; sleep 0.1; done
fake=$(cat "$dir/bw.pid")
run reload; expect "reload signals the milter" 0 "sent SIGUSR2 to bulkwarden \(pid $fake\)"
for _ in $(seq 50); do [ -s "$dir/fake.rc" ] && break; sleep 0.1; done
st=$(cat "$dir/fake.rc" 2>/dev/null)
[ "$st" = 140 ] && ok "the milter received SIGUSR2 (reload; SIGHUP would stop libmilter)" || ko "milter exit status $st, want 140 (SIGUSR2)"
"$CTL" -c "$dir/bad.conf" reload >"$dir/out" 2>"$dir/err"; rc=$?; out=$(cat "$dir/out"); err=$(cat "$dir/err")
expect "reload refuses a bad config before signalling" 1 "bogus"

# ---- waive / waivers (SPEC §9) -------------------------------------------------------------
# their own store, and policy.governance.max_waiver_days = 7
mkdir "$dir/wstate"
sed "s|$dir/state/state.db|$dir/wstate/state.db|; s|policy = { mode = \"enforce\"; };|policy = { mode = \"enforce\"; governance = { max_waiver_days = 7; }; };|" "$conf" >"$dir/waiver.conf"
grep -q "max_waiver_days = 7" "$dir/waiver.conf" || ko "waiver.conf has no max_waiver_days"
mainconf=$conf conf=$dir/waiver.conf wdb=$dir/wstate/state.db
W=(--reason "rebrand to new domain" --by martech@example.com --approver ciso@example.com --ticket CHG-5)
usage "waive without an id" waive --check from-domain --until 1h "${W[@]}"
usage "waive without --check or --signal" waive newsletter --until 1h "${W[@]}"
usage "waive with both --check and --signal" waive newsletter --check dkim --signal complaint_rate --until 1h "${W[@]}"
usage "waive without --until" waive newsletter --check from-domain "${W[@]}"
usage "waive without --reason" waive newsletter --check from-domain --until 1h --by a --approver b --ticket T
usage "waive without --by" waive newsletter --check from-domain --until 1h --reason r --approver b --ticket T
usage "waive without --approver" waive newsletter --check from-domain --until 1h --reason r --by a --ticket T
usage "waive without --ticket" waive newsletter --check from-domain --until 1h --reason r --by a --approver b
usage "waive with a blank --ticket" waive newsletter --check from-domain --until 1h --reason r --by a --approver b --ticket "  "
usage "waive with a malformed --until" waive newsletter --check from-domain --until soon "${W[@]}"
usage "waive with --until in the past" waive newsletter --check from-domain --until 2020-01-01 "${W[@]}"
usage "waive an unknown check" waive newsletter --check from-domian --until 1h "${W[@]}"
usage "waive an unknown signal" waive newsletter --signal spam_rate --until 1h "${W[@]}"
usage "waive with a foreign option" waive newsletter --check dkim --until 1h "${W[@]}" --all
run waive newsletter --check bogus --until 1h "${W[@]}"; expect "an unknown check is named" 2 'unknown check "bogus"'
run waive newsletter --check from-domain --until 1h --reason r --by alice@example.com --approver " Alice@Example.COM " --ticket T
expect "the approver cannot be the requester (case and blanks ignored)" 1 "approver must be someone other than the requester"
run waive newsletter --check from-domain --until 8d "${W[@]}"
expect "--until beyond max_waiver_days is refused" 1 "more than policy.governance.max_waiver_days \(7\) ahead"
for chk in suspended unregistered state-error not-active; do
	run waive newsletter --check "$chk" --until 1h "${W[@]}"
	expect "--check $chk cannot be waived" 1 "cannot waive check $chk: .*cannot be waived"
done
run waive newsletter --check suspended --until 1h "${W[@]}"
expect "a suspension is never waived: only reinstate lifts it" 1 "only reinstate lifts it"
run waive nosuch --check dkim --until 1h "${W[@]}"; expect "waive an unknown identity exits 1" 1 'no identity "nosuch"'
# the account running the command cannot be the approver (under sudo: the
# sudo caller; root itself is a role, named in the record's origin)
if [ "$(id -u)" = 0 ]; then
	SUDO_USER=dave "$CTL" -c "$conf" waive newsletter --check dkim --until 1h --reason r --by martech@example.com --approver Dave@example.com --ticket T >"$dir/out" 2>"$dir/err"
else
	"$CTL" -c "$conf" waive newsletter --check dkim --until 1h --reason r --by martech@example.com --approver "$(id -un)@example.com" --ticket T >"$dir/out" 2>"$dir/err"
fi
rc=$?; out=$(cat "$dir/out"); err=$(cat "$dir/err")
expect "the approver cannot be the account running the command" 1 "is the account running this command"
# refused before the store is opened: not even a database file
[ ! -e "$wdb" ] && ok "refused waivers wrote nothing (no store created)" || ko "refused waivers created $wdb"
run waivers; expect "no waivers yet" 0 "no active waivers"

run waive newsletter --check from-domain --until 7d "${W[@]}"
expect "waive a check for the longest allowed time" 0 "waived check from-domain of newsletter until .* \(waiver 1, audit record 1, hash [0-9a-f]{16}\)"
t0=$(date +%s)
run waive receipts --signal complaint_rate --until 3s --reason "seed list cleanup" --by shop@example.com --approver ciso@example.com --ticket CHG-6 --json
json "waive a signal (--json: the waiver and its audit record)" "d['waiver'] == 2 and d['kind'] == 'signal' and d['name'] == 'complaint_rate' and d['status'] == 'active' and d['approver'] == 'ciso@example.com' and d['audit']['action'] == 'waiver' and d['audit']['seq'] == 2 and 'approved by ciso@example.com' in d['audit']['detail']"
if "$PY" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
e = [x for x in ev if x.get("event.action") == "waiver"]
assert len(e) == 2, e
assert e[0]["bulkwarden.actor"] == "martech@example.com" and e[0]["bulkwarden.ticket"] == "CHG-5", e[0]
assert e[0]["bulkwarden.identity.id"] == "newsletter" and "approved by ciso@example.com" in json.dumps(e[0]), e[0]
' "$events" 2>"$dir/err"; then ok "waive wrote the audit events"; else ko "waive audit events: $(cat "$dir/err")"; fi
run waivers; expect "waivers lists the active ones" 0 "^1 +newsletter +check +from-domain +.* active +CHG-5 +martech@example.com +ciso@example.com +rebrand"
expect "waivers lists the signal waiver" 0 "^2 +receipts +signal +complaint_rate"
run waivers newsletter --json
json "waivers ID --json" "len(d) == 1 and d[0]['identity'] == 'newsletter' and d[0]['name'] == 'from-domain' and d[0]['ticket'] == 'CHG-5' and d[0]['by'] == 'martech@example.com'"
run show newsletter; expect "show lists the identity's waivers" 0 "^waiver: +check from-domain until .*, ticket CHG-5, by martech@example.com, approved by ciso@example.com \(waiver 1\)"
run show newsletter --json; json "show --json lists the waivers" "[w['name'] for w in d['waivers']] == ['from-domain']"
run show old --json; json "show --json: no waivers" "d['waivers'] == []"
run waivers nosuch; expect "waivers of an unknown identity exits 1" 1 'no identity "nosuch"'
usage "waivers with two ids" waivers newsletter receipts
usage "waivers with a foreign option" waivers --check dkim
# a second grant for the same check replaces the first, and says so
run waive newsletter --check from-domain --until 3d --reason "shorter" --by martech@example.com --approver cto@example.com --ticket CHG-7
expect "a new waiver of the same check replaces the one in force" 0 "waiver 3, audit record [34]"
run audit --json; json "the replacement is in the record" "'replaces waiver 1' in d[-1]['detail'] and d[-1]['ticket'] == 'CHG-7'"
while [ $(($(date +%s) - t0)) -le 3 ]; do sleep 0.2; done
# expiry: the next change ends the expired signal waiver first, with its
# record (on a loaded machine the replacement above may have done it)
early=$(grep -c '"event.action":"waiver-expired"' "$events")
run waive newsletter --check dkim --until 1h --reason "key rotation" --by platform@example.com --approver ciso@example.com --ticket CHG-8
if [ "$early" = 0 ]; then
	expect "the next change ends the expired waiver first" 0 "expired: waiver of receipts \(audit record 4\)"
else
	expect "the next change: waiver 4 (the expired one was ended by the replacement)" 0 "waiver 4, audit record 5"
fi
run audit --json
json "waiver-expired is in the audit log, by bulkwarden, after the grant" "sorted(r['action'] for r in d) == ['waiver'] * 4 + ['waiver-expired'] and [r for r in d if r['action'] == 'waiver-expired'][0]['actor'] == 'bulkwarden' and [r for r in d if r['action'] == 'waiver-expired'][0]['identity'] == 'receipts' and [r for r in d if r['action'] == 'waiver-expired'][0]['ticket'] == 'CHG-6' and 'complaint_rate' in [r for r in d if r['action'] == 'waiver-expired'][0]['reason'] and [r['action'] for r in d][:2] == ['waiver', 'waiver']"
if grep -q '"event.action":"waiver-expired"' "$events"; then ok "the waiver expiry wrote an audit event"; else ko "waiver-expired event"; fi
run waivers --json
json "waivers: the expired and the replaced ones are gone" "sorted((x['waiver'], x['name']) for x in d) == [(3, 'from-domain'), (4, 'dkim')]"
run waivers --all --json
json "waivers --all: expired and replaced ones too" "{x['waiver']: x['status'] for x in d} == {1: 'replaced', 2: 'expired', 3: 'active', 4: 'active'} and [x for x in d if x['waiver'] == 2][0]['ended']"
run waivers --all; expect "waivers --all as a table" 0 "^2 +receipts +signal +complaint_rate .* expired"
run audit --verify; expect "the audit chain holds with waivers" 0 "intact: 5 records"
# a suspension stays whatever the waivers: suspend, then every waiver is still refused for it
run suspend newsletter --reason "phish" --by soc@example.com; expect "suspend a waived identity" 0 "suspended newsletter"
run waive newsletter --check suspended --until 1h "${W[@]}"; expect "still no waiver of a suspension" 1 "only reinstate lifts it"
run list --json; json "the waived identity is suspended" "[x for x in d if x['id'] == 'newsletter'][0]['suspended']"
# hostile values: stored exactly, escaped in the table
run waive receipts --check spf --until 1h --reason "$(printf 'x\033[31mred\nX-Forged: 1')" --by "$(printf 'eve\r')" --approver ciso@example.com --ticket T
expect "waive with control characters" 0 "waived check spf of receipts"
run waivers; if ! echo "$out" | grep -q $'\033' && echo "$out" | grep -q 'eve\\x0d'; then ok "waivers escapes table values"; else ko "waivers escaping: $out"; fi
conf=$mainconf

# ---- keygen and dns-check are dispatched (their own suites test them) ---------------------------
run keygen; [ $rc -ne 0 ] && ok "keygen is dispatched" || ko "keygen without an id exited 0"
run dns-check nosuch; [ $rc -ne 0 ] && ok "dns-check is dispatched" || ko "dns-check of an unknown id exited 0"

echo "ctl: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
