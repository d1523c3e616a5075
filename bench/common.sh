# shellcheck shell=bash
#
# bench/common.sh - helpers shared by bench/compare and bench/scale.  Source it.
#
#   bench_init              temp dir $T (mode 755), test keys (0600) in $T/keys,
#                           SPF/DMARC zone + loopback DNS server ($PF_DNS_PORT),
#                           miltload/nullfilter built; sets an EXIT trap
#   bw_conf NAME SOCK KEY SEL [IDENTITIES_TEXT]
#                           write $T/NAME.conf: the newsletter identity (login
#                           svc-news, 10.20.0.0/24, and 127.0.0.0/8 for Postfix's
#                           smtp-source) signing with KEY/SEL, full policy
#                           (SPF/DMARC preflight via the loopback DNS), state and
#                           events in $T
#   start_bw NAME SOCK      start bulkwarden -f on $T/NAME.conf; prints pid
#   odk_conf NAME SOCK KEY SEL ALG; start_odk NAME   the same for opendkim
#   start_null NAME SOCK [-r]
#   stop_pid PID            TERM, bounded wait, KILL
#   ml LABEL SOCK PID ARGS  one miltload run; appends its RESULT line to
#                           $T/results and prints the rate
#   median                  median of the numbers on stdin
#
# Every wait is bounded; only processes started here are stopped (by pid).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
BUILD=${BUILD:-$ROOT/_build}
BW=${BW:-$BUILD/bulkwarden}
MILTLOAD=$BENCH_DIR/miltload
NULLF=$BENCH_DIR/nullfilter
# shellcheck source=../tests/e2e/lib.sh
. "$ROOT/tests/e2e/lib.sh"

BENCH_PIDS=()

# pids are recorded in $T/pids: start_* run in $(...) subshells, so an array
# would not reach the EXIT trap
track_pid() { echo "$1" >>"$T/pids"; }

