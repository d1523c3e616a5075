#!/bin/bash
#
# tests/pkg/deb_test.sh - the Debian package: build it from debian/ with
# dpkg-buildpackage, run lintian, install it with dpkg -i on this machine,
# check what it installed (user, directories, conffile, a default
# configuration that passes bulkwarden -n, the systemd unit: verify clean and
# an exposure of 2.5 or less), run the installed milter once as systemd
# would, then remove and purge it and put the machine back as it was.
# Prints "ok N - ..." / "not ok N - ..."; exit 77 (automake SKIP) when not
# root or the tools are missing, or when a bulkwarden package is already
# installed (it is never touched).
#
#   top_srcdir=. tests/pkg/deb_test.sh      KEEP=1: keep the temp dir
#
# Needs no running systemd: nothing here starts a unit.

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -uo pipefail

SRC=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
SRC=$(cd "$SRC" && pwd)
MAX_EXPOSURE=${MAX_EXPOSURE:-2.5}

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (dpkg -i)"
for p in dpkg-buildpackage dh lintian systemd-analyze systemd-tmpfiles adduser runuser setpriv; do
    command -v "$p" >/dev/null 2>&1 || skip "$p not installed"
done
if dpkg-query -W -f='${Status}' bulkwarden 2>/dev/null | grep -q 'installed'; then
    skip "a bulkwarden package is installed on this machine: not touching it"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/bw-pkg.XXXXXX")
N=0
FAILED=0
pass() { N=$((N + 1)); echo "ok $N - $1"; }
fail() {
    local name=$1
    shift
    N=$((N + 1)); FAILED=$((FAILED + 1))
    echo "not ok $N - $name"
    [ $# -gt 0 ] && printf '    %s\n' "$@"
}
show() { sed 's/^/    | /'; }

# what must be put back: the account exists only if the package made it
had_user=$(getent passwd bulkwarden >/dev/null && echo 1)
had_group=$(getent group bulkwarden >/dev/null && echo 1)
# man(1), which systemd-analyze verify runs for Documentation=, caches
# formatted pages: those it makes go again
CAT_PAGES="/var/cache/man/cat8/bulkwarden.8.gz /var/cache/man/cat8/bulkwardenctl.8.gz
 /var/cache/man/cat5/bulkwarden.conf.5.gz"
had_cat=
for f in $CAT_PAGES; do [ -e "$f" ] && had_cat="$had_cat $f"; done
MILTER_PID=
cleanup() {
    if [ -n "$MILTER_PID" ]; then kill -KILL "$MILTER_PID" 2>/dev/null; wait "$MILTER_PID" 2>/dev/null; fi
    if dpkg-query -W -f='${Status}' bulkwarden 2>/dev/null | grep -qv 'not-installed'; then
        dpkg --purge bulkwarden >/dev/null 2>&1
    fi
    [ -z "$had_user" ] && getent passwd bulkwarden >/dev/null && deluser --quiet --system bulkwarden >/dev/null 2>&1
    [ -z "$had_group" ] && getent group bulkwarden >/dev/null && delgroup --quiet --system bulkwarden >/dev/null 2>&1
    for f in $CAT_PAGES; do
        case " $had_cat " in *" $f "*) ;; *) rm -f "$f" ;; esac
    done
    if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- build --
# a clean copy of the source: the package build writes into its tree
mkdir -p "$T/src"
# (only when SRC is a checkout's top: a dist tarball unpacked inside one is not)
if [ "$(git -C "$SRC" rev-parse --show-toplevel 2>/dev/null)" = "$SRC" ]; then
    (cd "$SRC" && git ls-files -co --exclude-standard -z | grep -zv '^_build' |
        tar --null -cf - -T -) | tar -C "$T/src" -xf -
else
    tar -C "$SRC" --exclude='./_build*' --exclude=./autom4te.cache --exclude='*.o' --exclude='*.a' \
        --exclude=./debian/tmp --exclude=./debian/bulkwarden -cf - . | tar -C "$T/src" -xf -
fi
t0=$(date +%s)
if (cd "$T/src" && nice dpkg-buildpackage -us -uc -b >"$T/build.log" 2>&1); then
    DEB=$(ls "$T"/bulkwarden_*_*.deb 2>/dev/null | head -n1)
fi
if [ -n "${DEB:-}" ]; then
    pass "dpkg-buildpackage -us -uc -b builds $(basename "$DEB") in $(($(date +%s) - t0)) s"
else
    fail "dpkg-buildpackage -us -uc -b builds the package"
    tail -n 30 "$T/build.log" | show
    echo "1..$N"; exit 1
fi

