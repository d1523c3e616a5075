#!/bin/bash
# tests/daemon/pidfile.sh - a milter removes its pidfile at exit only while
# the file is still its own. A restart on the same pidfile before the old
# process has exited (systemd restart, an admin's second start) must keep the
# new process's pidfile. Prints "ok N - ..." / "not ok N - ..." lines.
#
#   BULKWARDEN=./bulkwarden tests/daemon/pidfile.sh
set -u
BULKWARDEN=${BULKWARDEN:-./bulkwarden}
T=$(mktemp -d "${TMPDIR:-/tmp}/bw-pidfile.XXXXXX")
PIDS=
cleanup() {
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
ko() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; printf '    %s\n' "$@"; }

cat >"$T/bw.conf" <<CONF
milter = { socket = "unix:$T/a.sock"; pidfile = "$T/bw.pid"; };
state = { backend = "sqlite"; path = "$T/state.db"; };
log = { target = "file"; path = "$T/events.jsonl"; };
policy = { mode = "monitor"; };
identities = ();
CONF

# start NAME: a milter on socket NAME.sock; sets PID
start() {
	"$BULKWARDEN" -f -c "$T/bw.conf" -p "unix:$T/$1.sock" 2>>"$T/$1.err" &
	PID=$!
	PIDS="$PIDS $PID"
	for _ in $(seq 100); do
		[ "$(cat "$T/bw.pid" 2>/dev/null)" = "$PID" ] && [ -S "$T/$1.sock" ] && return 0
		sleep 0.1
	done
	return 1
}
# stop PID: SIGTERM, wait (libmilter polls: up to ~5 s)
stop() {
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	wait "$1" 2>/dev/null
}

if start a; then A=$PID; ok "first milter writes its pid"; else ko "first milter writes its pid" "$(cat "$T/a.err")"; exit 1; fi
if start b; then B=$PID; ok "second milter on the same pidfile writes its pid"; else
	ko "second milter on the same pidfile writes its pid" "$(cat "$T/b.err")"; exit 1; fi
stop "$A"
got=$(cat "$T/bw.pid" 2>/dev/null)
if [ "$got" = "$B" ]; then ok "the first milter's exit leaves the second one's pidfile"; else
	ko "the first milter's exit leaves the second one's pidfile" "pidfile: '${got:-missing}', want $B"; fi

# the pidfile replaced by a new file (another inode) naming our own pid
# still is not ours: left alone
echo "$B" >"$T/bw.pid.new" && mv "$T/bw.pid.new" "$T/bw.pid"
stop "$B"
if [ -f "$T/bw.pid" ]; then ok "a pidfile that is another file (new inode) is left in place"; else
	ko "a pidfile that is another file (new inode) is left in place"; fi

rm -f "$T/bw.pid"
if start c; then C=$PID; stop "$C"; fi
if [ -n "${C:-}" ] && [ ! -e "$T/bw.pid" ]; then ok "a milter removes its own pidfile at exit"; else
	ko "a milter removes its own pidfile at exit" "pidfile: $(cat "$T/bw.pid" 2>&1)"; fi
echo "1..$n"
[ "$failed" -eq 0 ]
