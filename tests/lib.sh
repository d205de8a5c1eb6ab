# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Shared code of the integration tests (tests/*.sh), sourced by each of
# them under bash.  It speaks TAP (plan, ok, is, like, skip, diag), makes a
# private temporary directory that an EXIT trap removes, generates test
# certificates with the openssl CLI, writes daemon configs, starts and stops
# tokenreviewd on 127.0.0.1 port 0 (the daemon writes the port it bound to
# a port file), reloads it with SIGHUP and waits until the reload is seen,
# sends requests with curl or openssl s_client, and checks the answers to
# reviews (expect_user, expect_no): the scripts share one version of each.
#
# Every wait is bounded and only processes started here are ever
# signalled.  Binaries come from $TOKENREVIEWD and $TOKENREVIEWCTL, else
# from $top_builddir (set by the automake test harness), else from the
# directory above this file (an in-tree build).

if [ -z "${BASH_VERSION:-}" ]; then
	echo "Bail out! tests/lib.sh needs bash"
	exit 1
fi

set -u
umask 077

TR_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${top_builddir:=$TR_SRCDIR}"
if [ -n "${TOKENREVIEWD:-}" ]; then
	: "${TOKENREVIEWCTL:=$(dirname "$TOKENREVIEWD")/tokenreviewctl}"
fi
: "${TOKENREVIEWD:=$top_builddir/tokenreviewd}"
: "${TOKENREVIEWCTL:=$top_builddir/tokenreviewctl}"

TR_NTESTS=0
TR_NFAILED=0
TR_PLANNED=
TR_TID=
TR_TMP=
TR_PIDS=()		# daemons and helpers we started
TR_GROUPS=()		# helpers started in their own process group
TR_LOGS=()		# daemon logs, scanned at the end
TR_CLIENT=client	# which client certificate curl and s_client present
TR_REVIEW_PATH=/tokenreview
TR_N200=0		# 200 answers to reviews seen (case 17)
TR_BAD200=()		# the ones that were not proper TokenReviews

# ---------------------------------------------------------------- TAP

plan()
{
	TR_PLANNED=$1
	echo "1..$1"
}

# Record one result.  $1: 0 for success; $2: description; rest: diag lines.
tr_result()
{
	local rc=$1 desc=$2
	shift 2
	TR_NTESTS=$((TR_NTESTS + 1))
	if [ "$rc" -eq 0 ]; then
		echo "ok $TR_NTESTS - $desc"
		return 0
	fi
	TR_NFAILED=$((TR_NFAILED + 1))
	echo "not ok $TR_NTESTS - $desc"
	[ -n "$TR_TID" ] && diag "in: $TR_TID"
	local l
	for l in "$@"; do
		diag "$l"
	done
	return 1
}

diag()
{
	printf '%s\n' "$@" | sed 's/^/# /'
}

# Name the scenario the next results belong to (shown with failures).
tid()
{
	TR_TID=$*
	diag "--- $*"
}

pass()
{
	tr_result 0 "$1"
}

fail()
{
	local desc=$1
	shift
	tr_result 1 "$desc" "$@"
}

# ok DESC COMMAND [ARG...]: passes when the command succeeds.
ok()
{
	local desc=$1 rc
	shift
	"$@" >/dev/null 2>&1
	rc=$?
	tr_result "$rc" "$desc" "command failed (exit $rc): $*"
}

# is GOT WANT DESC
is()
{
	if [ "$1" = "$2" ]; then
		tr_result 0 "$3"
	else
		tr_result 1 "$3" "got:  '$1'" "want: '$2'"
	fi
}

# like GOT ERE DESC
like()
{
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		tr_result 0 "$3"
	else
		tr_result 1 "$3" "got:  '$(printf '%s' "$1" | head -c 2000)'" \
		    "want match: $2"
	fi
}

# unlike GOT ERE DESC
unlike()
{
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		tr_result 1 "$3" "got:  '$(printf '%s' "$1" | head -c 2000)'" \
		    "want no match: $2"
	else
		tr_result 0 "$3"
	fi
}

skip()
{
	TR_NTESTS=$((TR_NTESTS + 1))
	echo "ok $TR_NTESTS - $1 # SKIP $2"
}

