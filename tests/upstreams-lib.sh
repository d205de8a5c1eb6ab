# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Every source that talks to a server, for tests/faults.sh and
# contrib/soak.sh; sourced after tests/lib.sh (it needs TR_TMP and
# TR_CERTS).  upstreams_setup starts a throwaway PostgreSQL, a slapd and an
# OpenID Connect issuer on loopback, writes the config of a daemon named
# "main" with the static file, the token database, an LDAP directory in
# bind mode and the issuer (the caches off, the caller proven by a bearer
# token so that wrk can load it), makes a valid token of each source
# (STATIC, DBTOK, LDAPTOK, JWT; ROTATED is signed with the issuer's next
# keys) and starts the daemon (DAEMON).  load_start and load_wait run
# tests/faults.lua under wrk.

OIDC_PROVIDER=oidc-provider@9.13.3
: "${TR_NODE_DIR:=$top_builddir/tests/node}"
export TR_NODE_DIR
if [ ! -f "$TR_NODE_DIR/node_modules/oidc-provider/package.json" ]; then
	mkdir -p "$TR_NODE_DIR"
	npm install --prefix "$TR_NODE_DIR" --no-audit --no-fund --silent \
	    "$OIDC_PROVIDER" >"$TR_TMP/npm.log" 2>&1 ||
	    tr_skip_all "npm install $OIDC_PROVIDER failed"
fi
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
ISSUER_JS=$TR_SRCDIR/tests/oidc-issuer.mjs

. "$TR_SRCDIR/tests/slapd-lib.sh"
. "$TR_SRCDIR/tests/pg-lib.sh"

# ---------------------------------------------------------------- servers

# idp_start KEYS: the issuer on IDP_PORT (the same port every time).
idp_start()
{
	rm -f "$TR_TMP/idp.port"
	tr_bg node "$ISSUER_JS" serve "$1" "$TR_CERTS/server.crt" \
	    "$TR_CERTS/server.key" "$IDP_PORT" "$TR_TMP/idp.port" \
	    2>>"$TR_TMP/idp.log" >&2
	IDP_PID=$TR_BGPID
	tr_wait_until 20 test -s "$TR_TMP/idp.port"
}

# The postmaster and its children, to stall the whole server.
pg_pids()
{
	local pm
	read -r pm <"$PGDIR/data/postmaster.pid" || return 1
	echo "$pm"
	ps -o pid= --ppid "$pm"
}

# accepted TOKEN USER: the token is authenticated as USER now.
accepted()
{
	tr_review v1 "$1" "" -H "Authorization: Bearer $BEARER" >/dev/null
	[ "$TR_CODE" = 200 ] &&
	    tr_jq ".status.authenticated == true and
	    .status.user.username == \"$2\""
}

# all_accepted [JWT-TOKEN JWT-USER]: every source authenticates its token.
all_accepted()
{
	accepted "$STATIC" static-user && accepted "$DBTOK" db-user &&
	    accepted "$LDAPTOK" alice &&
	    accepted "${1:-$JWT}" "${2:-jwt-user@test}"
}

# jwt_claims EMAIL: the issuer's claims for EMAIL, valid for an hour.
jwt_claims()
{
	jq -nc --arg iss "https://127.0.0.1:$IDP_PORT" \
	    --argjson now "$(date +%s)" --arg email "$1" \
	    '{iss: $iss, aud: "kubernetes", sub: $email, email: $email,
	    iat: $now, exp: ($now + 3600)}'
}

