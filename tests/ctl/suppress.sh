#!/bin/bash
# The suppression list through bulkwardenctl (SPEC §9): suppress,
# unsuppress, suppressions; usage errors; the audit records and events name
# the keyed hash's prefix only, never the address (nor does anything in the
# state database: `strings` of the file and its WAL); the site key file is
# 0600, refused when others can read it or when it is a symbolic link, and
# a key that is not the store's is refused; canonicalization (case, angle
# brackets); an ARF complaint from tests/feedback/corpus adds its recipient,
# a redacted one is skipped and the event says so. Prints PASS/FAIL lines
# and "suppress: N passed, N failed".
#
# Environment: BULKWARDENCTL (default ./bulkwardenctl), top_srcdir.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
CTL=${BULKWARDENCTL:-./bulkwardenctl}
PY=/usr/bin/python3
[ -x "$CTL" ] || { echo "bulkwardenctl not found at $CTL"; exit 1; }
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")
corpus=$top_srcdir/tests/feedback/corpus

dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-supp.XXXXXX")
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }

mkdir "$dir/state"
sed "s|@DIR@|$dir|g" "$here/bulkwarden.conf.in" >"$dir/bulkwarden.conf"
cp -r "$here/identities.d" "$dir/"
conf=$dir/bulkwarden.conf
db=$dir/state/state.db
key=$dir/state/suppress.key
events=$dir/events.jsonl

run() {
	"$CTL" -c "$conf" "$@" >"$dir/out" 2>"$dir/err"
	rc=$?
	out=$(cat "$dir/out")
	err=$(cat "$dir/err")
}
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
json() {
	if echo "$out" | "$PY" -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($2) else 1)" 2>/dev/null; then
		ok "$1"
	else
		ko "$1 (json: $(echo "$out" | head -c 300))"
	fi
}
# noclear NAME: no file of the store, nor the event log, holds an address
noclear() {
	local hits
	hits=$(cat "$db"* "$events" 2>/dev/null | strings -n 6 | grep -ciE 'reader@|Alice\.Example|alice@example|mailbox\.example\.net' || true)
	[ "$hits" = 0 ] && ok "$1" || ko "$1 ($hits hits)"
}

# ---- usage ---------------------------------------------------------------------------------
run suppress; expect "suppress without arguments is a usage error" 2 "^usage: bulkwardenctl"
run suppress newsletter alice@example.com; expect "suppress needs --reason" 2 "--reason is required"
run suppress newsletter not-an-address --reason r; expect "suppress refuses a non-address" 2 "is not an email address"
run suppress newsletter "a@b@c" --reason r; expect "suppress refuses two @" 2 "is not an email address"
run unsuppress newsletter alice@example.com --reason r; expect "unsuppress needs --by" 2 "--by is required"
run suppress nosuch alice@example.com --reason r; expect "suppress of an unknown identity fails" 1 "no identity \"nosuch\""
[ ! -e "$key" ] && ok "no key file made by refused commands" || ko "key file made by a refused command"

# ---- suppress ------------------------------------------------------------------------------
run suppress newsletter '<Alice.Example@Example.COM>' --reason "asked by phone" --by alice --ticket T-1
expect "suppress adds the address" 0 "suppressed recipient hmac [0-9a-f]{16} for newsletter"
h1=$(echo "$out" | grep -oE 'hmac [0-9a-f]{16}' | cut -d' ' -f2)
[ -f "$key" ] && [ "$(stat -c %a "$key")" = 600 ] && [ "$(stat -c %s "$key")" = 32 ] &&
	ok "the site key is made: 32 bytes, mode 600" || ko "site key $(stat -c '%a %s' "$key" 2>&1)"
run suppress newsletter alice.example@example.com --reason again
expect "the same address in another case is already listed" 0 "already suppressed"
run --json suppress receipts alice.example@example.com --reason "other identity" --by bob
json "suppress --json gives the audit record and the full hmac" \
	"d['action']=='suppress' and d['identity']=='receipts' and len(d['hmac'])==32 and d['actor']=='bob'"