# Print the plan if none was given, report, and exit: non-zero when a test
# failed or the plan was not met, like tests/unit/tap.h.
done_testing()
{
	tr_check_sanitizers
	if [ -z "$TR_PLANNED" ]; then
		echo "1..$TR_NTESTS"
	elif [ "$TR_PLANNED" -ne "$TR_NTESTS" ]; then
		diag "planned $TR_PLANNED tests but ran $TR_NTESTS"
		exit 1
	fi
	if [ "$TR_NFAILED" -gt 0 ]; then
		diag "failed $TR_NFAILED of $TR_NTESTS"
		exit 1
	fi
	exit 0
}

bail()
{
	echo "Bail out! $*"
	exit 1
}

# The whole script is skipped when a tool is missing, except in CI, where
# everything must be installed and a missing tool is a failure.
tr_skip_all()
{
	if [ "${CI:-}" = true ]; then
		bail "$* (CI=true: nothing may be skipped)"
	fi
	echo "1..0 # SKIP $*"
	exit 0
}

# tr_need TOOL...: programs the script cannot run without.
tr_need()
{
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || tr_skip_all "$t not installed"
	done
}

tr_need_binaries()
{
	[ -x "$TOKENREVIEWD" ] || tr_skip_all "no daemon at $TOKENREVIEWD"
	[ -x "$TOKENREVIEWCTL" ] || tr_skip_all "no tool at $TOKENREVIEWCTL"
}

# ---------------------------------------------------------------- processes

tr_now()
{
	echo "$EPOCHREALTIME"
}

# tr_elapsed START: seconds since START (a tr_now value), 2 decimals.
tr_elapsed()
{
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'
}

# tr_free_port: a loopback port nobody listens on, outside the kernel's
# range of ephemeral ports, so that no outgoing connection takes it between
# this probe and the server's bind (or while a server is restarted).
tr_free_port()
{
	local lo=32768 hi=60999 p
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	while :; do
		if [ "$lo" -gt 11024 ]; then
			p=$((10000 + RANDOM % (lo - 10000)))
		else
			p=$((hi + 1 + RANDOM % (65535 - hi)))
		fi
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
	done
	echo "$p"
}

# tr_between X LO HI: LO <= X <= HI, as decimals.
tr_between()
{
	awk -v x="$1" -v lo="$2" -v hi="$3" \
	    'BEGIN { exit !(x + 0 >= lo + 0 && x + 0 <= hi + 0) }'
}

