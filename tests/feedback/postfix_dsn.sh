#!/bin/bash
#
# tests/feedback/postfix_dsn.sh - DSNs written by a real Postfix, ingested by
# bulkwardenctl. A private Postfix on loopback (tests/e2e/lib.sh) relays
# messages to smtp-sink instances standing in for remote servers: one refuses
# every RCPT with a 5xx (-f rcpt: "500 5.3.0"), one with a 4xx (-r rcpt:
# "450 4.3.0"; maximal_queue_lifetime = 0 makes Postfix give up after that
# first try, a DSN with Action failed and Status 4.3.0: counted soft; with
# delay_warning_time = 1s and a lifetime of 1h, a delay warning instead). Postfix's bounce daemon
# writes the DSNs to the senders, whose domains are routed to a third,
# accepting smtp-sink that stores them; each stored DSN is then ingested with
# `bulkwardenctl ingest --kind dsn` (on standard input, as a pipe(8)
# transport hands it) and its feedback event checked: hard or soft, the
# identity, and what it was attributed by (the Feedback-ID or DKIM-Signature
# of the original Postfix returns, or, for a headers-only return without
# either, the VERP address the DSN was sent to). Then the same DSN fed
# through a Postfix pipe(8) transport straight into bulkwardenctl.
#
# Prints PASS:/FAIL: lines and "postfix-dsn: N passed, N failed"; exit 77
# (automake SKIP) without root, postfix, smtp-sink or swaks.

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
# shellcheck source=tests/e2e/lib.sh
. "$top_srcdir/tests/e2e/lib.sh"
CTL=${BULKWARDENCTL:-./bulkwardenctl}
CTL=$(cd "$(dirname "$CTL")" && pwd)/$(basename "$CTL")
PY=/usr/bin/python3

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (private Postfix instance)"
for p in postfix postconf postqueue smtp-sink swaks timeout; do
	command -v "$p" >/dev/null 2>&1 || skip "$p not installed"
done
id postfix >/dev/null 2>&1 || skip "no postfix user"

