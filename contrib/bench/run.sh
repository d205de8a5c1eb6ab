#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Benchmark tokenreviewd against nginx serving a fixed TokenReview answer
# over the same TLS setup, on 127.0.0.1 only.  Everything lives in a fresh
# temporary directory: a CA and server certificate, a static token file, the
# configs of both servers and their logs.  Both servers stay up for the whole
# run and wrk loads them in turn (nginx, tokenreviewd, nginx, ...), so that
# the figures compared come from the same machine state.  The script exits
# non-zero on errors only (missing tools, a server that does not start or
# answers wrongly, failed requests); the targets are reported as PASS/FAIL.

set -eu

usage()
{
	cat <<'EOF'
usage: run.sh [options]
  --duration D      length of one measured wrk run (default 10s)
  --connections N   concurrent keep-alive connections (default 64)
  --threads N       wrk threads (default 2)
  --workers N       tokenreviewd workers and nginx worker processes (default 2)
  --tokens N        tokens in the static token file (default 100000)
  --sample N        tokens the load is spread over, the first N (default 1000)
  --rounds N        measured runs per server, alternating (default 2)
  --warmup D        unmeasured run per server before the rounds (default 2s, 0 = none)
  --no-log          no audit log in tokenreviewd, no access log in nginx
  --no-cache        tokenreviewd result cache off (same as --cache off)
  --cache on|off|both
                    result cache on (the default), off (ttl = 0), or both:
                    each source is run once with and once without it
  --sources LIST    comma-separated token sources to measure, each in its
                    own daemon, all in the same run (default static):
                      static      the static token file
                      sqlite      the token database in a SQLite file
                      postgresql  the token database in PostgreSQL: the
                                  server at --tokendb-url, else a
                                  throwaway one started here (needs root
                                  and Debian's postgresql package); with
                                  the throwaway server, each round also
                                  runs pgbench's select-only load on it,
                                  prepared, with as many clients as the
                                  daemons' pools hold: the server's own
                                  rate, the ceiling of uncached lookups
  --tokendb         same as --sources sqlite
  --tokendb-url URL PostgreSQL database for the postgresql source (it must
                    not hold these tokens yet: they are imported); alone,
                    the same as --sources postgresql
  --keep            keep the temporary directory
  -h, --help        this text
The daemon is $TOKENREVIEWD, else ./tokenreviewd, ./src/tokenreviewd or
tokenreviewd in PATH.
EOF
}

die()
{
	echo "run.sh: $*" >&2
	exit 1
}

# Durations as wrk takes them: a number with an optional s, m or h.
duration_seconds()
{
	case "$1" in
	*[!0-9smh]* | "" | [smh]*) return 1 ;;
	*h) echo $((${1%h} * 3600)) ;;
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

positive()
{
	case "$2" in
	"" | *[!0-9]* | 0*) die "$1 needs a positive integer, not '$2'" ;;
	esac
}

DURATION=10s
CONNECTIONS=64
THREADS=2
WORKERS=2
TOKENS=100000
SAMPLE=1000
ROUNDS=2
WARMUP=2s
LOGS=yes
CACHE=on
KEEP=no
SOURCES=
TOKENDB_URL=

