#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# POST /login against a real slapd (tests/slapd-lib.sh's users and
# groups), on the login listener of [login]: TLS without a client
# certificate, apart from the review port.  A right password gets an
# ExecCredential whose token carries the directory's groups and the
# configured claims; its header names the key of the JWKS document, and
# an independent verifier (node's jose, from $TR_NODE_DIR) checks the
# token with that document and the issuer named by the discovery
# document.  A wrong password, an unknown user, an empty password and an
# account slapd's ppolicy locked all get the same 401, each no sooner
# than failure_delay.  Over the per-address limit of failed logins, and
# for a user name the LDAP source locked out, 429 with Retry-After.  Only
# /login and the issuer's documents are served there (404 and 405 for the
# rest); the review port does not serve /login.  Every login has one
# audit line and is counted in tokenreviewd_logins_total; no password
# ever reaches the log.  Each client address below is a loopback address
# of its own (127.0.0.N), so that the per-address limit is seen only where
# it is tested.  With a token database (SQLite), each login writes a
# session row that tokenreviewctl session lists (jti, user, client); the
# token from /login reviews on the review port until its session is
# revoked (by jti or by user), and is refused within 2 s after that
# although the positive cache keeps answers a minute, while another
# login's token still reviews.  A session table that cannot be written
# fails the login (503), one that cannot be read fails the review; with
# sessions = no no row is written, and with recheck = no the session is
# still checked.  A revocation shows the same way with PostgreSQL (a
# server of tests/pg-lib.sh, when it can be started), whose session calls
# answer from the loop.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout base64 date
[ -x /usr/sbin/slapd ] || tr_skip_all "slapd not installed"
[ -x /usr/sbin/slapadd ] || tr_skip_all "slapadd not installed"
tr_need_binaries
tr_tmpdir
tr_certs

. "$(dirname "$0")/slapd-lib.sh"
slapd_data
slapd_start s1
printf '%s\n' "$READER_PW" | tr_write "$TR_TMP/reader.pw"

: "${TR_NODE_DIR:=/work/node}"
export TR_NODE_DIR
ISSUER=https://login.example.test/k8s
ISSUER_PATH=/k8s
TTL=3600
DELAY=1
ALICE_GROUPS='["ldap:all","ldap:cyc-a","ldap:cyc-b","ldap:dev","ldap:ops"]'
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TR_TMP/login.key" 2>/dev/null || bail "cannot make the login key"
chmod 600 "$TR_TMP/login.key"