T=$(mktemp -d "${TMPDIR:-/tmp}/bw-pfdsn.XXXXXX")
chmod 755 "$T"
PF=$T/pf
cleanup() {
	pf_stop "$PF"
	# the sinks started here (sink() runs in $(...): pids go to a file)
	for p in $(cat "$T/sinks.pids" 2>/dev/null); do kill "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }

# the registry and store of tests/feedback
mkdir -p "$T/state" "$T/keys"
chmod 700 "$T/keys"
install -m 600 "$top_srcdir/tests/dkim/news-rsa.pem" "$T/keys/news-rsa.pem"
sed "s|@DIR@|$T|g" "$here/registry.conf.in" >"$T/bulkwarden.conf"

pf_start "$PF" "" || { echo "FAIL: private Postfix did not start"; echo "postfix-dsn: 0 passed, 1 failed"; exit 1; }

# sink: start an smtp-sink with OPTS on a free port; prints the port
sink() {
	local port
	port=$(pf_free_port "$PF_PORT") || return 1
	smtp-sink -u postfix "$@" "127.0.0.1:$port" 100 >>"$T/sinks.log" 2>&1 &
	echo $! >>"$T/sinks.pids"
	pf__wait_banner "$PF" "$port" "smtp-sink $*" >&2 || return 1
	echo "$port"
}
# the relayhost of lib.sh accepts everything: replace it by one that refuses
# every recipient with 550, on the same port
kill "$(cat "$PF/sink.pid")" 2>/dev/null
for _ in $(seq 1 50); do pf__port_busy "$PF_SINK_PORT" || break; sleep 0.1; done
smtp-sink -u postfix -f rcpt "127.0.0.1:$PF_SINK_PORT" 100 >>"$T/sinks.log" 2>&1 &
echo $! >"$PF/sink.pid"
pf__wait_banner "$PF" "$PF_SINK_PORT" "smtp-sink -f rcpt" || exit 1
SOFT=$(sink -r rcpt) || exit 1
mkdir -p "$T/dsn" && chown postfix: "$T/dsn"
CAPTURE=$(sink -d "$T/dsn/%H%M%S.") || exit 1

cat >"$PF/etc/transport" <<EOF
soft.test            smtp:[127.0.0.1]:$SOFT
news.example.com     smtp:[127.0.0.1]:$CAPTURE
.bounce.example.com  smtp:[127.0.0.1]:$CAPTURE
EOF
postconf -c "$PF/etc" -e "transport_maps = texthash:$PF/etc/transport" \
	"maximal_queue_lifetime = 0" "bounce_queue_lifetime = 0" "notify_classes =" \
	"parent_domain_matches_subdomains ="
postfix -c "$PF/etc" reload >/dev/null 2>&1
sleep 1

# send FROM RCPT... [swaks options]: one message into Postfix
send() {
	local from=$1
	shift
	pf_send --from "$from" "$@" >"$T/swaks.out" 2>&1 ||
		{ echo "swaks: $(tail -n 5 "$T/swaks.out")" >&2; return 1; }
}
# dsn_for STRING: the one DSN the capture sink stored containing STRING
dsn_for() {
	local i f
	for i in $(seq 1 100); do
		f=$(grep -rlF -- "$1" "$T/dsn" 2>/dev/null | head -n 1)
		[ -n "$f" ] && { echo "$f"; return 0; }
		[ $((i % 10)) -eq 9 ] && timeout 5 postqueue -c "$PF/etc" -f >/dev/null 2>&1
		sleep 0.2
	done
	return 1
}
# ingest FILE: bulkwardenctl ingest --kind dsn on standard input; prints
# "rc kind identity by hard soft status..." from the feedback event
ingest() {
	"$CTL" -c "$T/bulkwarden.conf" ingest --kind dsn <"$1" >"$T/out" 2>"$T/err"
	local rc=$?
	tail -n 1 "$T/events.jsonl" | $PY -c '
import json, sys
e = json.loads(sys.stdin.read())
g = lambda k: str(e.get(k, "-"))
print(sys.argv[1], g("bulkwarden.feedback.kind"), g("bulkwarden.identity.id"),
      g("bulkwarden.feedback.attributed_by"), g("bulkwarden.feedback.hard_bounces"),
      g("bulkwarden.feedback.soft_bounces"))' "$rc"
}
check() { # NAME FILE WANT
	local got
	got=$(ingest "$2")
	if [ "$got" = "$3" ]; then
		ok "$1: $3"
	else
		ko "$1: got '$got' want '$3' $(head -c 300 "$T/err")"
	fi
}

# 1. 5xx from the next hop, the original signed with a Feedback-ID
FID="marketing:newsletter:bulkwarden:news.example.com"
if send bounce-1@news.example.com --to gone@reject.test --header "Feedback-ID: $FID" \
	--header "Subject: pf-dsn-one" && f=$(dsn_for "pf-dsn-one"); then
	if grep -q "^Content-Type: message/delivery-status" "$f" && grep -q "^Status: 5\." "$f" &&
		grep -q "^Diagnostic-Code: smtp; 5" "$f"; then
		ok "Postfix wrote a DSN for the 550 (message/delivery-status, Status 5.x.x)"
	else
		ko "DSN for the 550 is not the expected shape: $(head -c 400 "$f")"
	fi
	check "Postfix DSN, 550, Feedback-ID" "$f" "0 dsn newsletter feedback-id 1 0"
	cp "$f" "$T/dsn-one.eml"
else
	ko "no DSN for the 550 $(pf_log_tail "$PF" 10 2>&1)"
fi

# 2. one hard and one soft recipient (5xx and 4xx, given up at once), the
#    original with only a DKIM-Signature
if send bounce-2@news.example.com --to gone2@reject.test,busy@soft.test \
	--header "DKIM-Signature: v=1; a=rsa-sha256; d=news.example.com; s=nl2026; h=from; bh=x; b=y" \
	--header "Subject: pf-dsn-two" && f=$(dsn_for "pf-dsn-two"); then
	n=$(grep -rlF "pf-dsn-two" "$T/dsn" | wc -l)
	if [ "$n" -eq 1 ] && grep -q "^Status: 4\." "$f" && grep -q "^Status: 5\." "$f"; then
		ok "Postfix wrote one DSN for both recipients (Status 5.x.x and 4.x.x)"
		check "Postfix DSN, 550 + 450, DKIM" "$f" "0 dsn newsletter dkim 1 1"
	else
		# Postfix may return the two in separate DSNs: count them together
		h=0 s=0
		for g in $(grep -rlF "pf-dsn-two" "$T/dsn"); do
			read -r _ _ id by hh ss < <(ingest "$g")
			h=$((h + hh)) s=$((s + ss))
		done
		if [ "$h" = 1 ] && [ "$s" = 1 ] && [ "$id" = newsletter ] && [ "$by" = dkim ]; then
			ok "Postfix DSNs for 550 + 450 ($n of them): 1 hard, 1 soft, newsletter by dkim"
		else
			ko "550 + 450: $n DSNs, $h hard $s soft, $id by $by"
		fi
	fi
else
	ko "no DSN for the 550 + 450 $(pf_log_tail "$PF" 10 2>&1)"
fi

# 3. RET=HDRS (Postfix's sendmail -R hdrs, through pickup), a VERP sender,
#    nothing identifying in the headers: the DSN went to the VERP address,
#    that names the identity (envelope)
VERP="b+gone3=reject.test@m7.bounce.example.com"
printf 'From: <news@elsewhere.example>\nTo: <gone3@reject.test>\nSubject: pf-dsn-three\n\nhi\n' >"$T/m3"
if timeout 30 sendmail -C "$PF/etc" -R hdrs -f "$VERP" gone3@reject.test <"$T/m3" 2>"$T/sendmail.err"; then
	if f=$(dsn_for "pf-dsn-three"); then
		if grep -q "^Content-Type: text/rfc822-headers" "$f" && ! grep -q "^hi$" "$f"; then
			ok "RET=HDRS: Postfix returned only the headers (text/rfc822-headers)"
		else
			ko "RET=HDRS: the DSN does not return headers only: $(grep -i "^content-type" "$f")"
		fi
		check "Postfix DSN to a VERP address, no Feedback-ID or DKIM" "$f" "0 dsn newsletter envelope 1 0"
	else
		ko "no DSN for the VERP sender $(pf_log_tail "$PF" 10 2>&1)"
	fi
else
	ko "sendmail -C for the VERP sender: $(cat "$T/sendmail.err")"
fi

# 3b. a delay warning: the 4xx recipient kept in the queue (lifetime 1h)
#     with delay_warning_time 1s, Postfix writes an Action: delayed DSN
postconf -c "$PF/etc" -e "maximal_queue_lifetime = 1h" "bounce_queue_lifetime = 1h" "delay_warning_time = 1s"
postfix -c "$PF/etc" reload >/dev/null 2>&1
sleep 1
if send bounce-4@news.example.com --to slow@soft.test --header "Feedback-ID: $FID" \
	--header "Subject: pf-dsn-delayed" && f=$(dsn_for "pf-dsn-delayed"); then
	if grep -q "^Action: delayed" "$f" && grep -q "^Status: 4\." "$f"; then
		ok "Postfix wrote a delay warning (Action: delayed, Status 4.x.x)"
	else
		ko "delay warning: $(grep -E '^(Action|Status|Subject):' "$f")"
	fi
	check "Postfix delay warning, Feedback-ID" "$f" "0 dsn newsletter feedback-id 0 1"
else
	ko "no delay warning $(pf_log_tail "$PF" 10 2>&1)"
fi
timeout 10 postsuper -c "$PF/etc" -d ALL >/dev/null 2>&1
postconf -c "$PF/etc" -e "maximal_queue_lifetime = 0" "bounce_queue_lifetime = 0" "delay_warning_time = 0"
postfix -c "$PF/etc" reload >/dev/null 2>&1
sleep 1

# the same DSN again (delivered twice): counted once
if [ -f "$T/dsn-one.eml" ]; then
	"$CTL" -c "$T/bulkwarden.conf" ingest --kind dsn <"$T/dsn-one.eml" >"$T/out" 2>&1
	if grep -q "duplicate: counted before" "$T/out"; then
		ok "the Postfix DSN ingested again is a duplicate"
	else
		ko "DSN again: $(cat "$T/out")"
	fi
fi

# 4. the deployed shape: the DSN for bounce-9@news.example.com delivered by
#    a pipe(8) transport straight into bulkwardenctl (user nobody, its own
#    store and event log), Postfix reading its exit code
P=$T/p
mkdir -p "$P/state" "$P/keys"
install -m 600 "$top_srcdir/tests/dkim/news-rsa.pem" "$P/keys/news-rsa.pem"
sed "s|@DIR@|$P|g" "$here/registry.conf.in" >"$P/bulkwarden.conf"
chown -R nobody: "$P"
chmod 755 "$P"
echo "bounce-9@news.example.com  bwingest:" >"$T/transport.head"
cat "$T/transport.head" "$PF/etc/transport" >"$T/transport.new" && mv "$T/transport.new" "$PF/etc/transport"
echo "bwingest unix - n n - - pipe flags=q user=nobody argv=$CTL -c $P/bulkwarden.conf ingest --kind dsn" >>"$PF/etc/master.cf"
postfix -c "$PF/etc" reload >/dev/null 2>&1
sleep 1
if send bounce-9@news.example.com --to gone9@reject.test --header "Feedback-ID: $FID" \
	--header "Subject: pf-dsn-nine"; then
	got=
	for _ in $(seq 1 100); do
		[ -s "$P/events.jsonl" ] && got=$(grep -c '"bulkwarden.feedback.kind":"dsn"' "$P/events.jsonl") && [ "$got" -ge 1 ] && break
		sleep 0.2
	done
	if [ "${got:-0}" -eq 1 ] && grep -q '"bulkwarden.identity.id":"newsletter".*"bulkwarden.feedback.hard_bounces":1' "$P/events.jsonl" &&
		grep -q 'relay=bwingest.*status=sent (delivered via bwingest service' "$PF/maillog"; then
		ok "a Postfix DSN through a pipe(8) transport into bulkwardenctl: 1 hard bounce for newsletter, Postfix says sent"
	else
		ko "pipe transport: events '$(head -c 400 "$P/events.jsonl" 2>/dev/null)' $(grep bwingest "$PF/maillog" | tail -n 3)"
	fi
	if [ "$(runuser -u nobody -- "$CTL" -c "$P/bulkwarden.conf" signals newsletter --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
print([s["numerator"] for s in d["identities"][0]["signals"] if s["signal"] == "hard_bounce_rate"][0])')" = 1 ]; then
		ok "the pipe-delivered DSN is counted in that store: hard bounces 1"
	else
		ko "pipe-delivered DSN not counted in the store"
	fi
else
	ko "swaks for the pipe transport case"
fi

echo "postfix-dsn: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
