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
  --no-cache        tokenreviewd result cache off (ttl = 0)
  --tokendb         tokens in a token database (SQLite, imported with
                    tokenreviewctl) instead of the static token file
  --tokendb-url URL as --tokendb, in the PostgreSQL database at URL (it
                    must not hold these tokens yet: they are imported)
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
CACHE=yes
KEEP=no
SOURCE=static
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
	--no-cache) CACHE=no ;;
	--tokendb) SOURCE=tokendb ;;
	--tokendb-url) SOURCE=tokendb; TOKENDB_URL=${2-}; shift ;;
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
TRD_PID=
NGINX_PID=
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
	stop_pid "$NGINX_PID"
	stop_pid "$TRD_PID"
	NGINX_PID=
	TRD_PID=
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
# With --tokendb the tokens have the token database's shape instead,
# <i in base 36, 6 digits>.<16 hex>, and are imported into it.
make_tokens()
{
	od -An -vtx8 -w8 -N $((TOKENS * 8)) /dev/urandom | awk -v src="$SOURCE" '
	BEGIN { d = "0123456789abcdefghijklmnopqrstuvwxyz" }
	{
		tok = sprintf("tok%d-%s", NR, $1)
		if (src == "tokendb") {
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
	head -n "$SAMPLE" "$DIR/tokens.csv" | cut -d, -f1 >"$DIR/wrk-tokens.txt" ||
	    return 1
	[ "$SOURCE" = tokendb ] || return 0
	write_tokenreviewd_conf
	"$(dirname "$DAEMON")/tokenreviewctl" -c "$DIR/tokenreviewd.conf" \
	    token import "$DIR/tokens.csv" >/dev/null
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

write_tokenreviewd_conf()
{
	local audit=yes
	[ "$LOGS" = yes ] || audit=no
	{
		echo "[server]"
		echo "listen = 127.0.0.1:0"
		echo "port_file = $DIR/tokenreviewd.port"
		echo "tls_cert = $DIR/server.crt"
		echo "tls_key = $DIR/server.key"
		echo "review_path = /tokenreview"
		echo "workers = $WORKERS"
		echo "chain = $SOURCE"
		echo
		if [ "$CACHE" = no ]; then
			echo "[cache]"
			echo "ttl = 0"
			echo "negative_ttl = 0"
			echo
		fi
		echo "[static]"
		echo "file = $DIR/tokens.csv"
		echo
		echo "[tokendb]"
		if [ -n "$TOKENDB_URL" ]; then
			echo "url = $TOKENDB_URL"
		else
			echo "path = $DIR/tokens.db"
		fi
		echo
		echo "[log]"
		echo "level = warn"
		echo "audit = $audit"
	} >"$DIR/tokenreviewd.conf"
}

start_tokenreviewd()
{
	local _ port
	write_tokenreviewd_conf
	"$DAEMON" -c "$DIR/tokenreviewd.conf" 2>"$DIR/tokenreviewd.log" &
	TRD_PID=$!
	for _ in $(seq 150); do
		if [ -s "$DIR/tokenreviewd.port" ]; then
			port=$(head -n 1 "$DIR/tokenreviewd.port")
			port=${port##*:}
			case "$port" in
			"" | *[!0-9]*) ;;
			*) TRD_PORT=$port; return 0 ;;
			esac
		fi
		kill -0 "$TRD_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$DIR/tokenreviewd.log" >&2 || true
	die "tokenreviewd did not start (no port in $DIR/tokenreviewd.port)"
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

# tokenreviewd must accept a token of the list as the right user and
# refuse one that is not in the file, before any figure is worth reading.
verify_tokenreviewd()
{
	local line tok user answer
	line=$(sed -n "$(( (SAMPLE + 1) / 2 ))p" "$DIR/tokens.csv")
	tok=${line%%,*}
	user=$(echo "$line" | cut -d, -f2)
	answer=$(review "$TRD_PORT" "$tok") ||
	    die "tokenreviewd: review request failed"
	echo "$answer" | grep -Eq '"authenticated" *: *true' ||
	    die "tokenreviewd: token not accepted: $answer"
	echo "$answer" | grep -Eq "\"username\" *: *\"$user\"" ||
	    die "tokenreviewd: wrong user for token: $answer"
	# The baseline answers with the same bytes tokenreviewd sent.
	NGINX_BODY=$(printf '%s' "$answer" | tr -d '\n')
	answer=$(review "$TRD_PORT" "not-a-token-$RANDOM") ||
	    die "tokenreviewd: review request failed"
	echo "$answer" | grep -Eq '"authenticated" *: *true' &&
	    die "tokenreviewd: unknown token accepted: $answer"
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

# One line "rps p50_ms p99_ms non2xx socket_errors" from a wrk output.
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
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Socket errors:/ {
		for (i = 1; i <= NF; i++)
			if ($i ~ /^[0-9]+,?$/) sock += $i + 0
	}
	/Non-2xx or 3xx responses:/ { bad = $NF + 0 }
	END {
		if (rps == "" || p50 == "" || p99 == "") exit 1
		printf "%s %.3f %.3f %d %d\n", rps, p50, p99, bad, sock
	}' "$1"
}

# Runs round $2 against server $1 and appends its figures to $DIR/results.
measure()
{
	local name=$1 round=$2 port line rps p50 p99 bad sock
	if [ "$name" = nginx ]; then port=$NGINX_PORT; else port=$TRD_PORT; fi
	run_wrk "$name-$round" "$port" "$DURATION"
	line=$(parse_wrk "$DIR/wrk-$name-$round.txt") || {
		cat "$DIR/wrk-$name-$round.txt" >&2
		die "cannot read the wrk output for $name round $round"
	}
	echo "$name $round $line" >>"$DIR/results"
	read -r rps p50 p99 bad sock <<EOF
$line
EOF
	printf '  %-12s round %d: %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms' \
	    "$name" "$round" "$rps" "$p50" "$p99"
	if [ "$bad" -ne 0 ] || [ "$sock" -ne 0 ]; then
		printf '  ERRORS: non-2xx %d, socket errors %d' "$bad" "$sock"
		FAILED=1
	fi
	printf '\n'
}

# --- main ----------------------------------------------------------------------

echo "tokenreviewd benchmark: $DAEMON vs nginx, 127.0.0.1 only"
echo "  cpus $(nproc 2>/dev/null || echo '?'), workers $WORKERS," \
    "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds each," \
    "$TOKENS tokens ($SAMPLE used) in $SOURCE, logs $LOGS, cache $CACHE"
echo "  $(nginx -v 2>&1), $(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}')," \
    "$(openssl version | awk '{print $1, $2}')"
echo "  work dir $DIR"

make_certs >"$DIR/openssl.log" 2>&1 || {
	cat "$DIR/openssl.log" >&2
	die "cannot make the certificates"
}
make_tokens || die "cannot write the token file"

start_tokenreviewd
TRD_LOADED_RSS=$(proc_kb "$TRD_PID" VmRSS)
TRD_LOADED_HWM=$(proc_kb "$TRD_PID" VmHWM)
verify_tokenreviewd
start_nginx
verify_nginx
echo "  tokenreviewd on port $TRD_PORT (pid $TRD_PID): $(tls_of "$TRD_PORT")"
echo "  nginx        on port $NGINX_PORT (pid $NGINX_PID): $(tls_of "$NGINX_PORT")"

if [ "$WARMUP_S" -gt 0 ]; then
	echo "warm-up, $WARMUP each (not counted)"
	run_wrk nginx-warmup "$NGINX_PORT" "$WARMUP"
	run_wrk tokenreviewd-warmup "$TRD_PORT" "$WARMUP"
fi

echo "measured runs, alternating"
: >"$DIR/results"
for round in $(seq "$ROUNDS"); do
	measure nginx "$round"
	measure tokenreviewd "$round"
done

TRD_AFTER_RSS=$(proc_kb "$TRD_PID" VmRSS)
TRD_AFTER_HWM=$(proc_kb "$TRD_PID" VmHWM)
NGINX_AFTER_RSS=$(nginx_rss_kb)
kill -0 "$TRD_PID" 2>/dev/null || die "tokenreviewd died during the load"
kill -0 "$NGINX_PID" 2>/dev/null || die "nginx died during the load"
# A last answer after the load: the daemon still serves correctly.
verify_tokenreviewd

AUDIT_LINES=0
ACCESS_LINES=0
if [ "$LOGS" = yes ]; then
	AUDIT_LINES=$(wc -l <"$DIR/tokenreviewd.log")
	ACCESS_LINES=$(wc -l <"$DIR/nginx-access.log" 2>/dev/null || echo 0)
fi

awk -v tokens="$TOKENS" -v rounds="$ROUNDS" \
    -v lr="$TRD_LOADED_RSS" -v lh="$TRD_LOADED_HWM" \
    -v ar="$TRD_AFTER_RSS" -v ah="$TRD_AFTER_HWM" -v nr="$NGINX_AFTER_RSS" \
    -v audit="$AUDIT_LINES" -v access="$ACCESS_LINES" -v logs="$LOGS" '
{
	rps[$1] += $3; p50[$1] += $4; p99[$1] += $5; n[$1]++
}
function verdict(ok) { return ok ? "PASS" : "FAIL" }
END {
	for (s in n) {
		rps[s] /= n[s]; p50[s] /= n[s]; p99[s] /= n[s]
	}
	print ""
	printf "results: mean of %d rounds per server\n", rounds
	printf "  %-14s %12s %10s %10s\n", "", "req/s", "p50 ms", "p99 ms"
	printf "  %-14s %12.0f %10.3f %10.3f\n", "nginx",
	    rps["nginx"], p50["nginx"], p99["nginx"]
	printf "  %-14s %12.0f %10.3f %10.3f\n", "tokenreviewd",
	    rps["tokenreviewd"], p50["tokenreviewd"], p99["tokenreviewd"]
	rr = rps["tokenreviewd"] / rps["nginx"]
	pr = p99["tokenreviewd"] / p99["nginx"]
	printf "  %-14s %12.3f %10.3f %10.3f\n", "ratio trd/ngx", rr,
	    p50["tokenreviewd"] / p50["nginx"], pr
	print ""
	printf "tokenreviewd memory (%d tokens):\n", tokens
	printf "  after loading the tokens: VmRSS %.1f MiB, VmHWM %.1f MiB\n",
	    lr / 1024, lh / 1024
	printf "  after the load:           VmRSS %.1f MiB, VmHWM %.1f MiB\n",
	    ar / 1024, ah / 1024
	printf "  (nginx master + workers after the load: VmRSS %.1f MiB)\n",
	    nr / 1024
	if (logs == "yes")
		printf "log lines: tokenreviewd stderr %d, nginx access log %d\n",
		    audit, access
	print ""
	printf "targets:\n"
	printf "  req/s ratio >= 0.85:          %.3f  %s\n", rr, verdict(rr >= 0.85)
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