# A process is alive until it is a zombie: our children stay in the
# process table until waited for, so kill -0 alone would not do.
tr_alive()
{
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# tr_wait_exit PID SECONDS: wait for a child to end; its status, or 255
# when it outlived the bound (it is left running).
tr_wait_exit()
{
	local pid=$1 n=$(($2 * 10)) rc
	while [ "$n" -gt 0 ] && tr_alive "$pid"; do
		sleep 0.1
		n=$((n - 1))
	done
	if tr_alive "$pid"; then
		return 255
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	return "$rc"
}

# tr_wait_until SECONDS COMMAND [ARG...]: poll every 0.1 s until the
# command succeeds; fails when the time is up.
tr_wait_until()
{
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	"$@" >/dev/null 2>&1
}

# tr_bg COMMAND [ARG...]: run a helper in its own process group (so a
# pipeline inside it can be ended as a whole); sets TR_BGPID.
tr_bg()
{
	setsid "$@" </dev/null &
	TR_BGPID=$!
	TR_GROUPS+=("$TR_BGPID")
}

# End one helper group started by tr_bg, and reap it.
tr_bg_kill()
{
	kill -TERM -- "-$1" 2>/dev/null
	tr_wait_exit "$1" 5 || true
	kill -KILL -- "-$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

tr_cleanup()
{
	local p
	for p in "${TR_GROUPS[@]}"; do
		kill -TERM -- "-$p" 2>/dev/null
	done
	for p in "${TR_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${TR_PIDS[@]}" "${TR_GROUPS[@]}"; do
		tr_wait_exit "$p" 5 >/dev/null 2>&1
		if tr_alive "$p"; then
			kill -KILL "$p" 2>/dev/null
			kill -KILL -- "-$p" 2>/dev/null
		fi
	done
	if [ "$TR_NFAILED" -gt 0 ] && [ -n "$TR_TMP" ]; then
		for p in "${TR_LOGS[@]}"; do
			[ -f "$p" ] || continue
			diag "last lines of $p:"
			tail -n 15 "$p" | cut -c1-400 | sed 's/^/#   /'
		done
	fi
	if [ -n "$TR_TMP" ] && [ -d "$TR_TMP" ]; then
		if [ "${TR_KEEP:-}" = 1 ]; then
			diag "kept $TR_TMP"
		else
			rm -rf "$TR_TMP"
		fi
	fi
}

# Make the private temporary directory of this script, removed at exit.
tr_tmpdir()
{
	TR_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tokenreviewd-test.XXXXXX") ||
	    bail "mktemp failed"
	trap tr_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Any sanitizer report in a daemon log is a failure of its own.
tr_check_sanitizers()
{
	local f hits=()
	for f in "${TR_LOGS[@]}"; do
		[ -f "$f" ] || continue
		if grep -Eq 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$f"; then
			hits+=("$f")
		fi
	done
	[ "${#TR_LOGS[@]}" -gt 0 ] || return 0
	if [ "${#hits[@]}" -eq 0 ]; then
		pass "no sanitizer report in the daemon logs"
	else
		fail "no sanitizer report in the daemon logs" \
		    "$(grep -h -A8 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "${hits[@]}" | head -n 40)"
	fi
}

# ---------------------------------------------------------------- certificates

_tr_key()
{
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1" 2>/dev/null
}

# _tr_ca DIR NAME CN: a self-signed CA NAME.crt / NAME.key.
_tr_ca()
{
	_tr_key "$1/$2.key" &&
	openssl req -x509 -new -key "$1/$2.key" -subj "/CN=$3" -days 3 \
	    -sha256 -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    -out "$1/$2.crt" 2>/dev/null
}

# tr_leaf DIR CA NAME CN EXTENSION...: a key and a certificate signed by
# the CA DIR/CA.{crt,key}, as DIR/NAME.{key,crt}.
tr_leaf()
{
	local dir=$1 ca=$2 name=$3 cn=$4 e
	shift 4
	: >"$dir/$name.ext"
	for e in basicConstraints=CA:FALSE "$@"; do
		echo "$e" >>"$dir/$name.ext"
	done
	_tr_key "$dir/$name.key" &&
	openssl req -new -key "$dir/$name.key" -subj "/CN=$cn" \
	    -out "$dir/$name.csr" 2>/dev/null &&
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" \
	    -CAkey "$dir/$ca.key" -set_serial "0x$(openssl rand -hex 8)" \
	    -days 3 -sha256 -extfile "$dir/$name.ext" \
	    -out "$dir/$name.crt" 2>/dev/null
}

# A server certificate for 127.0.0.1 and localhost.
tr_server_cert()
{
	tr_leaf "$1" ca "$2" localhost keyUsage=critical,digitalSignature \
	    extendedKeyUsage=serverAuth subjectAltName=DNS:localhost,IP:127.0.0.1
}

# tr_certs [DIR]: every certificate the tests use; sets TR_CERTS.
#   ca          signs the server certificate (what clients trust)
#   server      CN=localhost, SAN DNS:localhost IP:127.0.0.1
#   client-ca   the CA the daemon trusts for client certificates
#   client      CN=kube-apiserver, from client-ca
#   intruder    CN=intruder, from client-ca (trusted CA, name not allowed)
#   rogue       CN=kube-apiserver from rogue-ca (an untrusted CA)
#   fingerprint.key  the [log] fingerprint_key_file tr_fp() hashes with
tr_certs()
{
	TR_CERTS=${1:-$TR_TMP/certs}
	mkdir -p "$TR_CERTS"
	local d=$TR_CERTS cu="keyUsage=critical,digitalSignature"
	_tr_ca "$d" ca "tokenreviewd test CA" &&
	tr_server_cert "$d" server &&
	_tr_ca "$d" client-ca "tokenreviewd test client CA" &&
	tr_leaf "$d" client-ca client kube-apiserver "$cu" \
	    extendedKeyUsage=clientAuth &&
	tr_leaf "$d" client-ca intruder intruder "$cu" \
	    extendedKeyUsage=clientAuth &&
	_tr_ca "$d" rogue-ca "rogue CA" &&
	tr_leaf "$d" rogue-ca rogue kube-apiserver "$cu" \
	    extendedKeyUsage=clientAuth &&
	openssl rand -hex 32 >"$d/fingerprint.key" ||
	    bail "could not make test certificates with openssl"
}

# SHA-256 fingerprint of a PEM certificate file.
tr_cert_fp()
{
	openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null |
	    sed 's/.*=//'
}

# ---------------------------------------------------------------- config

# tr_write FILE: stdin to FILE, atomically (a rename), mode 600.
tr_write()
{
	cat >"$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"
}

# tr_config NAME [SECTION.KEY=VALUE]...: write $TR_TMP/NAME/tokenreviewd.conf
# from the defaults below changed by the arguments ("KEY=" drops a key).
# Sets TR_DIR and TR_CONF.  Defaults: mTLS with the test certificates,
# two workers, the static backend reading NAME/tokens.csv, and log lines
# written as they are made ([log] flush_interval = 0: a test reads the log
# right after a request; tests/protocol.sh tests the batches).
tr_config()
{
	local name=$1 dir=$TR_TMP/$1 a k s kv
	shift
	mkdir -p "$dir"
	local -a order=(
		server.listen server.port_file server.tls_cert server.tls_key
		server.client_ca server.client_names server.workers
		server.chain log.level log.fingerprint_key_file
		log.flush_interval static.file
	)
	local -A val=(
		[server.listen]=127.0.0.1:0
		[server.port_file]=$dir/port
		[server.tls_cert]=$TR_CERTS/server.crt
		[server.tls_key]=$TR_CERTS/server.key
		[server.client_ca]=$TR_CERTS/client-ca.crt
		[server.client_names]=kube-apiserver
		[server.workers]=2
		[server.chain]=static
		[log.level]=info
		[log.fingerprint_key_file]=$TR_CERTS/fingerprint.key
		[log.flush_interval]=0
		[static.file]=$dir/tokens.csv
	)
	for a in "$@"; do
		k=${a%%=*}
		[ -n "${val[$k]+x}" ] || order+=("$k")
		val[$k]=${a#*=}
	done
	{
		for s in $(printf '%s\n' "${order[@]}" | sed 's/\..*//' |
		    awk '!seen[$0]++'); do
			echo "[$s]"
			for kv in "${order[@]}"; do
				[ "${kv%%.*}" = "$s" ] || continue
				[ -n "${val[$kv]}" ] || continue
				echo "${kv#*.} = ${val[$kv]}"
			done
			echo
		done
	} | tr_write "$dir/tokenreviewd.conf"
	TR_DIR=$dir
	TR_CONF=$dir/tokenreviewd.conf
}

# tr_tokens LINE...: the static token file of the current daemon
# ($TR_DIR/tokens.csv), one argument a line, written by tr_write.
tr_tokens()
{
	printf '%s\n' "$@" | tr_write "$TR_DIR/tokens.csv"
}

# tr_tokenctl ARG...: "tokenreviewctl token ARG..." on the current config.
tr_tokenctl()
{
	"$TOKENREVIEWCTL" -c "$TR_CONF" token "$@"
}

# tr_b64url: stdin in base64url without padding (JWT parts).
tr_b64url()
{
	base64 -w0 | tr '+/' '-_' | tr -d '='
}

# ---------------------------------------------------------------- daemon

# tr_start NAME: start the daemon on $TR_TMP/NAME/tokenreviewd.conf with
# stderr to NAME/log; wait up to TR_START_WAIT (10) s for the port file.
# Sets TR_PID, TR_PORT, TR_URL, TR_LOG, TR_DIR, TR_CONF.  Fails (with the
# log in a diag) when the daemon exits or the port never shows up.
tr_start()
{
	local dir=$TR_TMP/$1 n
	rm -f "$dir/port"
	TR_DIR=$dir
	TR_CONF=$dir/tokenreviewd.conf
	TR_LOG=$dir/log
	TR_LOGS+=("$TR_LOG")
	"$TOKENREVIEWD" -c "$TR_CONF" 2>>"$TR_LOG" </dev/null &
	TR_PID=$!
	TR_PIDS+=("$TR_PID")
	echo "$TR_PID" >"$dir/pid"
	n=$((${TR_START_WAIT:-10} * 20))
	TR_PORT=
	while [ "$n" -gt 0 ]; do
		if [ -s "$dir/port" ]; then
			read -r TR_PORT <"$dir/port"
			case $TR_PORT in
			*[!0-9]* | "") TR_PORT= ;;
			*) break ;;
			esac
		fi
		tr_alive "$TR_PID" || break
		sleep 0.05
		n=$((n - 1))
	done
	if [ -z "$TR_PORT" ]; then
		diag "daemon $1 did not start; its log:"
		diag "$(tail -n 20 "$TR_LOG")"
		return 1
	fi
	TR_URL=https://127.0.0.1:$TR_PORT
	echo "$TR_PORT" >"$dir/port.seen"
	return 0
}

# expect_start NAME DESC: tr_start NAME as one test; when the daemon does
# not start nothing after it can run, and the script ends there.
expect_start()
{
	if tr_start "$1"; then
		pass "$2"
	else
		fail "$2"
		done_testing
	fi
}

# tr_use NAME: make an already started daemon the current one.
tr_use()
{
	TR_DIR=$TR_TMP/$1
	TR_CONF=$TR_DIR/tokenreviewd.conf
	TR_LOG=$TR_DIR/log
	read -r TR_PID <"$TR_DIR/pid"
	read -r TR_PORT <"$TR_DIR/port.seen"
	TR_URL=https://127.0.0.1:$TR_PORT
}

# tr_stop [PID [SECONDS]]: SIGTERM, then wait (default 15 s); returns the
# daemon's exit status, 255 if it did not end (it is then killed).
tr_stop()
{
	local pid=${1:-$TR_PID} rc
	kill -TERM "$pid" 2>/dev/null
	tr_wait_exit "$pid" "${2:-15}"
	rc=$?
	if [ "$rc" -eq 255 ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	return "$rc"
}

# tr_reloads [RESULT]: the daemon's tokenreviewd_reloads_total of RESULT
# (success, the default, or failure).
tr_reloads()
{
	tr_metrics
	tr_metric tokenreviewd_reloads_total "result=\"${1:-success}\""
}

# tr_reloaded RESULT BEFORE: the count of RESULT went past BEFORE.
tr_reloaded()
{
	tr_between "$(tr_reloads "$1")" "$((${2%.*} + 1))" 1e18
}

# tr_logged_since LINES ERE: a line after the first LINES of TR_LOG
# matches ERE.
tr_logged_since()
{
	tail -n "+$(($1 + 1))" "$TR_LOG" | grep -Eq -- "$2"
}

# tr_reload [-f] [-l] [-m ERE] [-w SECONDS]: send SIGHUP to the current
# daemon and wait (default 5 s) until the reload is seen: the metric
# tokenreviewd_reloads_total{result="success"} goes past its count before
# the signal, or with -f the one of result="failure".  With -l the
# daemon's log is watched instead for a new "reloaded" event (-f:
# "reload_failed") whose line also matches -m's ERE.  Fails when the time
# is up.
tr_reload()
{
	local o result=success event=reloaded log=0 re= secs=5 before
	local OPTIND=1 OPTARG
	while getopts 'flm:w:' o; do
		case $o in
		f) result=failure event=reload_failed ;;
		l) log=1 ;;
		m) re=$OPTARG ;;
		w) secs=$OPTARG ;;
		*) bail "tr_reload: bad option" ;;
		esac
	done
	if [ "$log" = 1 ]; then
		before=$(wc -l <"$TR_LOG")
		kill -HUP "$TR_PID"
		tr_wait_until "$secs" tr_logged_since "$before" \
		    "\"event\":\"$event\"${re:+.*$re}"
	else
		before=$(tr_reloads "$result")
		kill -HUP "$TR_PID"
		tr_wait_until "$secs" tr_reloaded "$result" "$before"
	fi
}