bench_cleanup() {
    local p
    [ -n "${PF:-}" ] && pf_stop "$PF"
    [ -f "$T/pids" ] && mapfile -t -O "${#BENCH_PIDS[@]}" BENCH_PIDS <"$T/pids"
    for p in "${BENCH_PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
    done
    for p in "${BENCH_PIDS[@]}"; do
        for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
    pf_dns_stop "$T"
    if [ -n "${KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}

bench_init() {
    [ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
    [ -x "$BW" ] || { echo "bench: $BW not built" >&2; exit 1; }
    make -s -C "$BENCH_DIR" >/dev/null || { echo "bench: cannot build miltload/nullfilter" >&2; exit 1; }
    T=$(mktemp -d "${TMPDIR:-/tmp}/bw-bench.XXXXXX")
    chmod 755 "$T"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    : >"$T/results"
    mkdir -p "$T/keys"
    cp "$ROOT/tests/dkim/news-rsa.pem" "$ROOT/tests/dkim/news-ed25519.pem" "$T/keys/"
    chmod 600 "$T/keys/"*
    cat >"$T/zone" <<EOF
news.example.com TXT v=spf1 ip4:192.0.2.0/24 -all
_dmarc.news.example.com TXT v=DMARC1; p=reject; rua=mailto:dmarc@example.com
EOF
    pf_dns_start "$T" "$T/zone" || exit 1
    track_pid "$(cat "$T/dns.pid")"
}

NEWSLETTER_ID='
  { id = "newsletter"; description = "Weekly newsletter"; class = "marketing";
    owners = { dns = "dns@example.com"; platform = "martech@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-1"; };
    credentials = { logins = ["svc-news"]; networks = ["10.20.0.0/24"]; };
    envelope_domains = ["news.example.com"];
    from_domains = ["news.example.com"];
    dkim = ( { domain = "news.example.com"; selector = "@SEL@"; key = "@KEY@"; } ); },
  { id = "newsletter-mta"; description = "Newsletter through the relay (smtp-source)"; class = "marketing";
    owners = { dns = "dns@example.com"; platform = "martech@example.com"; compliance = "privacy@example.com"; };
    approval = { by = "ciso@example.com"; date = "2026-01-15"; ticket = "SEC-2"; };
    credentials = { networks = ["127.0.0.0/8"]; };
    envelope_domains = ["news.example.com"];
    from_domains = ["news.example.com"];
    dkim = ( { domain = "news.example.com"; selector = "@SEL@"; key = "@KEY@"; } ); }'

# bw_conf NAME SOCK KEY SEL [IDENTITIES] - write $T/NAME.conf
bw_conf() {
    local name=$1 sock=$2 key=$3 sel=$4 ids=${5:-$NEWSLETTER_ID}
    ids=${ids//@SEL@/$sel}
    ids=${ids//@KEY@/$key}
    mkdir -p "$T/$name"
    cat >"$T/$name.conf" <<EOF
milter = { socket = "$sock"; socket_mode = "0660"; pidfile = "$T/$name/bw.pid"; };
state = { backend = "sqlite"; path = "$T/$name/state.db"; };
log = { target = "file"; path = "$T/$name/events.jsonl"; };
relay = { egress_ips = ["192.0.2.25"]; };
dns = { nameservers = ["127.0.0.1:$PF_DNS_PORT"]; timeout = 2; cache_ttl = 3600; };
policy = { mode = "enforce"; };
identities = ( $ids
);
EOF
}

# wait_sock SOCK PID - until the socket accepts (bounded 10 s)
wait_sock() {
    local s=$1 pid=$2 i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        case $s in
        unix:*) [ -S "${s#unix:}" ] && return 0 ;;
        local:*) [ -S "${s#local:}" ] && return 0 ;;
        inet:*) p=${s#inet:}; p=${p%%@*}; (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0 ;;
        esac
        sleep 0.1
    done
    return 1
}

# postfix's smtpd (user postfix) must reach unix sockets
sock_for_postfix() { case $1 in unix:* | local:*) chgrp postfix "${1#*:}" 2>/dev/null && chmod g+rw "${1#*:}" ;; esac; }

# start_bw NAME SOCK - prints the pid
start_bw() {
    local name=$1 sock=$2
    "$BW" -f -c "$T/$name.conf" -p "$sock" >"$T/$name/milter.log" 2>&1 &
    local pid=$!
    track_pid "$pid"
    wait_sock "$sock" "$pid" || { echo "bench: bulkwarden $name did not start" >&2; cat "$T/$name/milter.log" >&2; exit 1; }
    sock_for_postfix "$sock"
    echo "$pid"
}

# odk_conf NAME SOCK KEY SEL ALG
odk_conf() {
    local name=$1 sock=$2 key=$3 sel=$4 alg=$5
    mkdir -p "$T/$name"
    printf '127.0.0.0/8\n10.0.0.0/8\n' >"$T/$name/internal"
    cat >"$T/$name.conf" <<EOF
Socket $sock
Domain news.example.com
Selector $sel
KeyFile $key
Mode s
Canonicalization relaxed/relaxed
SignatureAlgorithm $alg
InternalHosts $T/$name/internal
Syslog no
UMask 007
# the key lives under /tmp (world-writable parent); the check is a startup one
RequireSafeKeys no
EOF
}

start_odk() {
    local name=$1 sock=$2
    opendkim -f -x "$T/$name.conf" >"$T/$name/milter.log" 2>&1 &
    local pid=$!
    track_pid "$pid"
    wait_sock "$sock" "$pid" || { echo "bench: opendkim $name did not start" >&2; cat "$T/$name/milter.log" >&2; exit 1; }
    sock_for_postfix "$sock"
    echo "$pid"
}

start_null() {
    local name=$1 sock=$2
    shift 2
    mkdir -p "$T/$name"
    "$NULLF" -p "$sock" "$@" >"$T/$name/milter.log" 2>&1 &
    local pid=$!
    track_pid "$pid"
    wait_sock "$sock" "$pid" || { echo "bench: nullfilter did not start" >&2; exit 1; }
    sock_for_postfix "$sock"
    echo "$pid"
}

stop_pid() {
    local p=$1
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null
}

# ml LABEL SOCK PID ARGS... - one miltload run; prints "rate p50 p99"
ml() {
    local label=$1 sock=$2 pid=$3 line
    shift 3
    line=$(timeout 600 "$MILTLOAD" -q -s "$sock" -p "$pid" -L "$label" "$@" 2>>"$T/miltload.err" | grep '^RESULT')
    printf '%s\n' "$line" >>"$T/results"
    printf '%s\n' "$line" | awk '{for(i=2;i<=NF;i++){split($i,a,"=");v[a[1]]=a[2]} print v["rate"], v["p50_ms"], v["p99_ms"], v["error"]}'
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
