#!/bin/bash
#
# tests/pkg/install_test.sh - make install honours --prefix, --sysconfdir,
# --localstatedir and --runstatedir: a build configured into a temp prefix
# installs the binaries, the man pages, the default configuration (which
# the installed bulkwarden finds without -c and accepts), the systemd unit
# and tmpfiles.d snippet naming the installed paths; a second install keeps
# an edited configuration; make uninstall removes what it installed.
# Prints "ok N - ..." / "not ok N - ...".
#
#   top_srcdir=. tests/pkg/install_test.sh

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -uo pipefail
SRC=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
SRC=$(cd "$SRC" && pwd)
[ -x "$SRC/configure" ] || { echo "SKIP: no configure in $SRC"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/bw-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
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

P=$T/prefix
mkdir -p "$T/build"
if (cd "$T/build" && "$SRC/configure" -q --prefix="$P" --sysconfdir="$T/etc" --localstatedir="$T/var" \
    --runstatedir="$T/run" --with-user="$(id -un)" >"$T/configure.log" 2>&1 &&
    nice make -s -j2 bulkwarden bulkwardenctl >"$T/make.log" 2>&1 &&
    make -s install >"$T/install.log" 2>&1); then
    pass "configure --prefix --sysconfdir --localstatedir --runstatedir; make install"
else
    fail "configure --prefix --sysconfdir --localstatedir --runstatedir; make install"
    tail -n 20 "$T/configure.log" "$T/make.log" "$T/install.log" | sed 's/^/    | /'
    echo "1..$N"; exit 1
fi

missing=
for f in "$P/sbin/bulkwarden" "$P/sbin/bulkwardenctl" "$P/share/man/man8/bulkwarden.8" \
    "$P/share/man/man8/bulkwardenctl.8" "$P/share/man/man5/bulkwarden.conf.5" \
    "$T/etc/bulkwarden/bulkwarden.conf" "$T/etc/bulkwarden/identities.d" \
    "$P/lib/systemd/system/bulkwarden.service" "$P/lib/tmpfiles.d/bulkwarden.conf" \
    "$T/var/lib/bulkwarden" "$T/var/log/bulkwarden"; do
    [ -e "$f" ] || missing="$missing ${f#"$T"/}"
done
if [ -z "$missing" ]; then
    pass "installed: binaries, man pages, configuration, unit, tmpfiles.d, state and log directories"
else
    fail "installed: binaries, man pages, configuration, unit, tmpfiles.d, state and log directories" "missing:$missing"
fi

conf=$T/etc/bulkwarden/bulkwarden.conf
if grep -q "path = \"$T/var/lib/bulkwarden/state.db\"" "$conf" &&
    grep -q "path = \"$T/var/log/bulkwarden/events.jsonl\"" "$conf" &&
    grep -q "socket = \"unix:$T/run/bulkwarden/bulkwarden.sock\"" "$conf" &&
    grep -q "identities_dir = \"$T/etc/bulkwarden/identities.d\"" "$conf"; then
    pass "the installed configuration names the configured directories"
else
    fail "the installed configuration names the configured directories" "$(grep -E 'path|socket|identities_dir' "$conf")"
fi

out=$("$P/sbin/bulkwarden" -n 2>&1)
if [ $? -eq 0 ] && [[ $out == "$conf: OK"* ]]; then
    pass "bulkwarden -n finds the default configuration under --sysconfdir and accepts it"
else
    fail "bulkwarden -n finds the default configuration under --sysconfdir and accepts it" "$out"
fi
out=$("$P/sbin/bulkwardenctl" check 2>&1)
if [ $? -eq 0 ]; then
    pass "bulkwardenctl check reads the same default"
else
    fail "bulkwardenctl check reads the same default" "$out"
fi

unit=$P/lib/systemd/system/bulkwarden.service
if grep -qx "ExecStart=$P/sbin/bulkwarden -f" "$unit" &&
    grep -q "^ReadWritePaths=$T/run/bulkwarden $T/var/lib/bulkwarden $T/var/log/bulkwarden" "$unit" &&
    grep -q "^d $T/run/bulkwarden 0750" "$P/lib/tmpfiles.d/bulkwarden.conf"; then
    pass "the unit and tmpfiles.d snippet name the installed paths"
else
    fail "the unit and tmpfiles.d snippet name the installed paths" "$(grep -E '^(Exec|ReadWrite)' "$unit")"
fi

echo "# edited" >>"$conf"
(cd "$T/build" && make -s install >/dev/null 2>&1)
if tail -n1 "$conf" | grep -qx '# edited' && [ -f "$T/etc/bulkwarden/bulkwarden.conf.default" ]; then
    pass "a second make install keeps an edited configuration (new default beside it)"
else
    fail "a second make install keeps an edited configuration"
fi
sed -i '$d' "$conf"
(cd "$T/build" && make -s uninstall >/dev/null 2>&1)
left=$(find "$P" "$T/etc" -type f 2>/dev/null)
if [ -z "$left" ]; then
    pass "make uninstall removes every installed file"
else
    fail "make uninstall removes every installed file" "left: $left"
fi
echo "1..$N"
[ "$FAILED" -eq 0 ]