# expect_reload [OPTION]... DESC: one test, that tr_reload with the
# options succeeds.
expect_reload()
{
	local desc=${!#}
	if tr_reload "${@:1:$#-1}"; then
		pass "$desc"
	else
		fail "$desc" "no reload seen after SIGHUP ($*)" \
		    "$(tail -n 3 "$TR_LOG")"
	fi
}

# ---------------------------------------------------------------- requests

# curl's TLS options for the client identity in TR_CLIENT: client,
# intruder, rogue or none.
tr_tls_args()
{
	TR_TLS=(--cacert "$TR_CERTS/ca.crt")
	case $TR_CLIENT in
	none) ;;
	*) TR_TLS+=(--cert "$TR_CERTS/$TR_CLIENT.crt"
	    --key "$TR_CERTS/$TR_CLIENT.key") ;;
	esac
}

# tr_req METHOD PATH [BODY [CURL-ARG...]]: one request with curl.  Sets
# TR_CODE (000 when no HTTP answer), TR_BODY, TR_HDRS (lower-cased names,
# no CRs), TR_CURL_RC and TR_TIME (curl's seconds from connecting to the
# end of the answer: the daemon's time without the test's own).  A POST carries Content-Type: $TR_CTYPE
# (default application/json; set it empty to send none).
tr_req()
{
	# Files of this process's own: requests also run in background jobs.
	local method=$1 path=$2 body=${3-} f=$TR_TMP/.req.$BASHPID out
	shift 2
	[ $# -gt 0 ] && shift
	tr_tls_args
	printf '%s' "$body" >"$f.in"
	rm -f "$f.body" "$f.hdr"
	local -a a=(-sS --max-time "${TR_CURL_TIMEOUT:-20}" -o "$f.body"
	    -D "$f.hdr" -w '%{http_code} %{time_total}' "${TR_TLS[@]}")
	case $method in
	GET) ;;
	HEAD) a+=(-I) ;;
	*)
		a+=(-X "$method" --data-binary "@$f.in")
		if [ -n "${TR_CTYPE-application/json}" ]; then
			a+=(-H "Content-Type: ${TR_CTYPE-application/json}")
		else
			a+=(-H "Content-Type:")
		fi
		;;
	esac
	out=$(curl "${a[@]}" "$@" "$TR_URL$path" 2>"$f.err")
	# shellcheck disable=SC2034	# for the scripts' messages
	TR_CURL_RC=$?
	TR_CODE=${out%% *} TR_TIME=${out##* }
	[ -n "$TR_CODE" ] || TR_CODE=000
	TR_BODY=$(cat "$f.body" 2>/dev/null)
	TR_HDRS=$(tr -d '\r' <"$f.hdr" 2>/dev/null |
	    awk -F: '/:/ { $1 = tolower($1) } { print }' OFS=:)
	if [ "$TR_CODE" = 200 ] && [ "$method" = POST ]; then
		tr_note_200 "$path"
	fi
	return 0
}

