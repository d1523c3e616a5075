#!/bin/bash
# Feedback ingest: bulkwardenctl ingest on a corpus of ARF complaint
# reports and DSNs (RFC-shaped, provider-shaped and hostile), each with its
# expected exit code, kind, attribution and counts (expect.txt); one
# feedback event per report, ECS-clean; stdin; a report over the size cap.
# Prints PASS/FAIL lines and "feedback: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
CTL=${BULKWARDENCTL:-./bulkwardenctl}
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")
PY=/usr/bin/python3
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-feedback.XXXXXX")
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }

mkdir -p "$dir/state" "$dir/keys"
chmod 700 "$dir/keys"
install -m 600 "$top_srcdir/tests/dkim/news-rsa.pem" "$dir/keys/news-rsa.pem"
sed "s|@DIR@|$dir|g" "$here/registry.conf.in" >"$dir/bulkwarden.conf"
ctl() { "$CTL" -c "$dir/bulkwarden.conf" "$@"; }

while read -r file rc kind id by comp hard soft; do
	case "$file" in '#'* | '') continue ;; esac
	before=0; [ -f "$dir/events.jsonl" ] && before=$(wc -l <"$dir/events.jsonl")
	ctl ingest "$here/corpus/$file" >"$dir/out" 2>"$dir/err"
	got=$?
	after=0; [ -f "$dir/events.jsonl" ] && after=$(wc -l <"$dir/events.jsonl")
	ev=$(tail -n 1 "$dir/events.jsonl" 2>/dev/null)
	res=$(echo "$ev" | $PY -c '
import json, sys
e = json.loads(sys.stdin.read())
g = lambda k, d="-": str(e.get(k, d))
print(g("bulkwarden.feedback.kind") if e["event.outcome"] == "success" else "-",
      g("bulkwarden.identity.id"), g("bulkwarden.feedback.attributed_by"),
      g("bulkwarden.feedback.complaints", 0), g("bulkwarden.feedback.hard_bounces", 0),
      g("bulkwarden.feedback.soft_bounces", 0))' 2>&1)
	want="$kind $id $by $comp $hard $soft"
	if [ "$got" = "$rc" ] && [ $((after - before)) -eq 1 ] && [ "$res" = "$want" ]; then
		ok "$file: exit $rc, $want"
	else
		ko "$file: exit $got (want $rc), events +$((after - before)), got '$res' want '$want' $(head -c 200 "$dir/err")"
	fi
done <"$here/expect.txt"

# standard input, as a Postfix pipe transport gives it
ctl ingest --kind dsn <"$here/corpus/dsn-hard.eml" >/dev/null 2>&1; rc=$?
if [ $rc -eq 0 ] && tail -n 1 "$dir/events.jsonl" | grep -q '"bulkwarden.feedback.source":"-"'; then
	ok "a report on standard input"
else
	ko "a report on standard input (exit $rc)"
fi
# --kind that does not match is unusable input
ctl ingest --kind arf "$here/corpus/dsn-hard.eml" >/dev/null 2>&1; rc=$?
if [ $rc -eq 65 ]; then ok "--kind arf on a DSN: exit 65"; else ko "--kind arf on a DSN: exit $rc"; fi
# over the size cap: refused, not read into memory whole
head -c 9000000 /dev/zero | tr '\0' 'a' >"$dir/huge.eml"
ctl ingest "$dir/huge.eml" >/dev/null 2>"$dir/err"; rc=$?
if [ $rc -eq 65 ] && grep -q "more than" "$dir/err"; then ok "a 9 MB report is refused (65)"; else ko "huge report: exit $rc $(cat "$dir/err")"; fi
# a missing file: the MTA (or the operator) must retry: 75
ctl ingest "$dir/no-such-file" >/dev/null 2>&1; rc=$?
if [ $rc -eq 75 ]; then ok "an unreadable input: exit 75"; else ko "unreadable input: exit $rc"; fi
# an event log that cannot be written: 75, so nothing is lost
chmod 000 "$dir/events.jsonl"; mv "$dir/events.jsonl" "$dir/events.saved"; mkdir "$dir/events.jsonl"
ctl ingest "$here/corpus/arf-feedback-id.eml" >/dev/null 2>&1; rc=$?
rmdir "$dir/events.jsonl"; mv "$dir/events.saved" "$dir/events.jsonl"; chmod 644 "$dir/events.jsonl"
if [ $rc -eq 75 ]; then ok "no event log to write: exit 75"; else ko "no event log: exit $rc"; fi
# every event is ECS-clean
out=$($PY "$top_srcdir/tests/siem/ecs_check.py" "$top_srcdir/tests/siem/ecs-fields.txt" "$dir/events.jsonl" 2>&1); rc=$?
if [ $rc -eq 0 ]; then ok "feedback events pass the ECS check (${out#\# })"; else ko "ECS check: $out"; fi

echo "feedback: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