# ---------------------------------------------------------------- lintian --
if lintian --allow-root --fail-on error,warning -i -E --pedantic "$T"/bulkwarden_*.changes >"$T/lintian.log" 2>&1; then
    pass "lintian (pedantic, experimental): no error or warning$(grep -c '^[IPX]:' "$T/lintian.log" |
        sed 's/^0$//; s/^\(.\+\)$/; \1 info tags/')"
else
    fail "lintian: no error or warning"
    grep -E '^[EW]:' "$T/lintian.log" | show
fi

# --------------------------------------------------------------- install --
if dpkg -i "$DEB" >"$T/install.log" 2>&1; then
    pass "dpkg -i installs it"
else
    fail "dpkg -i installs it"
    show <"$T/install.log"
    echo "1..$N"; exit 1
fi

if getent passwd bulkwarden >/dev/null && getent group bulkwarden >/dev/null &&
    [ "$(id -gn bulkwarden)" = bulkwarden ] &&
    [ "$(getent passwd bulkwarden | cut -d: -f7)" = /usr/sbin/nologin ]; then
    pass "postinst made the system user and group bulkwarden (no login shell)"
else
    fail "postinst made the system user and group bulkwarden" "$(getent passwd bulkwarden)"
fi

perm=$(stat -c '%U:%G %a' /var/lib/bulkwarden /var/log/bulkwarden /etc/bulkwarden 2>&1 | tr '\n' ' ')
if [ "$perm" = "bulkwarden:bulkwarden 750 bulkwarden:bulkwarden 750 root:bulkwarden 750 " ]; then
    pass "data, log and config directories have the right owners: $perm"
else
    fail "data, log and config directories have the right owners" "got: $perm"
fi

if dpkg-query -W -f='${Conffiles}\n' bulkwarden | grep -q ' /etc/bulkwarden/bulkwarden.conf ' &&
    [ -d /etc/bulkwarden/identities.d ] && [ -z "$(ls -A /etc/bulkwarden/identities.d)" ] &&
    grep -q '^ *mode = "monitor"' /etc/bulkwarden/bulkwarden.conf; then
    pass "/etc/bulkwarden/bulkwarden.conf is a conffile in monitor mode, identities.d empty"
else
    fail "/etc/bulkwarden/bulkwarden.conf is a conffile in monitor mode, identities.d empty"
fi

out=$(runuser -u bulkwarden -- /usr/sbin/bulkwarden -n 2>&1)
if [ $? -eq 0 ]; then
    pass "the installed default configuration passes bulkwarden -n (as user bulkwarden): $out"
else
    fail "the installed default configuration passes bulkwarden -n" "$out"
fi

for m in bulkwarden.8 bulkwardenctl.8 bulkwarden.conf.5; do
    [ -f "/usr/share/man/man${m##*.}/$m.gz" ] || missing_man="${missing_man:-} $m"
done
if [ -z "${missing_man:-}" ] && [ -x /usr/sbin/bulkwardenctl ] &&
    [ -f /usr/share/doc/bulkwarden/README.Debian ] && [ -f /usr/lib/tmpfiles.d/bulkwarden.conf ] &&
    [ -f /etc/logrotate.d/bulkwarden ] && grep -q 'USR1' /etc/logrotate.d/bulkwarden &&
    [ -f /usr/share/doc/bulkwarden/examples/sendmail/bulkwarden.mc ]; then
    pass "binaries, man pages, README.Debian, tmpfiles.d, logrotate (SIGUSR1), Sendmail example installed"
else
    fail "binaries, man pages, README.Debian, tmpfiles.d, logrotate, Sendmail example installed" \
        "missing man pages:${missing_man:-none}"
fi

UNIT=/lib/systemd/system/bulkwarden.service
if out=$(systemd-analyze verify "$UNIT" 2>&1) && [ -z "$out" ]; then
    pass "systemd-analyze verify: clean"
else
    fail "systemd-analyze verify: clean" "$out"
fi
sec=$(systemd-analyze security --offline=true --no-pager "$UNIT" 2>&1)
score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for bulkwarden.service: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
    pass "systemd-analyze security --offline=true: exposure $score (at most $MAX_EXPOSURE)"
else
    fail "systemd-analyze security --offline=true: exposure at most $MAX_EXPOSURE" "got: ${score:-none}"
    printf '%s\n' "$sec" | grep '✗' | show
fi
if grep -qx 'Type=simple' "$UNIT" && grep -q '^ExecStart=/usr/sbin/bulkwarden -f$' "$UNIT" &&
    grep -qx 'RuntimeDirectory=bulkwarden' "$UNIT" && grep -qx 'CapabilityBoundingSet=' "$UNIT" &&
    grep -qx 'User=bulkwarden' "$UNIT" && grep -qx 'ExecReload=/usr/sbin/bulkwarden -n' "$UNIT" &&
    grep -qx 'ExecReload=/bin/kill -USR2 $MAINPID' "$UNIT"; then
    pass "unit: Type=simple with -f, User=bulkwarden, no capabilities, reload checks then SIGUSR2"