# Case 17 bookkeeping: every 200 answer to a review must carry
# Content-Type: application/json and parse as a TokenReview.
tr_note_200()
{
	TR_N200=$((TR_N200 + 1))
	if ! tr_header content-type | grep -Eiq '^application/json( *;.*)?$' ||
	    ! tr_jq '.kind == "TokenReview" and
	    (.apiVersion | test("^authentication\\.k8s\\.io/v1(beta1)?$")) and
	    (.status.authenticated | type == "boolean")'; then
		TR_BAD200+=("$1: $(tr_header content-type) $(head -c 300 <<<"$TR_BODY")")
	fi
}

# The value of a response header of the last tr_req (first one if repeated).
tr_header()
{
	printf '%s\n' "$TR_HDRS" | awk -v h="$1" -F': *' '
	    tolower($1) == h { sub(/^[^:]*: */, ""); print; exit }'
}

# A TokenReview request body: tr_review_body VERSION TOKEN [AUDIENCES-JSON].
tr_review_body()
{
	jq -nc --arg v "authentication.k8s.io/$1" --arg t "$2" \
	    --argjson a "${3:-null}" '{apiVersion: $v, kind: "TokenReview",
	    spec: ({token: $t} + (if $a == null then {} else {audiences: $a} end))}'
}