# upstreams_setup [ARG...]: the servers, the tokens and the daemon; the
# arguments change the daemon's config as tr_config's do.
upstreams_setup()
{
	tid "servers: PostgreSQL, slapd, an OIDC issuer"
	pg_setup
	slapd_data
	slapd_start s1
	node "$ISSUER_JS" keys "$TR_TMP/idp.keys" a &&
	node "$ISSUER_JS" keys "$TR_TMP/rotated.keys" c ||
	    bail "could not make issuer keys"
	for try in 1 2 3 4 5; do
		IDP_PORT=$(tr_free_port)
		idp_start "$TR_TMP/idp.keys" && break
		tr_bg_kill "$IDP_PID"
		[ "$try" = 5 ] &&
		    bail "the issuer did not start: $(tail -n 5 "$TR_TMP/idp.log")"
	done
	pass "PostgreSQL on :$PGPORT, slapd on :$s1_PORT, issuer on :$IDP_PORT"

	printf '%s\n' "$READER_PW" | tr_write "$TR_TMP/reader.pw"
	# wrk cannot present a client certificate: the caller proves itself
	# with a bearer token instead.
	BEARER=b$(openssl rand -hex 16)
	export FAULTS_BEARER=$BEARER
	TR_CLIENT=none
	tr_config main server.chain="static tokendb ldap jwt" cache.ttl=0 \
	    server.client_ca= server.client_names= \
	    server.client_token_file="$TR_TMP/main/bearer" \
	    cache.negative_ttl=0 server.review_timeout=${REVIEW_TIMEOUT_MS}ms \
	    server.read_timeout=60s tokendb.url="$DBURL" tokendb.cache_ttl=0 \
	    tokendb.query_timeout=1s tokendb.ready_grace=1s "$@"
	cat >>"$TR_CONF" <<-EOF
	[ldap "corp"]
	uri = $s1_LDAP
	ca = $TR_CERTS/ca.crt
	bind_dn = cn=reader,$BASE
	bind_password_file = $TR_TMP/reader.pw
	mode = bind
	user_base = ou=people,$BASE
	user_filter = (&(objectClass=inetOrgPerson)(uid=%s))
	group_base = ou=groups,$BASE
	group_filter = (&(objectClass=groupOfNames)(member=%s))
	group_prefix = ldap:
	timeout = 1s
	connect_timeout = 1s
	backoff_max = 1s
	pool_size = 2

	[jwt "idp"]
	issuer = https://127.0.0.1:$IDP_PORT
	audiences = kubernetes
	username_claim = email
	ca = $TR_CERTS/ca.crt
	retry_interval = 300ms
	refetch_interval = 500ms
	fetch_timeout = 1s
	EOF
	printf '%s' "$BEARER" | tr_write "$TR_DIR/bearer"
	STATIC=st$(openssl rand -hex 16)
	tr_tokens "$STATIC,static-user,1,static"
	DBTOK=$("$TOKENREVIEWCTL" -c "$TR_CONF" token create --user db-user \
	    2>"$TR_TMP/ctl.err") ||
	    bail "token create: $(cat "$TR_TMP/ctl.err")"
	LDAPTOK=$(b64 "alice:$ALICE_PW")
	JWT=$(node "$ISSUER_JS" sign "$TR_TMP/idp.keys" a-ec ES256 \
	    "$(jwt_claims jwt-user@test)") || bail "could not sign a JWT"
	ROTATED=$(node "$ISSUER_JS" sign "$TR_TMP/rotated.keys" c-ec ES256 \
	    "$(jwt_claims rotated@test)") || bail "could not sign a JWT"
	printf '%s\n' "$STATIC" "$DBTOK" "$LDAPTOK" "$JWT" >"$TR_TMP/tokens.txt"

	tr_start main || bail "the daemon did not start"
	DAEMON=$TR_PID

	if tr_wait_until 30 all_accepted; then
		pass "each source authenticates its token"
	else
		fail "each source authenticates its token" "last: $TR_BODY"
		return 1
	fi
}

# ---------------------------------------------------------------- load

# load_start SECONDS: wrk in the background, its summary line to
# $TR_TMP/wrk.out.
load_start()
{
	tr_bg wrk -t2 -c8 -d"$1"s --timeout 10s -s "$TR_SRCDIR/tests/faults.lua" \
	    "$TR_URL/tokenreview" -- "$TR_TMP/tokens.txt" \
	    >"$TR_TMP/wrk.out" 2>"$TR_TMP/wrk.err"
	WRK_PID=$TR_BGPID
}

