#!/bin/bash
# Feedback ingest: bulkwardenctl ingest on a corpus of ARF complaint
# reports, DSNs and DMARC aggregate reports (RFC-shaped, provider-shaped
# and hostile), each with its expected exit code, kind, attribution and
# counts (expect.txt); one feedback event per report, ECS-clean; stdin; a
# report over the size cap; each hostile aggregate report refused for its
# own reason in bounded memory; shadow senders in the audit log; then
# (signals.sh) each report counted once per identity in the store, the
# signals verb, auto-suspend and threshold-warning, per-identity thresholds.
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
# the feedback events (audit events of shadow senders come between them)
fb_events() { touch "$dir/events.jsonl"; grep "$@" '"event.dataset":"bulkwarden.feedback"' "$dir/events.jsonl"; }

while read -r file rc kind id by comp hard soft extra; do
	case "$file" in '#'* | '') continue ;; esac
	before=$(fb_events -c)
	ctl ingest "$here/corpus/$file" >"$dir/out" 2>"$dir/err"
	got=$?
	after=$(fb_events -c)
	ev=$(fb_events | tail -n 1)
	res=$(echo "$ev" | $PY -c '
import json, sys
e = json.loads(sys.stdin.read())
g = lambda k, d="-": str(e.get(k, d))
print(g("bulkwarden.feedback.kind") if e["event.outcome"] == "success" else "-",
      g("bulkwarden.identity.id"), g("bulkwarden.feedback.attributed_by"),
      g("bulkwarden.feedback.complaints", 0), g("bulkwarden.feedback.hard_bounces", 0),
      g("bulkwarden.feedback.soft_bounces", 0),
      *([g("bulkwarden.feedback." + k) for k in ("rows", "messages", "shadow.rows",
         "shadow.senders", "dmarc_fail")]
        if e.get("bulkwarden.feedback.kind") == "dmarc-aggregate"
        and e["event.outcome"] == "success" else []))' 2>&1)
	want="$kind $id $by $comp $hard $soft${extra:+ $extra}"
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
# --- DMARC aggregate reports ---
# each hostile report is refused for its own reason, in bounded time and memory
while read -r file reason; do
	/usr/bin/time -f "%e %M" -o "$dir/time" "$CTL" -c "$dir/bulkwarden.conf" ingest \
		"$here/corpus/$file" >/dev/null 2>"$dir/err"
	rc=$?
	read -r secs kb < <(tail -n 1 "$dir/time")
	if [ $rc -eq 65 ] && grep -q -- "$reason" "$dir/err" && [ "$kb" -lt 262144 ]; then
		ok "$file refused: $reason (${secs}s, max RSS ${kb} KB)"
	else
		ko "$file: exit $rc, max RSS ${kb} KB, want 65 and '$reason': $(head -c 300 "$dir/err")"
	fi
done <<'END'
hostile-agg-billion-laughs.xml DOCTYPE declares an entity
hostile-agg-xxe.xml DOCTYPE declares an entity
hostile-agg-external-dtd.xml DOCTYPE names an external DTD
hostile-agg-zip-bomb.zip declares 104857610 bytes, more than 67108864
hostile-agg-zip-liar.zip inflates past its declared 1000 bytes
hostile-agg-gzip-bomb.xml.gz decompresses to more than 67108864 bytes
hostile-agg-truncated.xml.gz truncated gzip stream
hostile-agg-not-xml.gz not well-formed XML
hostile-agg-rows.xml.gz more than 100000 records
hostile-agg-bad-utf8.xml not proper UTF-8
hostile-agg-bad-ip.xml source_ip "203.0.113.777" is not an IP address
hostile-agg-wrong-root.xml root element <report>
END
# the external entity was never read
if ! grep -q "root:x:0:0" "$dir/events.jsonl" "$dir/err"; then
	ok "file:///etc/passwd was not read"
else
	ko "an external entity was read"
fi
# shadow senders: a new-sending-path audit record each, actor bulkwarden,
# naming the IP and domain; the chain verifies
sp=$(grep '"event.action":"new-sending-path"' "$dir/events.jsonl")
if echo "$sp" | grep -q '"bulkwarden.actor":"bulkwarden".*"bulkwarden.identity.id":"newsletter".*ip=192.0.2.99 domain=news.example.com' &&
	echo "$sp" | grep -q 'ip=2001:db8::25 domain=news.example.com' &&
	[ "$(echo "$sp" | grep -c .)" -eq 2 ]; then
	ok "shadow senders: 2 new-sending-path audit records (Google once: its zip and the attachment are one report; Microsoft)"
else
	ko "shadow senders: $(echo "$sp" | head -c 600)"
fi
if ctl audit --verify >"$dir/out" 2>&1; then ok "audit chain verifies after ingest"; else ko "audit --verify: $(cat "$dir/out")"; fi
if ctl audit 2>/dev/null | grep -q "new-sending-path"; then ok "audit lists new-sending-path"; else ko "audit does not list new-sending-path"; fi
# --kind dmarc on standard input (a gzip), and on something else
ctl ingest --kind dmarc <"$here/corpus/agg-yahoo.xml.gz" >"$dir/out" 2>&1; rc=$?
if [ $rc -eq 0 ] && tail -n 1 "$dir/events.jsonl" | grep -q '"bulkwarden.feedback.source":"-".*"bulkwarden.feedback.format":"gzip"'; then
	ok "--kind dmarc: a gzip report on standard input"
else
	ko "--kind dmarc on stdin: exit $rc $(cat "$dir/out")"
fi
ctl ingest --kind dmarc "$here/corpus/arf-feedback-id.eml" >/dev/null 2>"$dir/err"; rc=$?
if [ $rc -eq 65 ] && grep -q "no DMARC aggregate report" "$dir/err"; then ok "--kind dmarc on an ARF report: 65"; else ko "--kind dmarc on ARF: exit $rc $(cat "$dir/err")"; fi
ctl ingest --kind arf "$here/corpus/agg-microsoft.eml" >/dev/null 2>&1; rc=$?
if [ $rc -eq 65 ]; then ok "--kind arf on an aggregate report: 65"; else ko "--kind arf on aggregate: exit $rc"; fi
# the store unreachable when a shadow sender must be recorded: 75, no event
sed "s|$dir/state/state.db|$dir/no-such-dir/state.db|" "$dir/bulkwarden.conf" >"$dir/nostore.conf"
before=$(wc -l <"$dir/events.jsonl")
"$CTL" -c "$dir/nostore.conf" ingest "$here/corpus/agg-google.zip" >/dev/null 2>"$dir/err"; rc=$?
after=$(wc -l <"$dir/events.jsonl")
if [ $rc -eq 75 ] && [ "$after" -eq "$before" ]; then ok "store unreachable with a shadow sender: 75, nothing written"; else ko "store unreachable: exit $rc, events +$((after - before)) $(cat "$dir/err")"; fi
# every usable report is counted in the store: without it, 75 and no event
for f in agg-rfc7489.xml arf-feedback-id.eml dsn-hard.eml; do
	before=$(wc -l <"$dir/events.jsonl")
	"$CTL" -c "$dir/nostore.conf" ingest "$here/corpus/$f" >/dev/null 2>"$dir/err"; rc=$?
	after=$(wc -l <"$dir/events.jsonl")
	if [ $rc -eq 75 ] && [ "$after" -eq "$before" ] && grep -q "not recorded, try again" "$dir/err"; then
		ok "$f with the store unreachable: 75, nothing written"
	else
		ko "$f, store unreachable: exit $rc, events +$((after - before)) $(cat "$dir/err")"
	fi
done

. "$here/signals.sh"

# every event is ECS-clean
out=$($PY "$top_srcdir/tests/siem/ecs_check.py" "$top_srcdir/tests/siem/ecs-fields.txt" "$dir/events.jsonl" 2>&1); rc=$?
if [ $rc -eq 0 ]; then ok "feedback events pass the ECS check (${out#\# })"; else ko "ECS check: $out"; fi

echo "feedback: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