# tr_review VERSION TOKEN [AUDIENCES-JSON [CURL-ARG...]]: POST a review to
# $TR_REVIEW_PATH; prints the body and then the status on its own line,
# and sets what tr_req sets.
tr_review()
{
	local ver=$1 tok=$2 auds=${3:-}
	shift 2
	[ $# -gt 0 ] && shift
	tr_req POST "$TR_REVIEW_PATH" "$(tr_review_body "$ver" "$tok" "$auds")" "$@"
	printf '%s\n%s\n' "$TR_BODY" "$TR_CODE"
}

# tr_jq FILTER [JSON]: the filter holds on JSON (default: TR_BODY).
tr_jq()
{
	jq -e "$1" <<<"${2-$TR_BODY}" >/dev/null 2>&1
}

# The last answer is a Kubernetes Status object for HTTP code $1.
tr_is_status()
{
	[ "$TR_CODE" = "$1" ] &&
	tr_jq ".kind == \"Status\" and .status == \"Failure\" and .code == $1"
}

# ---------------------------------------------------------------- answers

# tr_is_user [OPTION]... and tr_is_no [OPTION]...: the answer to a review
# is a 200 TokenReview that authenticated a user, or one that did not
# (then status.user is absent or empty).  The answer checked is the last
# one (TR_CODE, TR_BODY) unless -t makes a review first.  On failure
# TR_WHY holds the reasons, for a diag.
#   -t TOKEN      review TOKEN first (tr_review), with:
#   -a AUDIENCES    its spec.audiences, a JSON list;
#   -c CLIENT       the client certificate to present (see TR_CLIENT);
#   -b SECRET       an "Authorization: Bearer SECRET" header;
#   -V VERSION    the API version reviewed with (v1 without -V), and the
#                 answer must be a TokenReview of that apiVersion
# tr_is_user only:
#   -n NAME  -u UID   the user name, the uid
#   -g GROUPS     the groups, a JSON list in order ([]: none or empty)
#   -x EXTRA      the extra, a JSON object
#   -f FILTER     a jq filter on status.user that must hold (repeatable)
#   -S            no group is system:authenticated or system:unauthenticated
#   -N            the answer has no status.audiences
# tr_is_no only:
#   -e ERE        status.error is a non-empty string that matches ERE
#                 ("." for any); without -e or -E no error is allowed
#   -E            status.error is not looked at
tr_is_user()
{
	tr_answer_is true "$@"
}

tr_is_no()
{
	tr_answer_is false "$@"
}

# expect_user [OPTION]... DESC and expect_no [OPTION]... DESC: one test
# each, tr_is_user or tr_is_no with the options.
expect_user()
{
	local desc=${!#}
	if tr_is_user "${@:1:$#-1}"; then
		pass "$desc"
	else
		fail "$desc" "${TR_WHY[@]}"
	fi
}

expect_no()
{
	local desc=${!#}
	if tr_is_no "${@:1:$#-1}"; then
		pass "$desc"
	else
		fail "$desc" "${TR_WHY[@]}"
	fi
}

# tr_answer_is AUTHENTICATED [OPTION]...: tr_is_user (true) and tr_is_no
# (false); the option letters of the other one are refused.
tr_answer_is()
{
	local want=$1 o tok= review=0 auds= client=$TR_CLIENT ver=v1 err=none
	local re= jf=".status.authenticated == $want"
	local -a ja=() curl=()
	local OPTIND=2 OPTARG
	while getopts 't:a:c:b:V:n:u:g:x:f:SNe:E' o; do
		case $want$o in
		?*t) tok=$OPTARG review=1 ;;
		?*a) auds=$OPTARG ;;
		?*c) client=$OPTARG ;;
		?*b) curl+=(-H "Authorization: Bearer $OPTARG") ;;
		?*V)
			ver=$OPTARG
			ja+=(--arg ver "authentication.k8s.io/$OPTARG")
			jf+=' and .apiVersion == $ver and .kind == "TokenReview"'
			;;
		truen)
			ja+=(--arg name "$OPTARG")
			jf+=' and .status.user.username == $name'
			;;
		trueu)
			ja+=(--arg uid "$OPTARG")
			jf+=' and .status.user.uid == $uid'
			;;
		trueg)
			ja+=(--argjson groups "$OPTARG")
			jf+=' and ((.status.user.groups // []) == $groups)'
			;;
		truex)
			ja+=(--argjson extra "$OPTARG")
			jf+=' and .status.user.extra == $extra'
			;;
		truef) jf+=" and (.status.user | $OPTARG)" ;;
		trueS)
			jf+=' and ((.status.user.groups // []) |
			    (index("system:authenticated") != null or
			    index("system:unauthenticated") != null) | not)'
			;;
		trueN) jf+=' and (.status | has("audiences") | not)' ;;
		falsee) err=match re=$OPTARG ;;
		falseE) err=any ;;
		*) bail "tr_is_user/tr_is_no: bad option in: $*" ;;
		esac
	done
	[ "$OPTIND" -gt $# ] || bail "tr_is_user/tr_is_no: extra argument in: $*"
	if [ "$review" = 1 ]; then
		TR_CLIENT=$client tr_review "$ver" "$tok" "$auds" "${curl[@]}" \
		    >/dev/null
	fi
	[ "$want" = false ] && jf+=' and ((.status.user // {}) == {})'
	case $err in
	none) jf+=' and ((.status.error // "") == "")' ;;
	match) jf+=' and ((.status.error | type) == "string" and
	    .status.error != "")' ;;
	esac
	TR_WHY=("status ${TR_CODE-} (curl ${TR_CURL_RC-})" "body: ${TR_BODY-}")
	[ "${TR_CODE-}" = 200 ] && jq -e "${ja[@]}" "$jf" <<<"$TR_BODY" \
	    >/dev/null 2>&1 || return 1
	[ "$err" = match ] || return 0
	[[ $(jq -r '.status.error' <<<"$TR_BODY") =~ $re ]] && return 0
	TR_WHY=("want NO with an error matching $re" "${TR_WHY[@]}")
	return 1
}

