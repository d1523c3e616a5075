# common.sh - shared by contrib/run-demo and contrib/run-tests: install what
# is missing on Debian 12 and build the tree. Source it; do not run it.

BW_PACKAGES="autoconf automake libtool pkg-config make gcc clang libclang-rt-14-dev
 libmilter-dev libopendkim-dev libspf2-dev libopendmarc-dev libconfig-dev libssl-dev
 libidn2-dev libsqlite3-dev libgmime-3.0-dev libxml2-dev libzip-dev zlib1g-dev libhiredis-dev libjansson-dev libcmocka-dev miltertest postfix swaks
 python3-dkim python3-nacl python3-dnspython openssl
 chromium python3-jsonschema python3-pil fonts-dejavu-core rsyslog python3-yaml time bc
 m4 libwrap0 sasl2-bin libsasl2-modules util-linux
 build-essential dpkg-dev debhelper lintian systemd man-db logrotate adduser
 libmicrohttpd-dev prometheus
 libunbound-dev libpsl-dev publicsuffix dns-root-data ldnsutils
 redis-server redis-sentinel"

# Install the packages that are not installed yet (apt-get only when needed).
bw_install_deps() {
	local missing=
	for p in $BW_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "== installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then echo "need root to install:$missing" >&2; return 1; fi
	# Postfix must not ask questions nor start a system instance
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq || return 1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null || return 1
}

# The Sendmail end-to-end test unpacks Debian's sendmail packages (they
# conflict with Postfix, so they are never installed): fetch them here, with
# the other packages, so the test itself needs no network.
BW_SENDMAIL_DEBS=${BW_SENDMAIL_DEBS:-/var/cache/bulkwarden-tests/sendmail}
bw_fetch_sendmail() {
	local p missing=
	for p in sendmail-bin sendmail-base sendmail-cf; do
		ls "$BW_SENDMAIL_DEBS/${p}_"*.deb >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "== downloading (not installing):$missing"
	mkdir -p "$BW_SENDMAIL_DEBS" || return 1
	(cd "$BW_SENDMAIL_DEBS" && apt-get download $missing >/dev/null 2>&1) && return 0
	apt-get update -qq && (cd "$BW_SENDMAIL_DEBS" && apt-get download $missing >/dev/null 2>&1)
}

# Configure and build out of tree in DIR (default _build), with optional
# extra configure arguments; idempotent.
bw_build() {
	local dir=${1:-_build}
	shift 2>/dev/null
	[ -x configure ] || autoreconf -fi >/dev/null 2>&1 || return 1
	mkdir -p "$dir" || return 1
	(
		cd "$dir" || exit 1
		[ -f Makefile ] || ../configure -q "$@" >/dev/null || exit 1
		make -s -j"$(nproc)" >/dev/null 2>&1 || make || exit 1
	)
}