while [ $# -gt 0 ]; do
	case "$1" in
	--duration) DURATION=${2-}; shift ;;
	--connections) CONNECTIONS=${2-}; shift ;;
	--threads) THREADS=${2-}; shift ;;
	--workers) WORKERS=${2-}; shift ;;
	--tokens) TOKENS=${2-}; shift ;;
	--sample) SAMPLE=${2-}; shift ;;
	--rounds) ROUNDS=${2-}; shift ;;
	--warmup) WARMUP=${2-}; shift ;;
	--no-log) LOGS=no ;;
	--no-cache) CACHE=off ;;
	--cache) CACHE=${2-}; shift ;;
	--sources) SOURCES=${2-}; shift ;;
	--tokendb) SOURCES=sqlite ;;
	--tokendb-url) TOKENDB_URL=${2-}; shift ;;
	--keep) KEEP=yes ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	[ $# -gt 0 ] || { usage >&2; exit 2; }
	shift
done

DURATION_S=$(duration_seconds "$DURATION") || die "bad --duration '$DURATION'"
[ "$DURATION_S" -gt 0 ] || die "--duration must be above zero"
WARMUP_S=$(duration_seconds "$WARMUP") || die "bad --warmup '$WARMUP'"
for v in connections:$CONNECTIONS threads:$THREADS workers:$WORKERS \
    tokens:$TOKENS sample:$SAMPLE rounds:$ROUNDS; do
	positive "--${v%%:*}" "${v#*:}"
done
[ "$CONNECTIONS" -ge "$THREADS" ] || die "--connections must be >= --threads"
[ "$SAMPLE" -le "$TOKENS" ] || SAMPLE=$TOKENS

# The daemons to measure, one per source and cache setting, named
# <source> (cache on) and <source>-nocache.
if [ -z "$SOURCES" ]; then
	SOURCES=static
	[ -z "$TOKENDB_URL" ] || SOURCES=postgresql
fi
case "$CACHE" in
on | off) CACHES=$CACHE ;;
both) CACHES="on off" ;;
*) die "--cache takes on, off or both, not '$CACHE'" ;;
esac
VARIANTS=
SHAPE=static
USE_SQLITE=no
USE_PG=no
for src in ${SOURCES//,/ }; do
	case "$src" in
	static) ;;
	sqlite) SHAPE=tokendb; USE_SQLITE=yes ;;
	postgresql) SHAPE=tokendb; USE_PG=yes ;;
	*) die "unknown source '$src' (static, sqlite or postgresql)" ;;
	esac
	case " $VARIANTS " in *" $src "* | *" $src-nocache "*)
		die "source '$src' given twice" ;;
	esac
	for c in $CACHES; do
		if [ "$c" = on ]; then
			VARIANTS="$VARIANTS $src"
		else
			VARIANTS="$VARIANTS $src-nocache"
		fi
	done