else
    fail "unit: Type=simple with -f, User=bulkwarden, no capabilities, reload checks then SIGUSR2"
fi

if command -v logrotate >/dev/null 2>&1; then
    if logrotate -d /etc/logrotate.d/bulkwarden >"$T/logrotate.log" 2>&1 && ! grep -qi 'error' "$T/logrotate.log"; then
        pass "logrotate -d accepts /etc/logrotate.d/bulkwarden"
    else
        fail "logrotate -d accepts /etc/logrotate.d/bulkwarden"
        show <"$T/logrotate.log"
    fi
fi

pids=$(pidof /usr/sbin/bulkwarden)
if [ -z "$pids" ]; then
    pass "installing started nothing (no running systemd here)"
else
    fail "installing started nothing" "running: $pids"
fi

# ------------------------------------------------------ run it as systemd would --
# the tmpfiles.d line makes /run/bulkwarden; the unit's user runs "bulkwarden -f"
if [ -d /run/bulkwarden ]; then had_run=1; else had_run=; fi
systemd-tmpfiles --create /usr/lib/tmpfiles.d/bulkwarden.conf >/dev/null 2>&1
setpriv --reuid=bulkwarden --regid=bulkwarden --init-groups -- /usr/sbin/bulkwarden -f >"$T/milter.log" 2>&1 &
MILTER_PID=$!
for _ in $(seq 1 50); do [ -S /run/bulkwarden/bulkwarden.sock ] && break; sleep 0.2; done
sock=$(stat -c '%U:%G %a' /run/bulkwarden/bulkwarden.sock 2>&1)
rund=$(stat -c '%U:%G %a' /run/bulkwarden 2>&1)
if [ "$sock" = "bulkwarden:bulkwarden 660" ] && [ "$rund" = "bulkwarden:bulkwarden 750" ] &&
    [ "$(cat /run/bulkwarden/bulkwarden.pid 2>/dev/null)" = "$MILTER_PID" ]; then
    pass "the installed milter runs as bulkwarden: socket $sock in /run/bulkwarden ($rund)"
else
    fail "the installed milter runs as bulkwarden" "socket: $sock" "dir: $rund"
    show <"$T/milter.log"
fi
kill -TERM "$MILTER_PID" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$MILTER_PID" 2>/dev/null || break; sleep 0.2; done
wait "$MILTER_PID" 2>/dev/null
rc=$?
MILTER_PID=
if [ "$rc" -eq 0 ] && [ ! -e /run/bulkwarden/bulkwarden.pid ] &&
    grep -q '"bulkwarden.audit"' /var/log/bulkwarden/events.jsonl 2>/dev/null; then
    pass "it exits 0 on SIGTERM, removes its pidfile, logged to /var/log/bulkwarden"
else
    fail "it exits 0 on SIGTERM, removes its pidfile, logged to /var/log/bulkwarden" "exit $rc"
fi
[ -z "$had_run" ] && rm -rf /run/bulkwarden

# ---------------------------------------------------------- remove, purge --
if dpkg -r bulkwarden >"$T/remove.log" 2>&1 && [ -z "$(pidof /usr/sbin/bulkwarden)" ] &&
    [ ! -e /usr/sbin/bulkwarden ] && [ -f /etc/bulkwarden/bulkwarden.conf ]; then
    pass "dpkg -r: removed, nothing running, the conffile kept"
else
    fail "dpkg -r: removed, nothing running, the conffile kept"
    show <"$T/remove.log"
fi
if dpkg --purge bulkwarden >"$T/purge.log" 2>&1 && [ ! -e /etc/bulkwarden ] &&
    [ ! -e /var/lib/bulkwarden ] && [ ! -e /var/log/bulkwarden ] && [ -z "$(pidof /usr/sbin/bulkwarden)" ] &&
    [ ! -e /etc/systemd/system/multi-user.target.wants/bulkwarden.service ] &&
    [ -z "$(find /var/lib/systemd/deb-systemd-helper-enabled -name 'bulkwarden*' 2>/dev/null)" ] &&
    ! dpkg-query -W -f='${Status}' bulkwarden 2>/dev/null | grep -q 'installed'; then
    pass "dpkg --purge: configuration, state, log and unit enablement gone, nothing running"
else
    fail "dpkg --purge: configuration, state and log gone, nothing running" \
        "$(ls -d /etc/bulkwarden /var/lib/bulkwarden /var/log/bulkwarden 2>&1 | tr '\n' ' ')"
    show <"$T/purge.log"
fi

echo "1..$N"
echo "pkg: $((N - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