h2=$(echo "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["hmac"][:16])')
[ -n "$h1" ] && [ "$h1" != "$h2" ] && ok "one address gives unrelated hashes for two identities" ||
	ko "hashes $h1 / $h2"
run suppress newsletter reader@mailbox.example.net --reason "complaint by mail"
expect "suppress without --by takes the OS user" 0 "suppressed"

run suppressions; expect "suppressions counts per identity" 0 "newsletter +2"
echo "$out" | grep -qE "receipts +1" && ok "receipts has one" || ko "suppressions: $out"
run --json suppressions newsletter; json "suppressions ID --json" "d==[{'identity':'newsletter','suppressed':2}]"
run suppressions newsletter --verbose; expect "suppressions --verbose lists hashes" 0 "^newsletter +$h1[0-9a-f]{16} "
run suppressions old; expect "an identity with none shows 0" 0 "old +0"

# ---- audit: the hash prefix, never the address ----------------------------------------------
run --json audit
json "audit records of suppress name the hash prefix" \
	"[r['detail'].split(';')[0] for r in d if r['action']=='suppress'][0]=='recipient hmac $h1'"
echo "$out" | grep -qiE 'alice\.example|mailbox\.example' && ko "the audit output holds the address" ||
	ok "the audit output holds no address"
grep -c '"event.action":"suppress"' "$events" | grep -qx 3 && ok "three suppress audit events" ||
	ko "suppress events: $(grep -c suppress "$events")"
noclear "neither the database nor the event log holds an address in clear"

# ---- unsuppress ----------------------------------------------------------------------------
run unsuppress newsletter ALICE.EXAMPLE@example.com --reason "asked again" --by carol
expect "unsuppress removes it" 0 "unsuppressed recipient hmac $h1 for newsletter"
run unsuppress newsletter alice.example@example.com --reason x --by carol
expect "unsuppress of an address not listed fails" 1 "not suppressed"
run suppressions newsletter; expect "one left" 0 "newsletter +1"
grep -q '"event.action":"unsuppress"' "$events" && ok "an unsuppress audit event" || ko "no unsuppress event"
run audit --verify; expect "the audit chain holds" 0
run suppress newsletter alice.example@example.com --reason "back on" --by alice
expect "an address taken off can be suppressed again" 0 "suppressed"

# ---- the key file --------------------------------------------------------------------------
cp -p "$key" "$dir/key.good"
chmod 640 "$key"
run suppress newsletter x1@example.com --reason r; expect "a key others can read is refused" 1 "readable by group or other"
chmod 600 "$key"
mv "$key" "$dir/key.moved"; ln -s "$dir/key.moved" "$key"
run suppress newsletter x1@example.com --reason r; expect "a symlinked key is refused" 1 "symbolic link"
rm -f "$key"
head -c 32 /dev/urandom >"$key"; chmod 600 "$key"
run suppress newsletter x1@example.com --reason r; expect "another key than the store's is refused" 1 "not the one the state store"
cp -p "$dir/key.good" "$key"
run suppress newsletter x1@example.com --reason r; expect "the store's key works again" 0 "suppressed"

# ---- ingest: an ARF complaint adds its recipient ---------------------------------------------
run ingest "$corpus/arf-feedback-id.eml"; expect "ingest of a complaint" 0 "attributed to newsletter"
tail -1 "$events" | grep -q '"bulkwarden.feedback.suppression":"already-listed"' &&
	ok "the complaint's recipient was already listed (suppressed by hand above)" || ko "event: $(tail -1 "$events")"
run unsuppress newsletter reader@mailbox.example.net --reason "test" --by carol; expect "unsuppress the reader" 0
run ingest "$corpus/arf-feedback-id.eml"; expect "ingest again" 0
tail -1 "$events" | grep -q '"bulkwarden.feedback.suppression":"added"' && ok "the complaint adds its recipient" ||
	ko "event: $(tail -1 "$events")"
grep '"event.action":"suppress"' "$events" | tail -1 | grep -q '"bulkwarden.actor":"bulkwarden"' &&
	ok "the complaint's suppress record is by bulkwarden" || ko "no suppress audit by bulkwarden"
run suppress newsletter reader@mailbox.example.net --reason r; expect "the reader is listed now" 0 "already suppressed"
run ingest "$corpus/arf-redacted-envelope.eml"; expect "ingest of a redacted complaint" 0 "attributed to receipts"
tail -1 "$events" | grep -q '"bulkwarden.feedback.suppression":"redacted"' && ok "a redacted recipient is skipped and said so" ||
	ko "event: $(tail -1 "$events")"
run suppressions receipts; expect "the redacted complaint added nothing" 0 "receipts +1"
noclear "still no address in clear after ingest"
run audit --verify; expect "the audit chain holds after ingest" 0

# ---- state export / import: the list moves as keyed hashes ------------------------------------
run suppressions --verbose; before=$(echo "$out" | sort)
run state export "$dir/export.jsonl"; expect "state export" 0 "suppressions to"
n=$(grep -c '"kind":"suppression"' "$dir/export.jsonl")
grep -q "\"suppressions\":$n}" "$dir/export.jsonl" && [ "$n" -ge 3 ] &&
	ok "the export holds the $n listed entries and counts them" || ko "export: $n entries"
grep -qiE 'reader@|alice\.example' "$dir/export.jsonl" && ko "the export holds an address" ||
	ok "the export holds no address"
mkdir "$dir/s2"
sed "s|$dir/state/state.db|$dir/s2/state.db|" "$conf" >"$dir/s2.conf"
cp -p "$key" "$dir/s2/suppress.key"
"$CTL" -c "$dir/s2.conf" state import "$dir/export.jsonl" >"$dir/out" 2>&1; rc=$?; out=$(cat "$dir/out"); err=
expect "state import into a new store" 0 "suppressions into sqlite"
after=$("$CTL" -c "$dir/s2.conf" suppressions --verbose | sort)
[ "$before" = "$after" ] && ok "the imported list is the same entries" || ko "imported list differs"
"$CTL" -c "$dir/s2.conf" suppress newsletter reader@mailbox.example.net --reason r >"$dir/out" 2>&1
grep -q "already suppressed" "$dir/out" && ok "the imported list matches addresses with the same key" ||
	ko "after import: $(cat "$dir/out")"
sed -i 's/"suppressions":[0-9]*}/"suppressions":99}/' "$dir/export.jsonl"
mkdir "$dir/s3"
sed "s|$dir/state/state.db|$dir/s3/state.db|" "$conf" >"$dir/s3.conf"
"$CTL" -c "$dir/s3.conf" state import "$dir/export.jsonl" >"$dir/out" 2>&1; rc=$?; out=$(cat "$dir/out")
expect "an export whose suppression count is wrong is refused" 1 "counts do not match"

echo "suppress: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