# What the audit log shows for a token under tr_config's fingerprint key
# (or the key file $2): "id:" and the id of a bootstrap-shaped token, else
# the first 12 hex digits of HMAC-SHA-256(key, token).
tr_fp()
{
	local key
	if [[ $1 =~ ^[a-z0-9]{6}\.[a-z0-9]{16}$ ]]; then
		echo "id:${1%%.*}"
		return
	fi
	key=$(tr -d '\r\n' <"${2:-$TR_CERTS/fingerprint.key}")
	printf '%s' "$1" | openssl dgst -sha256 -hmac "$key" -r | cut -c1-12
}

# tr_metrics: fetch /metrics into TR_METRICS.
tr_metrics()
{
	local save_code=$TR_CODE save_body=$TR_BODY save_hdrs=$TR_HDRS \
	    save_time=$TR_TIME
	tr_req GET /metrics
	TR_METRICS=$TR_BODY
	TR_CODE=$save_code TR_BODY=$save_body TR_HDRS=$save_hdrs \
	    TR_TIME=$save_time
}

# tr_metric NAME [LABEL-ERE]: sum of the samples of NAME in TR_METRICS whose
# label set matches the regular expression (0 when there is none).
tr_metric()
{
	printf '%s\n' "$TR_METRICS" | awk -v n="$1" -v re="${2:-}" '
	    /^#/ { next }
	    {
		name = $1; labels = ""
		i = index(name, "{")
		if (i > 0) { labels = substr(name, i); name = substr(name, 1, i - 1) }
		if (name != n) next
		if (re != "" && labels !~ re) next
		sum += $NF
	    }
	    END { printf "%.17g\n", sum + 0 }'
}