done
VARIANTS=${VARIANTS# }
[ -n "$VARIANTS" ] || die "--sources names no source"
[ -z "$TOKENDB_URL" ] || [ "$USE_PG" = yes ] ||
    die "--tokendb-url needs the postgresql source"

HERE=$(cd "$(dirname "$0")" && pwd)
[ -r "$HERE/review.lua" ] || die "$HERE/review.lua not found"
[ -r "$HERE/nginx.conf.in" ] || die "$HERE/nginx.conf.in not found"

need()
{
	command -v "$1" >/dev/null 2>&1 ||
	    die "$1 not found; install it (Debian/Ubuntu: apt-get install $2)"
}
need wrk wrk
need nginx nginx
need openssl openssl
need curl curl
need awk mawk
need timeout coreutils

find_daemon()
{
	local c
	for c in ./tokenreviewd ./src/tokenreviewd \
	    "$(command -v tokenreviewd 2>/dev/null || true)"; do
		if [ -n "$c" ] && [ -f "$c" ] && [ -x "$c" ]; then
			echo "$c"
			return 0
		fi
	done
	return 1
}
if [ -n "${TOKENREVIEWD-}" ]; then
	if [ ! -f "$TOKENREVIEWD" ] || [ ! -x "$TOKENREVIEWD" ]; then
		die "TOKENREVIEWD=$TOKENREVIEWD is not an executable file"
	fi
	DAEMON=$TOKENREVIEWD
else
	DAEMON=$(find_daemon) ||
	    die "tokenreviewd not found: set TOKENREVIEWD=/path/to/tokenreviewd"
fi

# --- temporary directory and cleanup ------------------------------------

DIR=$(mktemp -d "${TMPDIR:-/tmp}/tokenreviewd-bench.XXXXXX") ||
    die "cannot create a temporary directory"
declare -A TRD_PID TRD_PORT
NGINX_PID=
PG_DIR=
FAILED=0

# shellcheck disable=SC2317  # called from the EXIT trap
stop_pid()
{
	local pid=$1 _
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317
cleanup()
{
	local v
	stop_pid "$NGINX_PID"
	NGINX_PID=
	for v in "${!TRD_PID[@]}"; do
		stop_pid "${TRD_PID[$v]}"
		unset "TRD_PID[$v]"
	done
	stop_postgresql
	if [ "$KEEP" = yes ]; then
		echo "run.sh: files kept in $DIR" >&2
	else
		rm -rf "$DIR"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- certificates, token file, token list ------------------------------

make_certs()
{
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$DIR/ca.key" -out "$DIR/ca.crt" -days 2 \
	    -subj "/CN=tokenreviewd bench CA" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$DIR/server.key" -out "$DIR/server.csr" \
	    -subj "/CN=localhost" &&
	printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	    "extendedKeyUsage=serverAuth" \
	    "keyUsage=critical,digitalSignature" >"$DIR/server.ext" &&
	openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.crt" \
	    -CAkey "$DIR/ca.key" -CAcreateserial -days 2 \
	    -extfile "$DIR/server.ext" -out "$DIR/server.crt"
}

# Lines "tok<i>-<16 hex>,user<i>,<i>,"group-a,group-b"", the format of
# kube-apiserver's --token-auth-file.  The random part comes from
# /dev/urandom: awk's rand() is too weak to make distinct-looking tokens.
# When a token database is measured, every source gets the same tokens in
# its shape, <i in base 36, 6 digits>.<16 hex>, so that the figures of the
# sources compare the same requests; the file is imported into each
# database with tokenreviewctl.
make_tokens()
{
	od -An -vtx8 -w8 -N $((TOKENS * 8)) /dev/urandom | awk -v shape="$SHAPE" '
	BEGIN { d = "0123456789abcdefghijklmnopqrstuvwxyz" }
	{
		tok = sprintf("tok%d-%s", NR, $1)
		if (shape == "tokendb") {
			tok = ""
			n = NR
			for (k = 0; k < 6; k++) {
				tok = substr(d, n % 36 + 1, 1) tok
				n = int(n / 36)
			}
			tok = tok "." $1
		}
		printf "%s,user%d,%d,\"group-a,group-b\"\n", tok, NR, NR
	}' >"$DIR/tokens.csv" &&
	chmod 600 "$DIR/tokens.csv" &&
	[ "$(wc -l <"$DIR/tokens.csv")" -eq "$TOKENS" ] &&
	head -n "$SAMPLE" "$DIR/tokens.csv" | cut -d, -f1 >"$DIR/wrk-tokens.txt"
}

# Imports the token file into the database of source $1 with tokenreviewctl
# and the config of that source's daemon.
import_tokens()
{
	local t0 t1
	write_tokenreviewd_conf "$1" "$1" on
	t0=$(date +%s)
	"$(dirname "$DAEMON")/tokenreviewctl" -c "$DIR/$1.conf" \
	    token import "$DIR/tokens.csv" >"$DIR/import-$1.log" 2>&1 || {
		tail -n 5 "$DIR/import-$1.log" >&2
		return 1
	}
	t1=$(date +%s)
	echo "  imported $TOKENS tokens into $1 in $((t1 - t0)) s"
}

# A free TCP port on 127.0.0.1: ask the kernel when python3 is around,
# otherwise probe random high ports with ss.
free_port()
{
	local p _
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' && return 0
	fi
	for _ in $(seq 100); do
		p=$((20000 + (RANDOM % 40000)))
		if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# --- servers -----------------------------------------------------------

# A throwaway PostgreSQL server for the postgresql source when no
# --tokendb-url is given: initdb and pg_ctl as the user postgres (the
# server refuses to run as root) in a directory of its own, on a free
# loopback port, fsync off (the bench measures reads), stopped at exit.
pg_run()
{
	(cd "$PG_DIR" && exec runuser -u postgres -- "$@")
}

start_postgresql()
{
	local bin port
	[ "$(id -u)" -eq 0 ] ||
	    die "starting PostgreSQL needs root; or give --tokendb-url"
	need runuser util-linux
	bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -x "$bin/initdb" ] ||
	    die "PostgreSQL not found (apt-get install postgresql), or give --tokendb-url"
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tokenreviewd-bench-pg.XXXXXX") ||
	    die "cannot create a directory for PostgreSQL"
	chown postgres: "$PG_DIR"
	PG_BIN=$bin
	pg_run "$bin/initdb" -D "$PG_DIR/data" -A trust -U tokenreviewd -N \
	    >"$PG_DIR/initdb.log" 2>&1 || {
		tail -n 5 "$PG_DIR/initdb.log" >&2
		die "initdb failed"
	}
	port=$(free_port) || die "no free port found for PostgreSQL"
	pg_run "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 30 \
	    -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off \
	    -c synchronous_commit=off" start >/dev/null 2>&1 || {
		tail -n 5 "$PG_DIR/log" >&2
		die "PostgreSQL did not start"
	}
	TOKENDB_URL=postgresql://tokenreviewd@127.0.0.1:$port/postgres
	echo "  PostgreSQL $("$bin/postgres" -V | awk '{print $3}') on port $port"
}

# shellcheck disable=SC2317  # called from the EXIT trap
stop_postgresql()
{
	[ -n "$PG_DIR" ] || return 0
	pg_run "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop \
	    >/dev/null 2>&1 || true
	[ "$KEEP" = yes ] || rm -rf "$PG_DIR"
	PG_DIR=
}

# The config of daemon $1: source $2, result cache $3 (on or off).
write_tokenreviewd_conf()
{
	local name=$1 src=$2 cache=$3 audit=yes chain=tokendb
	[ "$LOGS" = yes ] || audit=no
	[ "$src" != static ] || chain=static
	{
		echo "[server]"
		echo "listen = 127.0.0.1:0"
		echo "port_file = $DIR/$name.port"
		echo "tls_cert = $DIR/server.crt"
		echo "tls_key = $DIR/server.key"
		echo "review_path = /tokenreview"
		echo "workers = $WORKERS"
		echo "chain = $chain"
		echo
		if [ "$cache" = off ]; then
			echo "[cache]"
			echo "ttl = 0"
			echo "negative_ttl = 0"
			echo
		fi
		echo "[static]"
		echo "file = $DIR/tokens.csv"
		echo
		if [ "$src" != static ]; then
			echo "[tokendb]"
			if [ "$src" = postgresql ]; then
				echo "url = $TOKENDB_URL"
			else
				echo "path = $DIR/tokens.db"
			fi
			echo
		fi
		echo "[log]"
		echo "level = warn"
		echo "audit = $audit"
	} >"$DIR/$name.conf"
}

# Starts the daemon of variant $1 (<source> or <source>-nocache).
start_tokenreviewd()
{
	local name=$1 src=${1%-nocache} cache=on _ port
	[ "$name" = "$src" ] || cache=off
	write_tokenreviewd_conf "$name" "$src" "$cache"
	"$DAEMON" -c "$DIR/$name.conf" 2>"$DIR/$name.log" &
	TRD_PID[$name]=$!
	for _ in $(seq 150); do
		if [ -s "$DIR/$name.port" ]; then
			port=$(head -n 1 "$DIR/$name.port")
			port=${port##*:}
			case "$port" in
			"" | *[!0-9]*) ;;
			*) TRD_PORT[$name]=$port; return 0 ;;
			esac
		fi
		kill -0 "${TRD_PID[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$DIR/$name.log" >&2 || true
	die "tokenreviewd ($name) did not start (no port in $DIR/$name.port)"
}

sed_escape()
{
	printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

write_nginx_conf()
{
	local user="" access="off" body
	[ "$(id -u)" -ne 0 ] || user="user root;"
	[ "$LOGS" = no ] || access="$DIR/nginx-access.log"
	body=$(sed_escape "$NGINX_BODY")
	sed -e "s|@USER@|$user|" \
	    -e "s|@WORKERS@|$WORKERS|" \
	    -e "s|@DIR@|$(sed_escape "$DIR")|g" \
	    -e "s|@ACCESS_LOG@|$(sed_escape "$access")|" \
	    -e "s|@PORT@|$NGINX_PORT|" \
	    -e "s|@CERT@|$(sed_escape "$DIR/server.crt")|" \
	    -e "s|@KEY@|$(sed_escape "$DIR/server.key")|" \
	    -e "s|@BODY@|$body|" \
	    "$HERE/nginx.conf.in" >"$DIR/nginx.conf"
}

start_nginx()
{
	local _
	NGINX_PORT=$(free_port) || die "no free port found for nginx"
	write_nginx_conf
	nginx -t -q -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/nginx-error.log" \
	    -g 'daemon off;' 2>"$DIR/nginx-start.log" || {
		cat "$DIR/nginx-start.log" >&2
		die "nginx rejects $DIR/nginx.conf"
	}
	nginx -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/nginx-error.log" \
	    -g 'daemon off;' 2>>"$DIR/nginx-start.log" &
	NGINX_PID=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null --max-time 2 --cacert "$DIR/ca.crt" \
		    "https://127.0.0.1:$NGINX_PORT/" && return 0
		kill -0 "$NGINX_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$DIR/nginx-start.log" "$DIR/nginx-error.log" >&2 2>/dev/null || true
	die "nginx did not start on 127.0.0.1:$NGINX_PORT"
}

# --- checks --------------------------------------------------------------

review_body()
{
	printf '{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1",'
	printf '"metadata":{},"spec":{"token":"%s",' "$1"
	printf '"audiences":["https://kubernetes.default.svc"]},'
	printf '"status":{"user":{}}}\n'
}

# POST a review for token $2 to port $1; the answer body on stdout.
review()
{
	review_body "$2" | curl -sS --fail --max-time 5 --cacert "$DIR/ca.crt" \
	    -H 'Content-Type: application/json' --data-binary @- \
	    "https://127.0.0.1:$1/tokenreview"
}

# Daemon $1 must accept a token of the list as the right user and refuse
# one that is not in the file, before any figure is worth reading.
verify_tokenreviewd()
{
	local name=$1 port=${TRD_PORT[$1]} line tok user answer
	line=$(sed -n "$(( (SAMPLE + 1) / 2 ))p" "$DIR/tokens.csv")
	tok=${line%%,*}
	user=$(echo "$line" | cut -d, -f2)
	answer=$(review "$port" "$tok") ||
	    die "tokenreviewd ($name): review request failed"
	echo "$answer" | grep -Eq '"authenticated" *: *true' ||
	    die "tokenreviewd ($name): token not accepted: $answer"
	echo "$answer" | grep -Eq "\"username\" *: *\"$user\"" ||
	    die "tokenreviewd ($name): wrong user for token: $answer"
	# The baseline answers with the bytes the first daemon sent.
	[ -n "${NGINX_BODY-}" ] || NGINX_BODY=$(printf '%s' "$answer" | tr -d '\n')
	answer=$(review "$port" "not-a-token-$RANDOM") ||
	    die "tokenreviewd ($name): review request failed"
	echo "$answer" | grep -Eq '"authenticated" *: *true' &&
	    die "tokenreviewd ($name): unknown token accepted: $answer"
	case "$NGINX_BODY" in
	*\'* | *\\*)
		NGINX_BODY='{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","status":{"authenticated":true,"user":{"username":"user1","uid":"1","groups":["group-a","group-b"]}}}'
		;;
	esac
	return 0
}

verify_nginx()
{
	local answer
	answer=$(review "$NGINX_PORT" "tok1") || die "nginx: request failed"
	[ "$answer" = "$NGINX_BODY" ] || die "nginx: unexpected answer: $answer"
}

tls_of()
{
	openssl s_client -connect "127.0.0.1:$1" -servername localhost \
	    </dev/null 2>/dev/null |
	    awk '/^New, / { sub(/^New, /, ""); print; exit }'
}

# --- memory ----------------------------------------------------------------

# VmRSS or VmHWM of a process in kB.
proc_kb()
{
	awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$1/status" \
	    2>/dev/null || echo 0
}

# nginx master plus its workers (shared pages counted in each).
nginx_rss_kb()
{
	local total pid
	total=$(proc_kb "$NGINX_PID" VmRSS)
	for pid in $(ps -o pid= --ppid "$NGINX_PID" 2>/dev/null); do
		total=$((total + $(proc_kb "$pid" VmRSS)))
	done
	echo "$total"
}

# CPU time (user + system, clock ticks) spent so far by the processes $@.
cpu_ticks()
{
	local pid total=0 t
	for pid in "$@"; do
		# Fields 14 and 15 of stat, counted after the name (2), which
		# may hold spaces.
		t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null |
		    awk '{ print $12 + $13 }')
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

# The processes that serve for $1: the daemon, or nginx's master and workers.
server_pids()
{
	if [ "$1" = nginx ]; then
		echo "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID" 2>/dev/null)
	else
		echo "${TRD_PID[$1]}"
	fi
}

# --- load --------------------------------------------------------------------

# wrk against port $2 for $3; the raw output goes to $DIR/wrk-$1.txt.
run_wrk()
{
	local name=$1 port=$2 dur=$3 secs
	secs=$(duration_seconds "$dur")
	timeout $((secs + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" \
	    --latency -s "$HERE/review.lua" \
	    "https://127.0.0.1:$port/tokenreview" -- "$DIR/wrk-tokens.txt" \
	    >"$DIR/wrk-$name.txt" 2>&1 || {
		cat "$DIR/wrk-$name.txt" >&2
		die "wrk failed against $name"
	}
}

# One line "rps p50_ms p99_ms non2xx socket_errors requests" from a wrk
# output.
parse_wrk()
{
	awk '
	function ms(v,   n, u) {
		n = v + 0
		u = v
		sub(/^[0-9.]+/, "", u)
		if (u == "us") return n / 1000
		if (u == "ms") return n
		if (u == "s") return n * 1000
		if (u == "m") return n * 60000
		return -1
	}
	/^Requests\/sec:/ { rps = $2 }
	/ requests in / { reqs = $1 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Socket errors:/ {
		for (i = 1; i <= NF; i++)
			if ($i ~ /^[0-9]+,?$/) sock += $i + 0
	}
	/Non-2xx or 3xx responses:/ { bad = $NF + 0 }
	END {
		if (rps == "" || p50 == "" || p99 == "") exit 1
		printf "%s %.3f %.3f %d %d %d\n", rps, p50, p99, bad, sock,
		    reqs
	}' "$1"
}

# Runs round $2 against server $1 and appends its figures to $DIR/results:
# wrk's, and the server's CPU time per answer in microseconds (the user
# and system time of its processes over the run, from /proc).
TICK=$(getconf CLK_TCK)
measure()
{
	local name=$1 round=$2 port line rps p50 p99 bad sock reqs c0 c1 cpu
	if [ "$name" = nginx ]; then port=$NGINX_PORT; else port=${TRD_PORT[$name]}; fi
	c0=$(cpu_ticks $(server_pids "$name"))
	run_wrk "$name-$round" "$port" "$DURATION"
	c1=$(cpu_ticks $(server_pids "$name"))
	line=$(parse_wrk "$DIR/wrk-$name-$round.txt") || {
		cat "$DIR/wrk-$name-$round.txt" >&2
		die "cannot read the wrk output for $name round $round"
	}
	read -r rps p50 p99 bad sock reqs <<EOF
$line
EOF
	cpu=$(awk -v t=$((c1 - c0)) -v hz="$TICK" -v n="$reqs" \
	    'BEGIN { printf "%.2f", (n > 0 ? t * 1e6 / hz / n : 0) }')
	echo "$name $round $rps $p50 $p99 $bad $sock $cpu" >>"$DIR/results"
	printf '  %-18s round %d: %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %6.2f us' \
	    "$name" "$round" "$rps" "$p50" "$p99" "$cpu"
	if [ "$bad" -ne 0 ] || [ "$sock" -ne 0 ]; then
		printf '  ERRORS: non-2xx %d, socket errors %d' "$bad" "$sock"
		FAILED=1
	fi
	printf '\n'
}

# The PostgreSQL server's own rate for what an uncached lookup asks:
# pgbench's select-only script (one row by its primary key, prepared)
# with as many clients as one daemon's pools hold (workers x pool_size,
# 4 by default), on the throwaway server only: pgbench makes tables of its
# own.  A row "pgbench ROUND TPS LATENCY LATENCY 0 0" in the results.
PGBENCH_CLIENTS=
pgbench_init()
{
	PGBENCH_CLIENTS=$((WORKERS * 4))
	"$PG_BIN/pgbench" -i -q -s 1 "$TOKENDB_URL" >"$DIR/pgbench-init.log" 2>&1 ||
	    { tail -n 5 "$DIR/pgbench-init.log" >&2; die "pgbench -i failed"; }
}

measure_pgbench()
{
	local round=$1 secs tps lat
	secs=$(duration_seconds "$DURATION")
	timeout $((secs + 30)) "$PG_BIN/pgbench" -n -S -M prepared \
	    -c "$PGBENCH_CLIENTS" -j "$THREADS" -T "$secs" "$TOKENDB_URL" \
	    >"$DIR/pgbench-$round.txt" 2>&1 || {
		cat "$DIR/pgbench-$round.txt" >&2
		die "pgbench failed"
	}
	tps=$(awk '/^tps = / { print $3; exit }' "$DIR/pgbench-$round.txt")
	lat=$(awk '/^latency average = / { print $4; exit }' \
	    "$DIR/pgbench-$round.txt")
	[ -n "$tps" ] || die "cannot read the pgbench output"
	echo "pgbench $round $tps ${lat:-0} ${lat:-0} 0 0 0" >>"$DIR/results"
	printf '  %-18s round %d: %10.0f tx/s   (select-only, prepared, -c %d)\n' \
	    pgbench "$round" "$tps" "$PGBENCH_CLIENTS"
}

# --- main ----------------------------------------------------------------------

echo "tokenreviewd benchmark: $DAEMON vs nginx, 127.0.0.1 only"
echo "  cpus $(nproc 2>/dev/null || echo '?'), workers $WORKERS," \
    "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds each," \
    "$TOKENS tokens ($SAMPLE used), logs $LOGS"
echo "  daemons: $VARIANTS"
echo "  $(nginx -v 2>&1), $(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}')," \
    "$(openssl version | awk '{print $1, $2}')"
echo "  work dir $DIR"

make_certs >"$DIR/openssl.log" 2>&1 || {
	cat "$DIR/openssl.log" >&2
	die "cannot make the certificates"
}
make_tokens || die "cannot write the token file"
if [ "$USE_PG" = yes ] && [ -z "$TOKENDB_URL" ]; then
	start_postgresql
	pgbench_init
fi
if [ "$USE_SQLITE" = yes ]; then
	import_tokens sqlite || die "cannot import the tokens into SQLite"
fi
if [ "$USE_PG" = yes ]; then
	import_tokens postgresql || die "cannot import the tokens into PostgreSQL"
fi

: >"$DIR/memory"
for v in $VARIANTS; do
	start_tokenreviewd "$v"
	printf '%s %s %s\n' "$v" "$(proc_kb "${TRD_PID[$v]}" VmRSS)" \
	    "$(proc_kb "${TRD_PID[$v]}" VmHWM)" >>"$DIR/memory"
	verify_tokenreviewd "$v"
	echo "  $(printf '%-18s' "$v") on port ${TRD_PORT[$v]} (pid ${TRD_PID[$v]})"
done
start_nginx
verify_nginx
echo "  $(printf '%-18s' nginx) on port $NGINX_PORT (pid $NGINX_PID)"
echo "  TLS: $(tls_of "$NGINX_PORT") (nginx)," \
    "$(tls_of "${TRD_PORT[${VARIANTS%% *}]}") (tokenreviewd)"

if [ "$WARMUP_S" -gt 0 ]; then
	echo "warm-up, $WARMUP each (not counted)"
	run_wrk nginx-warmup "$NGINX_PORT" "$WARMUP"
	for v in $VARIANTS; do
		run_wrk "$v-warmup" "${TRD_PORT[$v]}" "$WARMUP"
	done
fi

# The machine's load around the measured runs: ratios taken on a busy
# machine are still same-run ratios, but should be read with it.
loadavg()
{
	cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'
}

echo "measured runs, alternating (load average $(loadavg))"
: >"$DIR/results"
for round in $(seq "$ROUNDS"); do
	measure nginx "$round"
	for v in $VARIANTS; do
		measure "$v" "$round"
	done
	[ -z "$PGBENCH_CLIENTS" ] || measure_pgbench "$round"
done

echo "  load average after the runs: $(loadavg)"
kill -0 "$NGINX_PID" 2>/dev/null || die "nginx died during the load"
NGINX_AFTER_RSS=$(nginx_rss_kb)
: >"$DIR/memory.after"
for v in $VARIANTS; do
	kill -0 "${TRD_PID[$v]}" 2>/dev/null || die "tokenreviewd ($v) died during the load"
	# A last answer after the load: the daemon still serves correctly.
	verify_tokenreviewd "$v"
	echo " $(proc_kb "${TRD_PID[$v]}" VmRSS) $(proc_kb "${TRD_PID[$v]}" VmHWM)"
done >"$DIR/memory.after"
paste -d '' "$DIR/memory" "$DIR/memory.after" >"$DIR/memory.all"

if [ "$LOGS" = yes ]; then
	printf 'log lines:'
	for v in $VARIANTS; do
		printf ' %s %d,' "$v" "$(wc -l <"$DIR/$v.log")"
	done
	printf ' nginx access log %d\n' \
	    "$(wc -l <"$DIR/nginx-access.log" 2>/dev/null || echo 0)"
fi

# The summary: mean over the rounds for each server, ratios to nginx and,
# for a token database, to the static source with the same cache setting;
# the targets are judged on the first daemon.
awk -v tokens="$TOKENS" -v rounds="$ROUNDS" \
    -v order="nginx $VARIANTS${PGBENCH_CLIENTS:+ pgbench}" \
    -v nr="$NGINX_AFTER_RSS" -v memfile="$DIR/memory.all" '
{
	rps[$1] += $3; p50[$1] += $4; p99[$1] += $5; cpu[$1] += $8; n[$1]++
	# The ratio of each round to the nginx run just before it.
	if ($1 == "nginx")
		last = $3
	else if (last > 0) {
		rsum[$1] += $3 / last; rn[$1]++
	}
}
function verdict(ok) { return ok ? "PASS" : "FAIL" }
function baseline(s,   b) {
	if (s == "nginx" || s == "pgbench" || s ~ /^static/)
		return ""
	b = (s ~ /-nocache$/) ? "static-nocache" : "static"
	return (b in n) ? b : ""
}
END {
	for (s in n) {
		rps[s] /= n[s]; p50[s] /= n[s]; p99[s] /= n[s]; cpu[s] /= n[s]
	}
	k = split(order, names, " ")
	first = names[2]
	print ""
	printf "results: mean of %d rounds per server\n", rounds
	printf "  %-18s %10s %9s %9s %9s %9s %8s %8s %10s\n", "", "req/s",
	    "p50 ms", "p99 ms", "/nginx", "p99/ngx", "cpu us", "cpu ngx/",
	    "/static"
	for (i = 1; i <= k; i++) {
		s = names[i]
		b = baseline(s)
		printf "  %-18s %10.0f %9.3f %9.3f %9.3f %9.3f", s, rps[s],
		    p50[s], p99[s], rps[s] / rps["nginx"], p99[s] / p99["nginx"]
		if (cpu[s] > 0)
			printf " %8.2f %8.3f", cpu[s], cpu["nginx"] / cpu[s]
		else
			printf " %8s %8s", "-", "-"
		if (b != "")
			printf " %10.3f", rps[s] / rps[b]
		printf "\n"
	}
	printf "  (cpu us: the server'"'"'s own CPU time per answer, user and system)\n"
	printf "  (cpu ngx/: nginx'"'"'s cpu us over this one'"'"'s: above 1, it spends less)\n"
	if ("pgbench" in n && "postgresql-nocache" in n)
		printf "  postgresql-nocache / pgbench select-only: %.3f\n",
		    rps["postgresql-nocache"] / rps["pgbench"]
	print ""
	printf "tokenreviewd memory (%d tokens), MiB:\n", tokens
	printf "  %-18s %12s %12s %12s %12s\n", "", "loaded RSS", "loaded HWM",
	    "after RSS", "after HWM"
	while ((getline line < memfile) > 0) {
		split(line, m, " ")
		printf "  %-18s %12.1f %12.1f %12.1f %12.1f\n", m[1],
		    m[2] / 1024, m[3] / 1024, m[4] / 1024, m[5] / 1024
		if (m[1] == first)
			ah = m[5]
	}
	printf "  (nginx master + workers after the load: VmRSS %.1f MiB)\n",
	    nr / 1024
	rr = rps[first] / rps["nginx"]
	pr = p99[first] / p99["nginx"]
	print ""
	printf "targets (%s):\n", first
	printf "  req/s ratio >= 1.0:           %.3f  %s\n", rr, verdict(rr >= 1.0)
	printf "  (mean of the rounds'"'"' ratios to the nginx run before each: %.3f)\n",
	    rsum[first] / rn[first]
	printf "  p99 <= 1.2 x nginx:           %.3f  %s\n", pr, verdict(pr <= 1.2)
	if (tokens == 100000)
		printf "  RSS < 20 MiB (peak, VmHWM):   %.1f  %s\n", ah / 1024,
		    verdict(ah < 20 * 1024)
	else
		printf "  RSS < 20 MiB: defined for 100000 tokens, not checked\n"
}' "$DIR/results"

if [ "$FAILED" -ne 0 ]; then
	echo "run.sh: some requests failed (see the ERRORS lines above)" >&2
	exit 1
fi
exit 0
