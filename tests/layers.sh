#!/bin/sh
# layers.sh - every #include "DIR/..." of the tree points down the layers
# (README "Layout"), never up or sideways; policy/ has no I/O, threads,
# libconfig or OpenSSL. Prints TAP; exit 1 on any violation.
#
#   base  <-  registry  <-  policy, dns, dkim, state, log, metrics  <-  milter, ctl
#
# A file may include its own layer and those listed for it below.
src=${top_srcdir:-$(dirname "$0")/..}
cd "$src" || exit 1

allowed() {
	case "$1" in
	base) echo "base" ;;
	registry) echo "base registry" ;;
	policy | dns | dkim | state | log | ingest | metrics) echo "base registry $1" ;;
	milter) echo "base registry policy dns dkim state log metrics milter" ;;
	ctl) echo "base registry policy dns dkim state log ingest ctl" ;;
	*) echo "" ;;
	esac
}

n=0 bad=0
for layer in base registry policy dns dkim state log ingest metrics milter ctl; do
	ok=$(allowed "$layer")
	for f in "$layer"/*.c "$layer"/*.h; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		msg=
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\)\/.*/\1/p' "$f"); do
			case " $ok " in
			*" $inc "*) ;;
			*) msg="$msg $inc/" ;;
			esac
		done
		if [ "$layer" = policy ]; then
			sys=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(pthread\.h|libconfig\.h|openssl/|sys/socket\.h|fcntl\.h|unistd\.h|sqlite3\.h|hiredis/)' "$f" | head -1)
			[ -n "$sys" ] && msg="$msg (policy/ must do no I/O: $sys)"
		fi
		if [ -n "$msg" ]; then
			echo "not ok $n - $f includes$msg, outside its layer ($ok)"
			bad=$((bad + 1))
		else
			echo "ok $n - $f"
		fi
	done
done
# Nothing may live outside a layer folder.
for d in lib; do
	n=$((n + 1))
	if ls "$d"/*.[ch] >/dev/null 2>&1; then
		echo "not ok $n - $d/ holds sources outside the layers"
		bad=$((bad + 1))
	else
		echo "ok $n - no sources in $d/"
	fi
done
echo "1..$n"
[ "$bad" -eq 0 ]