# tr_sclient OUT HOLD [S_CLIENT-ARG...]: send stdin raw over TLS with
# openssl s_client, keep the connection HOLD seconds (the server may close
# it sooner), server's bytes to OUT.  Presents TR_CLIENT's certificate.
tr_sclient()
{
	local out=$1 hold=$2
	shift 2
	local -a c=()
	[ "$TR_CLIENT" = none ] ||
	    c=(-cert "$TR_CERTS/$TR_CLIENT.crt" -key "$TR_CERTS/$TR_CLIENT.key")
	{ cat; sleep "$hold"; } |
	    timeout $((${hold%.*} + 10)) openssl s_client -quiet \
	    -connect "127.0.0.1:$TR_PORT" -servername localhost \
	    -CAfile "$TR_CERTS/ca.crt" "${c[@]}" "$@" >"$out" 2>"$out.err"
}

# tr_handshake OUT [S_CLIENT-ARG...]: a TLS handshake alone; succeeds when
# it completed (s_client's "New, TLSv..." line), full output in OUT.
tr_handshake()
{
	local out=$1
	shift
	local -a c=()
	[ "$TR_CLIENT" = none ] ||
	    c=(-cert "$TR_CERTS/$TR_CLIENT.crt" -key "$TR_CERTS/$TR_CLIENT.key")
	timeout 10 openssl s_client -connect "127.0.0.1:$TR_PORT" \
	    -servername localhost -CAfile "$TR_CERTS/ca.crt" "${c[@]}" "$@" \
	    </dev/null >"$out" 2>&1 || return 1
	# s_client prints the session even when an alert ended the handshake.
	grep -q '^New, TLSv' "$out" && ! grep -q ':error:' "$out"
}

# HTTP status codes of every response in a raw capture, in order.
tr_raw_codes()
{
	grep -aoE 'HTTP/1\.[01] [0-9]{3} ' "$1" | cut -d' ' -f2 | tr '\n' ' ' |
	    sed 's/ $//'
}