# load_wait: wait for wrk to end; sets W_REQUESTS, W_OK, W_ERROR, W_NO,
# W_OTHER, W_MAX_MS, W_P99_MS, W_TIMEOUTS, W_SOCKERR from its line.
load_wait()
{
	tr_wait_exit "$WRK_PID" 120 || true
	local line
	line=$(grep '^faults:' "$TR_TMP/wrk.out")
	read -r _ _ W_REQUESTS _ W_OK _ W_ERROR _ W_NO _ W_OTHER _ W_MAX_MS \
	    _ W_P99_MS _ W_TIMEOUTS _ W_SOCKERR <<<"$line"
	[ -n "$line" ] || diag "wrk: $(cat "$TR_TMP/wrk.out" "$TR_TMP/wrk.err")"
}

fds()
{
	ls "/proc/$DAEMON/fd" | wc -l
}

# What the daemon's descriptors are, by kind: a TCP socket by the server
# at its other end (postgresql, ldap, issuer; client for a caller's),
# else socket, pipe, anon_inode or file.
fd_kinds()
{
	local f
	for f in /proc/"$DAEMON"/fd/*; do
		readlink "$f"
	done 2>/dev/null | awk -v pg="$PGPORT" -v ldap="$s1_PORT" \
	    -v idp="$IDP_PORT" -v me="$TR_PORT" '
	    function hex(s, i, v) {
		v = 0
		for (i = 1; i <= length(s); i++)
			v = v * 16 + index("0123456789ABCDEF",
			    toupper(substr(s, i, 1))) - 1
		return v
	    }
	    FNR == NR {
		if (FNR > 1) {
			split($2, l, ":"); split($3, r, ":")
			lp = hex(l[2]) ""
			rp = hex(r[2]) ""
			k = "tcp"
			if (rp == pg) k = "postgresql"
			else if (rp == ldap) k = "ldap"
			else if (rp == idp) k = "issuer"
			else if (lp == me) k = "client"
			peer[$10] = k
		}
		next
	    }
	    /^socket:/ {
		i = $0; gsub(/[^0-9]/, "", i)
		n[i in peer ? peer[i] : "socket"]++
		next
	    }
	    { sub(/:.*/, ""); sub(/^\/.*/, "file"); n[$0]++ }
	    END { for (k in n) printf "%s %d, ", k, n[k] }
	    ' <(cat /proc/"$DAEMON"/net/tcp /proc/"$DAEMON"/net/tcp6 2>/dev/null) -
}

# fd_count [-v] KIND...: of one look at the daemon's descriptors, how
# many are of these kinds (with -v: of any other kind).
fd_count()
{
	local v=0
	[ "$1" = -v ] && { v=1; shift; }
	fd_kinds | tr ',' '\n' | awk -v want=" $* " -v v=$v '
	    NF == 2 && (index(want, " " $1 " ") > 0) != v { n += $2 }
	    END { print n + 0 }'
}

rss_kib()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON/status"
}

# is_sanitized: the daemon was built with AddressSanitizer, whose
# quarantine keeps freed memory resident: RSS says nothing there.
is_sanitized()
{
	grep -qa 'AddressSanitizer' "$TOKENREVIEWD"
}

# check_load DESC: the last wrk run answered everything in time, and each
# of its valid tokens with a success or an error, never a plain "no".
check_load()
{
	if [ -n "$W_REQUESTS" ] && [ "$W_NO" = 0 ] && [ "$W_OTHER" = 0 ] &&
	    [ "$W_TIMEOUTS" = 0 ] && [ "$W_SOCKERR" = 0 ] &&
	    [ "$W_MAX_MS" -le "$MAX_MS" ] && [ "$W_OK" -gt 0 ]; then
		pass "$1"
	else
		fail "$1" "$(grep -h '^faults' "$TR_TMP/wrk.out")" \
		    "max allowed ${MAX_MS} ms" "$(head -n 5 "$TR_TMP/wrk.err")"
	fi
}