tr_config main server.chain="ldap jwt" static.file= cache.ttl=0 \
    cache.negative_ttl=0 login.listen=127.0.0.1:0 login.issuer="$ISSUER/" \
    login.ldap=corp login.signing_key="$TR_TMP/login.key" \
    login.token_ttl=1h login.failure_delay=${DELAY}s \
    login.failure_rate=0.01 login.failure_burst=3
{
	cat "$TR_CONF"
	printf '[ldap "corp"]\n'
	printf 'uri = %s\nca = %s\n' "$s1_LDAP" "$TR_CERTS/ca.crt"
	printf 'bind_dn = cn=reader,%s\nbind_password_file = %s\n' "$BASE" \
	    "$TR_TMP/reader.pw"
	printf 'user_base = ou=people,%s\n' "$BASE"
	printf 'user_filter = (&(objectClass=inetOrgPerson)(uid=%%s))\n'
	printf 'uid_attribute = uidNumber\ngroup_base = ou=groups,%s\n' "$BASE"
	printf 'group_filter = (&(objectClass=groupOfNames)(member=%%s))\n'
	printf 'group_prefix = ldap:\nnested_depth = 5\n'
	printf 'bind_failure_limit = 3\nbind_failure_window = 5m\n'
	printf 'bind_lockout = 5m\n'
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"

# ---------------------------------------------------------------- helpers

# lreq [-i ADDR] METHOD PATH [CURL-ARG...]: one request to the login
# listener from ADDR (default 127.0.0.1), no client certificate.  Sets
# TR_CODE, TR_BODY, TR_HDRS and TR_TIME (curl's time_total) as tr_req.
lreq()
{
	local addr=127.0.0.1 f=$TR_TMP/.lreq out
	if [ "$1" = -i ]; then
		addr=$2
		shift 2
	fi
	local method=$1 path=$2
	shift 2
	rm -f "$f.body" "$f.hdr"
	out=$(curl -sS --max-time 20 --cacert "$TR_CERTS/ca.crt" \
	    --interface "$addr" -o "$f.body" -D "$f.hdr" \
	    -w '%{http_code} %{time_total}' -X "$method" "$@" \
	    "https://127.0.0.1:$LOGIN_PORT$path" 2>"$f.err")
	TR_CODE=${out%% *} TR_TIME=${out##* }
	[ -n "$TR_CODE" ] || TR_CODE=000
	TR_BODY=$(cat "$f.body" 2>/dev/null)
	TR_HDRS=$(tr -d '\r' <"$f.hdr" 2>/dev/null |
	    awk -F: '/:/ { $1 = tolower($1) } { print }' OFS=:)
	if [ "$method" = POST ] && [ "$path" = /login ]; then
		LOGINS=$((LOGINS + 1))
	fi
}
LOGINS=0

# login [-i ADDR] USER PASSWORD: POST /login with that Basic credential.
login()
{
	local -a i=()
	if [ "$1" = -i ]; then
		i=(-i "$2")
		shift 2
	fi
	lreq "${i[@]}" POST /login -H "Authorization: Basic $(b64 "$1:$2")"
}

# A JWT part ($1: 1 header, 2 claims) of TOKEN as JSON.
jwt_part()
{
	local p
	p=$(printf '%s' "$TOKEN" | cut -d. -f"$1" | tr -- '-_' '+/')
	while [ $(( ${#p} % 4 )) -ne 0 ]; do
		p=$p=
	done
	printf '%s' "$p" | base64 -d 2>/dev/null
}

# jose_verify TOKEN JWKS: node's jose checks the token's signature with
# the key set, the issuer and the audience; prints the payload's sub.
jose_verify()
{
	TOKEN_ARG=$1 JWKS_ARG=$2 ISSUER_ARG=$ISSUER node --input-type=module -e '
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
const req = createRequire(process.env.TR_NODE_DIR + "/package.json");
const jose = await import(pathToFileURL(req.resolve("jose")).href);
const set = jose.createLocalJWKSet(JSON.parse(process.env.JWKS_ARG));
const { payload } = await jose.jwtVerify(process.env.TOKEN_ARG, set,
    { issuer: process.env.ISSUER_ARG, audience: "kubernetes" });
console.log(payload.sub);
'
}

# ---------------------------------------------------------------- start

tid "configuration and start"
ok "tokenreviewd -n accepts [login]" "$TOKENREVIEWD" -c "$TR_CONF" -n
expect_start main "the daemon starts with a login listener"
LOGIN_PORT=$(sed -n 3p "$TR_DIR/port")
like "$LOGIN_PORT" '^[1-9][0-9]*$' "the port file's third line is the login port"
like "$(grep '"event":"listen"' "$TR_LOG")" 'TLS, login' \
    "the log names the login listener"

# ---------------------------------------------------------------- success

tid "POST /login with the right password"
login alice "$ALICE_PW"
is "$TR_CODE" 200 "alice: 200"
like "$(tr_header content-type)" '^application/json' "... application/json"
is "$(tr_header cache-control)" no-store "... not to be cached"
ok "... an ExecCredential of client.authentication.k8s.io/v1" tr_jq \
    '.kind == "ExecCredential" and .apiVersion == "client.authentication.k8s.io/v1" and .spec.interactive == false and (.status.token | type == "string")'
TOKEN=$(jq -r .status.token <<<"$TR_BODY")
EXPTS=$(jq -r .status.expirationTimestamp <<<"$TR_BODY")
NOW=$(date +%s)
HDR=$(jwt_part 1)
CLAIMS=$(jwt_part 2)
ok "the token's header: ES256, JWT, a kid" jq -e \
    '.alg == "ES256" and .typ == "JWT" and (.kid | test("^[A-Za-z0-9_-]{43}$"))' <<<"$HDR"
ok "claims: iss, aud, sub" jq -e --arg i "$ISSUER" \
    '.iss == $i and .aud == "kubernetes" and .sub == "alice"' <<<"$CLAIMS"
is "$(jq -c '.groups | sort' <<<"$CLAIMS")" "$ALICE_GROUPS" \
    "claims: the groups from the directory, nested ones too"
is "$(jq -r .uid <<<"$CLAIMS")" 1001 "claims: uid from uidNumber"
IAT=$(jq -r .iat <<<"$CLAIMS")
EXP=$(jq -r .exp <<<"$CLAIMS")
ok "claims: iat is now" tr_between "$IAT" $((NOW - 30)) $((NOW + 1))
is "$(jq -r .nbf <<<"$CLAIMS")" "$IAT" "claims: nbf = iat"
is "$EXP" $((IAT + TTL)) "claims: exp = iat + token_ttl"
like "$(jq -r .jti <<<"$CLAIMS")" '^[A-Za-z0-9_-]{22}$' \
    "claims: jti, 16 random bytes"
is "$EXPTS" "$(date -u -d "@$EXP" +%Y-%m-%dT%H:%M:%SZ)" \
    "expirationTimestamp is exp"
JTI1=$(jq -r .jti <<<"$CLAIMS")
TOKEN1=$TOKEN
login alice "$ALICE_PW"
TOKEN=$(jq -r .status.token <<<"$TR_BODY")
unlike "$(jwt_part 2 | jq -r .jti)" "^$JTI1\$" "a second login: another jti"
TOKEN=$TOKEN1

tid "the issuer's documents"
lreq GET "$ISSUER_PATH/.well-known/openid-configuration"
is "$TR_CODE" 200 "discovery: 200"
ok "discovery: issuer, jwks_uri, ES256" jq -e --arg i "$ISSUER" \
    '.issuer == $i and .jwks_uri == ($i + "/openid/v1/jwks") and .id_token_signing_alg_values_supported == ["ES256"] and .response_types_supported == ["id_token"] and .subject_types_supported == ["public"]' <<<"$TR_BODY"
JWKS_PATH=$(jq -r .jwks_uri <<<"$TR_BODY")
JWKS_PATH=${JWKS_PATH#https://login.example.test}
lreq GET "$JWKS_PATH"
is "$TR_CODE" 200 "JWKS at the jwks_uri's path: 200"
JWKS=$TR_BODY
ok "JWKS: the signing key, public, with the token's kid" jq -e \
    --arg k "$(jq -r .kid <<<"$HDR")" \
    '(.keys | length) == 1 and .keys[0].kid == $k and .keys[0].kty == "EC" and .keys[0].crv == "P-256" and .keys[0].alg == "ES256" and .keys[0].use == "sig" and (.keys[0] | has("d") | not)' <<<"$JWKS"
if [ -f "$TR_NODE_DIR/node_modules/jose/package.json" ] &&
    command -v node >/dev/null; then
	is "$(jose_verify "$TOKEN" "$JWKS" 2>&1)" alice \
	    "jose verifies the token with the JWKS, issuer and audience"
	BAD=$(printf '%s' "$TOKEN" | awk -F. '{ print $1 "." $2 "x." $3 }')
	unlike "$(jose_verify "$BAD" "$JWKS" 2>&1)" '^alice$' \
	    "... and refuses it tampered"
	OTHER='{"keys":[]}'
	unlike "$(jose_verify "$TOKEN" "$OTHER" 2>&1)" '^alice$' \
	    "... and refuses it with a key set without its key"
else
	skip "jose verifies the token" "no jose under $TR_NODE_DIR"
	skip "... tampered" "no jose"
	skip "... other keys" "no jose"
fi

# ---------------------------------------------------------------- refusals

tid "refusals: the same 401, no sooner than failure_delay"
login -i 127.0.0.11 alice wrong-password-1
is "$TR_CODE" 401 "wrong password: 401"
BODY401=$TR_BODY
is "$(tr_header www-authenticate)" 'Basic realm="tokenreviewd"' \
    "... WWW-Authenticate: Basic"
ok "... a Status, Unauthorized" tr_jq '.kind == "Status" and .code == 401'
ok "... no sooner than failure_delay ($TR_TIME s)" tr_between "$TR_TIME" \
    "$DELAY" 30
login -i 127.0.0.12 nosuchuser wrong-password-2
is "$TR_CODE" 401 "unknown user: 401"
is "$TR_BODY" "$BODY401" "... the same body"
ok "... no sooner than failure_delay ($TR_TIME s)" tr_between "$TR_TIME" \
    "$DELAY" 30
login -i 127.0.0.13 alice ""
is "$TR_CODE" 401 "empty password: 401"
is "$TR_BODY" "$BODY401" "... the same body"
ok "... no sooner than failure_delay ($TR_TIME s)" tr_between "$TR_TIME" \
    "$DELAY" 30
login -i 127.0.0.14 carol carol-pw
is "$TR_CODE" 401 "account locked by ppolicy, right password: 401"
is "$TR_BODY" "$BODY401" "... the same body"
ok "... no sooner than failure_delay ($TR_TIME s)" tr_between "$TR_TIME" \
    "$DELAY" 30
login alice "$ALICE_PW"
ok "a success is not held back ($TR_TIME s)" tr_between "$TR_TIME" 0 0.9

tid "bad requests: 400"
lreq POST /login
is "$TR_CODE" 400 "no Authorization header: 400"
lreq POST /login -H "Authorization: Bearer abc"
is "$TR_CODE" 400 "a Bearer token: 400"
lreq POST /login -H "Authorization: Basic $(b64 alice)"
is "$TR_CODE" 400 "Basic without a colon: 400"
lreq POST /login -H "Authorization: Basic !!!"
is "$TR_CODE" 400 "Basic that is not base64: 400"

tid "limits: 429 with Retry-After"
# Three user names, so that no name's lockout comes first.
for n in 1 2 3; do
	login -i 127.0.0.2 "guess$n" "wrong-$n"
	codes="${codes:-}$TR_CODE "
done
is "$codes" "401 401 401 " "three failed logins from one address: 401 each"
login -i 127.0.0.2 alice "$ALICE_PW"
is "$TR_CODE" 429 "the fourth, with the right password: 429"
like "$(tr_header retry-after)" '^[1-9][0-9]*$' "... with Retry-After"
ok "... a Status, TooManyRequests" tr_jq '.code == 429'
login -i 127.0.0.3 alice "$ALICE_PW"
is "$TR_CODE" 200 "another address logs in meanwhile"
codes=
for n in 21 22 23; do
	login -i "127.0.0.$n" paula "wrong-$n"
	codes="$codes$TR_CODE "
done
is "$codes" "401 401 401 " "paula, three wrong passwords from three addresses"
login -i 127.0.0.24 paula "$PAULA_PW"
is "$TR_CODE" 429 "paula's name locked out by the LDAP source: 429"
ok "... Retry-After within bind_lockout" tr_between \
    "$(tr_header retry-after)" 1 300
login -i 127.0.0.25 alice "$ALICE_PW"
is "$TR_CODE" 200 "alice is not locked out"

# ---------------------------------------------------------------- routes

tid "nothing else on the login listener"
lreq GET /login
is "$TR_CODE" 405 "GET /login: 405"
is "$(tr_header allow)" POST "... Allow: POST"
lreq POST "$ISSUER_PATH/.well-known/openid-configuration"
is "$TR_CODE" 405 "POST to the discovery document: 405"
is "$(tr_header allow)" "GET, HEAD" "... Allow: GET, HEAD"
lreq GET /.well-known/openid-configuration
is "$TR_CODE" 404 "the discovery document outside the issuer's path: 404"
lreq GET /nothing
is "$TR_CODE" 404 "another path: 404"
lreq GET /metrics
is "$TR_CODE" 404 "/metrics: 404"
lreq POST /apis/authentication.k8s.io/v1/tokenreviews \
    -H "Content-Type: application/json" --data-binary \
    "$(tr_review_body v1 "$(b64 "alice:$ALICE_PW")")"
is "$TR_CODE" 404 "a TokenReview: 404"
tr_req POST /login "" -H "Authorization: Basic $(b64 "alice:$ALICE_PW")"
is "$TR_CODE" 404 "the review port does not serve /login"
expect_user -t "$(b64 "alice:$ALICE_PW")" -n alice \
    "the review port still reviews bind-mode tokens"

# ---------------------------------------------------------------- records

tid "audit lines, metrics, no secrets"
AUDIT=$(grep -c '"event":"login"' "$TR_LOG")
is "$AUDIT" "$LOGINS" "one audit line per POST /login ($LOGINS)"
ok "the success's line has the token's jti and the client" grep -q \
    "\"event\":\"login\".*\"outcome\":\"success\".*\"user\":\"alice\".*\"client\":\"127.0.0.1:[0-9]*\".*\"jti\":\"$JTI1\"" "$TR_LOG"
ok "a failure's line names the user and the client" grep -q \
    '"event":"login".*"outcome":"failure".*"user":"nosuchuser".*"client":"127.0.0.12:' "$TR_LOG"
ok "... and the lockout's" grep -q \
    '"event":"login".*"outcome":"locked_out".*"user":"paula"' "$TR_LOG"
tr_metrics
is "$(tr_metric tokenreviewd_logins_total 'outcome="success"')" 5 \
    "tokenreviewd_logins_total{outcome=\"success\"}"
is "$(tr_metric tokenreviewd_logins_total 'outcome="failure"')" 10 \
    "... failure"
is "$(tr_metric tokenreviewd_logins_total 'outcome="limited"')" 1 \
    "... limited"
is "$(tr_metric tokenreviewd_logins_total 'outcome="locked_out"')" 1 \
    "... locked_out"
is "$(tr_metric tokenreviewd_logins_total 'outcome="bad_request"')" 4 \
    "... bad_request"
leaks=
for s in "$ALICE_PW" "$PAULA_PW" wrong-password-1 wrong-21 carol-pw \
    "$(b64 "alice:$ALICE_PW")" "$TOKEN"; do
	grep -qF -- "$s" "$TR_LOG" && leaks="$leaks ${s:0:4}..."
done
is "$leaks" "" "no password, credential or token in the daemon's log"

tid "stop"
tr_stop
is "$?" 0 "the daemon exits 0 on SIGTERM"

# ---------------------------------------------------------------- sessions

# sess_config NAME [KEY=VALUE]...: a daemon with the jwt source, a token
# database (SQLite) and the [ldap "corp"] of main; the positive cache
# keeps answers a minute, so that only the token database's cache_ttl
# can make a revocation show sooner.
sess_config()
{
	local name=$1
	shift
	tr_config "$name" server.chain="jwt tokendb ldap" static.file= \
	    cache.ttl=60s cache.negative_ttl=0 \
	    tokendb.path="$TR_TMP/$name/tokens.db" tokendb.cache_ttl=1s \
	    login.listen=127.0.0.1:0 login.issuer="$ISSUER" login.ldap=corp \
	    login.signing_key="$TR_TMP/login.key" login.token_ttl=1h "$@"
	{
		cat "$TR_CONF"
		sed -n '/^\[ldap "corp"\]$/,$p' "$TR_TMP/main/tokenreviewd.conf"
	} | tr_write "$TR_CONF.new"
	mv "$TR_CONF.new" "$TR_CONF"
}

session_cmd()
{
	"$TOKENREVIEWCTL" -c "$TR_CONF" session "$@"
}

# sess_login [-i ADDR] USER PASSWORD: login; TOKEN and JTI of its answer.
sess_login()
{
	login "$@"
	TOKEN=$(jq -r 'if .kind == "ExecCredential" then .status.token
	    else empty end' <<<"$TR_BODY" 2>/dev/null)
	JTI=$(jwt_part 2 | jq -r .jti 2>/dev/null)
}

# refused_within SECONDS TOKEN: review TOKEN until it is refused, at most
# SECONDS by this shell's clock; the time it took in WAITED.
refused_within()
{
	local t0
	t0=$(tr_now)
	while :; do
		tr_is_no -t "$2" -E && WAITED=$(tr_elapsed "$t0") && return 0
		tr_between "$(tr_elapsed "$t0")" 0 "$1" || return 1
	done
}

if "$TOKENREVIEWCTL" -h 2>&1 | grep -q 'session list'; then
	tid "sessions: a row per login, revoked with tokenreviewctl"
	sess_config sess
	ok "tokenreviewd -n accepts [login] with [tokendb]" \
	    "$TOKENREVIEWD" -c "$TR_CONF" -n
	expect_start sess "the daemon starts with a token database"
	LOGIN_PORT=$(sed -n 3p "$TR_DIR/port")
	sess_login -i 127.0.0.31 alice "$ALICE_PW"
	is "$TR_CODE" 200 "alice logs in: 200"
	A1=$TOKEN A1_JTI=$JTI
	expect_user -t "$A1" -n alice "the token from /login reviews as alice"
	is "$(jq -r '.status.user.extra["authentication.kubernetes.io/credential-id"][0]' <<<"$TR_BODY")" \
	    "JTI=$A1_JTI" "... its credential id names the session"
	expect_user -t "$A1" -n alice \
	    "... and again (from the cache, within cache_ttl)"
	like "$(session_cmd list | grep -F -- "$A1_JTI")" \
	    "^$A1_JTI +alice +[0-9T:-]+Z +[0-9T:-]+Z +127\\.0\\.0\\.31 +active\$" \
	    "session list: its jti, user, times, client, active"
	sess_login -i 127.0.0.32 alice "$ALICE_PW"
	A2=$TOKEN A2_JTI=$JTI
	expect_user -t "$A2" -n alice "another login of alice reviews"
	out=$(session_cmd revoke "$A1_JTI")
	is "$?:$out" "0:1 session ended" "session revoke JTI"
	if refused_within 2 "$A1"; then
		pass "the revoked token is refused within 2 s ($WAITED s)"
	else
		fail "the revoked token is refused within 2 s" \
		    "still: $(head -c 300 <<<"$TR_BODY")"
	fi
	expect_no -e 'session revoked or expired' \
	    "... with an error that names the session"
	expect_user -t "$A2" -n alice "the other login's token still reviews"
	expect_no -t "$A1" -e 'session revoked or expired' \
	    "the revoked token stays refused"

	tid "sessions: revoke --user"
	sess_login -i 127.0.0.33 dup1 dup1-pw
	D1=$TOKEN
	sess_login -i 127.0.0.33 dup1 dup1-pw
	D2=$TOKEN
	expect_user -t "$D1" -n dup1 "dup1's first token reviews"
	expect_user -t "$D2" -n dup1 "dup1's second token reviews"
	is "$(session_cmd list --user dup1 | sed 1d | wc -l)" 2 \
	    "session list --user dup1: two sessions"
	out=$(session_cmd revoke --user dup1)
	is "$?:$out" "0:2 sessions ended" "session revoke --user dup1"
	refused_within 2 "$D1" && refused_within 2 "$D2"
	ok "both of dup1's tokens are refused within 2 s" test $? -eq 0
	expect_user -t "$A2" -n alice "alice's token still reviews"

	tid "sessions: a token database that fails"
	if command -v sqlite3 >/dev/null 2>&1; then
		sqlite3 -cmd '.timeout 5000' "$TR_DIR/tokens.db" \
		    'ALTER TABLE sessions RENAME TO sessions_away'
		sess_login -i 127.0.0.34 alice "$ALICE_PW"
		is "$TR_CODE" 503 "no session row can be written: 503"
		is "$TOKEN" "" "... and no token"
		ok "... audited as an error" tr_wait_until 5 grep -q \
		    '"event":"login".*"outcome":"error".*"client":"127.0.0.34:.*"error":"cannot record the session' \
		    "$TR_LOG"
		refused_within 2 "$A2"
		ok "a session that cannot be checked is not accepted" \
		    test $? -eq 0
		expect_no -e 'session check' "... an error, not cached"
		sqlite3 -cmd '.timeout 5000' "$TR_DIR/tokens.db" \
		    'ALTER TABLE sessions_away RENAME TO sessions'
		tr_wait_until 2 tr_is_user -t "$A2" -n alice
		ok "back once the table is: alice's token reviews" test $? -eq 0
	else
		skip "a token database that fails" "no sqlite3"
	fi
	tr_stop
	is "$?" 0 "the daemon exits 0 on SIGTERM"

	tid "sessions = no: no row, no check"
	sess_config nosess login.sessions=no
	expect_start nosess "the daemon starts with sessions = no"
	LOGIN_PORT=$(sed -n 3p "$TR_DIR/port")
	sess_login alice "$ALICE_PW"
	is "$TR_CODE" 200 "alice logs in: 200"
	expect_user -t "$TOKEN" -n alice "the token reviews without a session"
	is "$(session_cmd list | sed 1d | wc -l)" 0 "no session row written"
	tr_stop
	is "$?" 0 "the daemon exits 0 on SIGTERM"

	tid "sessions with recheck = no"
	sess_config norecheck login.recheck=no
	expect_start norecheck "the daemon starts with recheck = no"
	LOGIN_PORT=$(sed -n 3p "$TR_DIR/port")
	sess_login alice "$ALICE_PW"
	expect_user -t "$TOKEN" -n alice "the token reviews"
	session_cmd revoke "$JTI" >/dev/null
	refused_within 2 "$TOKEN"
	ok "revoked, refused within 2 s without a recheck" test $? -eq 0
	expect_no -e 'session revoked or expired' "... naming the session"
	tr_stop
	is "$?" 0 "the daemon exits 0 on SIGTERM"

	tid "sessions on PostgreSQL (answers from the loop)"
	if [ "$(id -u)" = 0 ] && command -v runuser psql >/dev/null 2>&1 &&
	    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
		. "$(dirname "$0")/pg-lib.sh"
		pg_setup
		sess_config sesspg tokendb.path= tokendb.url="$DBURL"
		expect_start sesspg "the daemon starts with PostgreSQL"
		LOGIN_PORT=$(sed -n 3p "$TR_DIR/port")
		sess_login -i 127.0.0.41 alice "$ALICE_PW"
		is "$TR_CODE" 200 "alice logs in: 200"
		P1=$TOKEN P1_JTI=$JTI
		sess_login -i 127.0.0.42 alice "$ALICE_PW"
		P2=$TOKEN
		expect_user -t "$P1" -n alice "the token from /login reviews"
		like "$(session_cmd list | grep -F -- "$P1_JTI")" \
		    "^$P1_JTI +alice +[0-9T:-]+Z +[0-9T:-]+Z +127\\.0\\.0\\.41 +active\$" \
		    "session list: its jti, user, times, client, active"
		out=$(session_cmd revoke "$P1_JTI")
		is "$?:$out" "0:1 session ended" "session revoke JTI"
		if refused_within 2 "$P1"; then
			pass "the revoked token is refused within 2 s ($WAITED s)"
		else
			fail "the revoked token is refused within 2 s" \
			    "still: $(head -c 300 <<<"$TR_BODY")"
		fi
		expect_no -e 'session revoked or expired' \
		    "... with an error that names the session"
		expect_user -t "$P2" -n alice \
		    "the other login's token still reviews"
		tr_stop
		is "$?" 0 "the daemon exits 0 on SIGTERM"
	else
		skip "sessions on PostgreSQL" \
		    "needs root, runuser, psql and a PostgreSQL server"
	fi
else
	skip "sessions" "tokenreviewctl built without the token database"
fi

slapd_stop s1
done_testing
