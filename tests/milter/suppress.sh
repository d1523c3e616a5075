#!/bin/bash
# The suppression list at the running milter (SPEC §3, §9), driven by
# miltertest: a recipient `bulkwardenctl suppress` lists is refused alone
# at RCPT within a second (550 5.7.1 [suppressed] is checked in
# tests/unit/test_suppress), the other recipient and the message go on;
# another identity is not affected; an ARF complaint from the feedback
# corpus, ingested, refuses its recipient next; unsuppress lets it through
# again; a restarted milter loads the list (and its key) at start; a list
# whose key file is gone tempfails (fails closed). Prints PASS/FAIL lines
# and "suppress-milter: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
BULKWARDEN=${BULKWARDEN:-$here/../../bulkwarden}
BULKWARDENCTL=${BULKWARDENCTL:-$(dirname "$BULKWARDEN")/bulkwardenctl}
MILTERTEST=${MILTERTEST:-miltertest}
command -v "$MILTERTEST" >/dev/null || { echo "miltertest not found"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/bw-msupp.XXXXXX")
pid= dnspid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$dnspid" ] && kill "$dnspid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }

/usr/bin/python3 "$here/../dns/dns_server.py" "$here/zone" "$dir/dns.port" 2>"$dir/dns.err" &
dnspid=$!
for _ in $(seq 100); do [ -s "$dir/dns.port" ] && break; sleep 0.05; done
[ -s "$dir/dns.port" ] || { echo "DNS server did not start:"; cat "$dir/dns.err"; exit 1; }
sed "s|@DIR@|$dir|g; s|@DNSPORT@|$(cat "$dir/dns.port")|g" "$here/registry.conf.in" >"$dir/bulkwarden.conf"
cp -r "$here/identities.d" "$dir/"
mkdir -m 700 "$dir/keys"
install -m 600 "$here/../dkim/news-rsa.pem" "$here/../dkim/news-ed25519.pem" "$dir/keys/"
key=$dir/suppress.key # beside state.path

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
lua() {
	local out rc n_pass n_fail
	out=$("$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" \
		-D libdir="$here" "$@" -s "$here/state/suppressed.lua" 2>&1)
	rc=$?
	echo "$out" | grep -E '^(PASS|FAIL):'
	n_pass=$(echo "$out" | grep -c '^PASS:')
	n_fail=$(echo "$out" | grep -c '^FAIL:')
	pass=$((pass + n_pass)); fail=$((fail + n_fail))
	if [ $rc -ne 0 ] && [ "$n_fail" -eq 0 ]; then ko "miltertest exited $rc: $out"; fi
}
ctl() { "$BULKWARDENCTL" -c "$dir/bulkwarden.conf" "$@"; }

start || exit 1
# nothing listed, no key yet: everyone is accepted
lua -D who=newsletter -D rcpt="<blocked@example.net>" -D want=accepted
# a reload first: the key is then read through settings the milter copied
# at start (the registry they came from is gone)
if ctl reload >/dev/null 2>&1; then
	for _ in $(seq 50); do grep -q '"event.action":"config-reload"' "$dir/events.jsonl" &&
		[ "$(grep -c '"event.action":"config-reload"' "$dir/events.jsonl")" -ge 2 ] && break; sleep 0.1; done
	ok "reload before the first suppression"
else
	ko "bulkwardenctl reload"
fi
if ctl suppress newsletter 'Blocked@Example.NET' --reason "asked to stop" --by dpo@example.com >/dev/null; then
	lua -D who=newsletter -D rcpt="<blocked@example.net>" -D want=refused
	lua -D who=newsletter -D rcpt="<BLOCKED@example.net>" -D want=refused
	lua -D who=receipts -D rcpt="<blocked@example.net>" -D want=accepted
else
	ko "bulkwardenctl suppress newsletter"
fi
# an ARF complaint names reader@mailbox.example.net (Feedback-ID: newsletter)
lua -D who=newsletter -D rcpt="<reader@mailbox.example.net>" -D want=accepted
if ctl ingest "$here/../feedback/corpus/arf-feedback-id.eml" >"$dir/ingest.out" 2>&1 &&
   grep -q '"bulkwarden.feedback.suppression":"added"' "$dir/events.jsonl"; then
	ok "ingest of an ARF complaint adds its recipient"
	lua -D who=newsletter -D rcpt="<reader@mailbox.example.net>" -D want=refused
else
	ko "ingest of an ARF complaint: $(cat "$dir/ingest.out")"
fi
if ctl unsuppress newsletter blocked@example.net --reason "consent given again" --by dpo2@example.com >/dev/null; then
	lua -D who=newsletter -D rcpt="<blocked@example.net>" -D want=accepted
else
	ko "bulkwardenctl unsuppress newsletter"
fi
# a restart loads the list and its key at start
stop
start || exit 1
lua -D who=newsletter -D rcpt="<reader@mailbox.example.net>" -D want=refused
lua -D who=newsletter -D rcpt="<blocked@example.net>" -D want=accepted
# no key file but a list: fail closed (tempfail), said in the log
stop
mv "$key" "$dir/key.saved"
start || exit 1
conn_out=$("$MILTERTEST" -D sock="unix:$dir/bw.sock" -D events="$dir/events.jsonl" -D libdir="$here" \
	-D who=receipts -D rcpt="<someone@example.net>" -D want=refused -D closed=1 -s "$here/state/suppressed.lua" 2>&1)
if echo "$conn_out" | grep -q '^PASS:' && grep -q "no suppression key file" "$dir/milter.err"; then
	ok "a list without its key file: recipients are tempfailed, the log says why"
else
	ko "list without key: $conn_out / $(tail -3 "$dir/milter.err")"
fi
mv "$dir/key.saved" "$key"
stop

echo "suppress-milter: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
