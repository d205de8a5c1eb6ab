#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# The jwt token source against a real OpenID Connect issuer: oidc-provider
# from the npm registry (tests/oidc-issuer.mjs), served over HTTPS on
# 127.0.0.1, issuing JWT access tokens through the client_credentials
# grant.  Two issuers at once, RS256 and ES256 tokens with mapped users
# and groups; wrong issuer, wrong audience, expired, not yet valid,
# tampered, alg none, HS256, wrong key type, unknown kid and oversized
# tokens refused with a reason in the log; key rotation picked up without
# a restart or a failed review; the provider down after start (cached keys
# keep working) and down at start, then up; a service-account token
# signed with a key file.  Conformance cases 37-50 where they apply.
# Groups and user names in Kubernetes' system: namespace from the
# provider: dropped or refused, logged once, counted; kept under a
# groups_prefix or with allow_system_names, never system:authenticated.
# Key fetches that fail (a discovery document naming another issuer or
# an http jwks_uri, an untrusted certificate, HTTP 500, an oversized
# document) against a server of wrong answers, each with its log line
# and metric; a crit header.
#
# oidc-provider is taken from $TR_NODE_DIR (.ci/run installs it there),
# else installed with npm into the build tree.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

OIDC_PROVIDER=oidc-provider@9.13.3

tr_need curl openssl jq setsid timeout node npm
tr_need_binaries
tr_tmpdir
tr_certs

: "${TR_NODE_DIR:=$top_builddir/tests/node}"
export TR_NODE_DIR
if [ ! -f "$TR_NODE_DIR/node_modules/oidc-provider/package.json" ]; then
	mkdir -p "$TR_NODE_DIR"
	npm install --prefix "$TR_NODE_DIR" --no-audit --no-fund --silent \
	    "$OIDC_PROVIDER" >"$TR_TMP/npm.log" 2>&1 ||
	    tr_skip_all "npm install $OIDC_PROVIDER failed: $(tail -n 3 "$TR_TMP/npm.log")"
fi
ISSUER_JS=$TR_SRCDIR/tests/oidc-issuer.mjs
# Our issuers are on loopback: never through a proxy.
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# ---------------------------------------------------------------- helpers

# start_idp NAME KEYS PORT: an issuer in $TR_TMP/NAME; sets IDP_PORT and
# NAME_PID (its process group) and NAME_PORT.
start_idp()
{
	local name=$1 keys=$2 port=$3 d=$TR_TMP/$1
	mkdir -p "$d"
	rm -f "$d/port"
	tr_bg node "$ISSUER_JS" serve "$keys" "$TR_CERTS/server.crt" \
	    "$TR_CERTS/server.key" "$port" "$d/port" 2>>"$d/log" >&2
	printf -v "${name}_PID" '%s' "$TR_BGPID"
	local n=100
	while [ ! -s "$d/port" ]; do
		# A port in use ends it at once.
		tr_alive "$TR_BGPID" && [ "$n" -gt 0 ] || return 1
		sleep 0.1
		n=$((n - 1))
	done
	read -r IDP_PORT <"$d/port"
	printf -v "${name}_PORT" '%s' "$IDP_PORT"
}

# token NAME CLIENT RESOURCE: an access token from issuer NAME.
token()
{
	local port
	port=$(cat "$TR_TMP/$1/port")
	curl -sS --max-time 10 --cacert "$TR_CERTS/ca.crt" \
	    -d grant_type=client_credentials -d "client_id=$2" \
	    -d "client_secret=$2-secret" -d "resource=$3" \
	    "https://127.0.0.1:$port/token" | jq -r '.access_token // empty'
}

# sign KEYS KID ALG CLAIMS-JSON [HEADER-KID]: a JWT signed here.
sign()
{
	node "$ISSUER_JS" sign "$@"
}

# The JSON of a JWT part on stdin (base64url without padding).
b64url_json()
{
	local s
	s=$(tr '_-' '/+')
	while [ $((${#s} % 4)) != 0 ]; do
		s=$s=
	done
	printf '%s' "$s" | base64 -d
}

# claims ISSUER-PORT [JQ-UPDATE]: OIDC claims for jane, valid now.
claims()
{
	local now
	now=$(date +%s)
	jq -nc --arg iss "https://127.0.0.1:$1" --argjson now "$now" \
	    "{iss: \$iss, aud: \"kubernetes\", sub: \"jane\", email: \"jane@test\",
	    groups: [\"dev\"], iat: \$now, exp: (\$now + 300)} | ${2:-.}"
}

fetches()
{
	tr_metrics
	tr_metric tokenreviewd_jwt_jwks_fetches_total \
	    "issuer=\"$1\",result=\"${2:-ok}\""
}

ready()
{
	tr_req GET /readyz
	[ "$TR_CODE" = 200 ]
}

# ---------------------------------------------------------------- setup

tid "two oidc-provider issuers over HTTPS"
node "$ISSUER_JS" keys "$TR_TMP/idp1.keys" a &&
node "$ISSUER_JS" keys "$TR_TMP/idp2.keys" b &&
node "$ISSUER_JS" keys "$TR_TMP/rotated.keys" c ||
    bail "could not make issuer keys"
# Issuer 1 is restarted on its port later: tr_free_port's port is outside
# the ephemeral range, where no client socket can take it meanwhile.
for try in 1 2 3 4 5; do
	start_idp idp1 "$TR_TMP/idp1.keys" "$(tr_free_port)" && break
	tr_bg_kill "$idp1_PID"
	[ "$try" = 5 ] && bail "issuer 1 did not start"
done
start_idp idp2 "$TR_TMP/idp2.keys" 0 || bail "issuer 2 did not start"
P1=$idp1_PORT
P2=$idp2_PORT
pass "two issuers listen on 127.0.0.1:$P1 and :$P2"

# A foreign cluster's service-account key pair and its kid, as
# kube-apiserver computes it.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TR_TMP/sa.key" 2>/dev/null &&
openssl pkey -in "$TR_TMP/sa.key" -pubout -out "$TR_TMP/sa.pub" ||
    bail "could not make the service-account key"
SA_KID=$(openssl pkey -in "$TR_TMP/sa.key" -pubout -outform DER |
    openssl dgst -sha256 -binary | tr_b64url)
# The key of an issuer whose tokens are signed here (allow_system_names).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TR_TMP/local.key" 2>/dev/null &&
openssl pkey -in "$TR_TMP/local.key" -pubout -out "$TR_TMP/local.pub" ||
    bail "could not make the local issuer's key"

# jwt_sections P1 P2: the [jwt] sections of the daemons.
jwt_sections()
{
	cat <<EOF
[jwt "idp1"]
issuer = https://127.0.0.1:$1
audiences = kubernetes
username_claim = email
groups_claim = groups
groups_prefix = oidc:
ca = $TR_CERTS/ca.crt
retry_interval = 300ms
refetch_interval = 1s
fetch_timeout = 3s
max_token_size = 4k

EOF
	[ -n "$2" ] && cat <<EOF
[jwt "idp2"]
issuer = https://127.0.0.1:$2
audiences = kubernetes
algorithms = RS256 ES256
username_template = idp2:{sub}
groups_claim = groups
ca = $TR_CERTS/ca.crt

[jwt "cluster-b"]
type = serviceaccount
issuer = https://cluster-b.test
audiences = https://kubernetes.default.svc
public_key_file = $TR_TMP/sa.pub

[jwt "local"]
issuer = https://local.test
audiences = kubernetes
username_claim = sub
username_prefix = -
groups_claim = groups
allow_system_names = yes
public_key_file = $TR_TMP/local.pub
EOF
	return 0
}

# The cache is off: every review verifies a signature.
tr_config main server.chain=jwt static.file= cache.max_entries=0
jwt_sections "$P1" "$P2" >>"$TR_CONF"
expect_start main "daemon starts with three jwt issuers"
if tr_wait_until 10 ready; then
	pass "/readyz is 200 once both issuers' keys are fetched"
else
	fail "/readyz is 200 once both issuers' keys are fetched" "$TR_BODY"
fi

# ---------------------------------------------------------------- accepted

tid "tokens from the provider"
RS=$(token idp1 jane urn:k8s:RS256:300)
ES=$(token idp1 jane urn:k8s:ES256:300)
SHORT=$(token idp1 jane urn:k8s:RS256:1)
[ -n "$RS" ] && [ -n "$ES" ] && [ -n "$SHORT" ] ||
    bail "the provider gave no access token"
expect_user -t "$RS" -N -n jane@test -g '["oidc:dev","oidc:ops"]' \
    "case 37: RS256 access token -> jane@test, groups oidc:dev oidc:ops"
jti=$(cut -d. -f2 <<<"$RS" | b64url_json | jq -r '.jti // empty')
[ -n "$jti" ] || fail "the provider's token has a jti"
is "$(jq -c '.status.user.extra["authentication.kubernetes.io/credential-id"]' <<<"$TR_BODY")" \
    "[\"JTI=$jti\"]" "case 46: the credential-id extra is JTI= and the token's jti"
expect_user -t "$ES" -N -n jane@test -g '["oidc:dev","oidc:ops"]' \
    "ES256 access token -> jane@test"
expect_user -t "$RS" -a '["https://kubernetes.default.svc"]' -N -n jane@test \
    "case 47: review audiences play no part; no status.audiences"
expect_no -t "$(token idp1 bob urn:k8s:RS256:300)" -e 'email not verified' \
    "case 43: email_verified false (client bob) -> NO+err"
expect_user -t "$(token idp2 jane urn:k8s:ES256:300)" -N -n idp2:jane \
    -g '["dev","ops"]' \
    "two issuers: idp2's token -> username template, groups as given"
expect_user -t "$(token idp2 bob urn:k8s:RS256:300)" -N -n idp2:bob \
    -g '["viewers"]' "case 38: groups as a string (idp2, client bob)"

# ---------------------------------------------------------------- refused

tid "tokens refused"
expect_no -t \
    "$(sign "$TR_TMP/idp1.keys" a-rsa RS256 \
    "$(claims "$P1" '.iss = "https://127.0.0.1:1"')")" \
    "case 41: a JWT of an unconfigured issuer -> NO without error"
expect_no -t "$(token idp1 jane urn:k8s:RS256:300:other)" -e 'audience' \
    "case 47: wrong audience -> NO+err"
expect_no -t \
    "$(sign "$TR_TMP/idp1.keys" a-rsa RS256 \
    "$(claims "$P1" '.nbf = .iat + 300')")" \
    -e 'nbf' "case 40: nbf 5 min ahead -> NO+err"
expect_user -t \
    "$(sign "$TR_TMP/idp1.keys" a-rsa RS256 \
    "$(claims "$P1" '.nbf = .iat + 30')")" \
    -N -n jane@test "case 40: nbf 30 s ahead -> OK"
expect_no -t "$(sign "$TR_TMP/idp2.keys" b-rsa RS256 "$(claims "$P1")")" \
    -e 'unknown key id' "unknown kid (another issuer's key) -> NO+err"
sig=${RS##*.}
tampered=${RS%.*}.${sig:0:10}$([ "${sig:10:1}" = A ] && echo B || echo A)${sig:11}
expect_no -t "$tampered" -e 'signature' "case 42: tampered signature -> NO+err"
hdr=$(printf '{"alg":"none","typ":"JWT"}' | tr_b64url)
payload=$(cut -d. -f2 <<<"$RS")
expect_no -t "$hdr.$payload." -e 'algorithm none not allowed' \
    "case 42: alg none -> NO+err"
# HS256 keyed with the issuer's own published key, the classic confusion.
jwks=$(curl -s --cacert "$TR_CERTS/ca.crt" "https://127.0.0.1:$P1/jwks")
hdr=$(printf '{"alg":"HS256","typ":"JWT","kid":"a-rsa"}' | tr_b64url)
hs=$(printf '%s' "$hdr.$payload" |
    openssl dgst -sha256 -hmac "$jwks" -binary | tr_b64url)
expect_no -t "$hdr.$payload.$hs" -e 'algorithm HS256 not allowed' \
    "case 42: HS256 with the issuer's public key -> NO+err"
expect_no -t "$(sign "$TR_TMP/idp1.keys" a-ec ES256 "$(claims "$P1")" a-rsa)" \
    -e 'key type does not match' \
    "wrong key type: ES256 with the kid of the RSA key -> NO+err"
big=$(head -c 3000 /dev/zero | tr '\0' x)
expect_no -t \
    "$(sign "$TR_TMP/idp1.keys" a-rsa RS256 \
    "$(claims "$P1" ".pad = \"$big$big\"")")" \
    -e 'larger than 4096' "oversized token (max_token_size 4k) -> NO+err"
expect_no -t "$(sleep 2; echo "$SHORT")" -e '^jwt: idp1: token expired$' \
    "case 39: expired provider token -> NO+err (no leeway)"
expect_no -t "$(sign "$TR_TMP/idp1.keys" a-rsa RS256 "$(claims "$P1" 'del(.exp)')")" \
    -e '^jwt: idp1: exp missing or not a number$' "case 39: no exp -> NO+err"
expect_no -t \
    "$(sign "$TR_TMP/idp1.keys" a-rsa RS256 "$(claims "$P1")" a-rsa \
    '{"crit":["urn:example:x"],"urn:example:x":1}')" \
    -e '^jwt: idp1: unsupported crit header$' \
    "a crit header (RFC 7515 4.1.11: no extension is understood) -> NO+err"

log=$(cat "$TR_LOG")
for why in 'not allowed' 'signature does not verify' 'token expired' \
    'key type does not match' 'larger than' 'audience not accepted' \
    'unknown key id' 'email not verified' 'unsupported crit header'; do
	like "$log" "backend jwt: idp1: [^\"]*$why[^\"]*\(token [0-9a-f]{12}\)" \
	    "the log gives the reason: $why"
done
unlike "$log" "${RS:20:40}|${ES:20:40}|${sig:0:30}" "no token in the log"

# ---------------------------------------------------------------- system:

tid "groups and user names in the system: namespace"
# sysn ISSUER KIND: the drop counter.
sysn()
{
	tr_metrics
	tr_metric tokenreviewd_jwt_system_names_dropped_total \
	    "issuer=\"$1\",kind=\"$2\""
}
expect_user -t "$(token idp1 root urn:k8s:RS256:300)" -N -n root@test \
    -g '["oidc:dev","oidc:system:masters","oidc:system:unauthenticated","oidc:system:authenticated"]' \
    "case 37: groups_prefix oidc: puts the provider's system: groups outside the namespace"
is "$(sysn idp2 group) $(sysn idp1 group)" "0 0" \
    "metrics: nothing dropped yet"
ROOT2=$(token idp2 root urn:k8s:ES256:300)
for i in 1 2; do
	expect_user -t "$ROOT2" -N -n idp2:root -g '["dev"]' \
	    "review $i: no groups_prefix: system:masters, system:unauthenticated, system:authenticated dropped; dev kept"
done
is "$(sysn idp2 group)" 6 "metrics: 3 groups dropped in each of the 2 reviews"
for g in system:masters system:authenticated system:unauthenticated; do
	is "$(grep -c "system_name_dropped.*jwt .\"idp2.\"\] group .\"$g.\" dropped" "$TR_LOG")" 1 \
	    "$g: logged once, not once per review"
done
expect_no -t "$(token idp1 sysop urn:k8s:RS256:300)" \
    -e '^jwt: idp1: user name "system:admin" is in the system: namespace$' \
    "a user name in system: (email system:admin) -> NO+err, not renamed"
is "$(sysn idp1 user)" 1 "metrics: the refused user name counted"
ok "... and logged" grep -q 'system_name_refused.*user name .\"system:admin' "$TR_LOG"
now=$(date +%s)
expect_user -t \
    "$(sign "$TR_TMP/local.key" - ES256 "$(jq -nc --argjson now "$now" '{
    iss: "https://local.test", aud: "kubernetes", sub: "system:admin",
    groups: ["system:masters","system:authenticated","system:unauthenticated","dev"],
    iat: $now, exp: ($now + 300)}')")" \
    -N -n system:admin -g '["system:masters","dev"]' \
    "allow_system_names = yes: system:admin and system:masters given, never system:authenticated nor system:unauthenticated"
is "$(sysn local group)" 2 "metrics: ... those two dropped and counted"

# ---------------------------------------------------------------- case 45

tid "unknown kids: rate-limited refetches"
# The signature is never checked when no key has the kid: any will do.
unknown=()
for i in $(seq 30); do
	hdr=$(printf '{"alg":"RS256","kid":"%s"}' "$(openssl rand -hex 6)" |
	    tr_b64url)
	unknown+=("$hdr.$payload.$sig")
done
sleep 1.1
before=$(fetches idp1)
t0=$(tr_now)
for t in "${unknown[@]}"; do
	tr_review v1 "$t" >/dev/null
done
took=$(tr_elapsed "$t0")
after=$(fetches idp1)
# refetch_interval is 1 s: one fetch per started second at most.
most=$((${took%.*} + 1))
if [ $((after - before)) -ge 1 ] && [ $((after - before)) -le "$most" ]; then
	pass "case 45: 30 random unknown kids in $took s -> $((after - before)) refetches (at most $most)"
else
	fail "case 45: 30 random unknown kids in $took s -> 1 to $most refetches" \
	    "got $((after - before))"
fi

# ---------------------------------------------------------------- rotation

tid "key rotation on the provider"
sleep 1.1
cp "$TR_TMP/rotated.keys" "$TR_TMP/idp1.keys"
kill -HUP "$idp1_PID"
tr_wait_until 10 test -s "$TR_TMP/idp1/port.rotated" ||
    fail "the provider took the new keys"
NEW=$(token idp1 jane urn:k8s:RS256:300)
like "$(cut -d. -f1 <<<"$NEW" | tr '_-' '/+' | base64 -d 2>/dev/null)" \
    '"kid":"c-rsa"' "the provider signs with the rotated key c-rsa"
before=$(fetches idp1)
expect_user -t "$NEW" -N -n jane@test \
    "rotation: the first review of a new-key token succeeds"
is "$(($(fetches idp1) - before))" 1 \
    "case 45: ... after exactly one refetch, without a restart"

# ---------------------------------------------------------------- down

tid "provider down after start"
tr_bg_kill "$idp1_PID"
expect_user -t "$NEW" -N -n jane@test \
    "provider down: the fetched keys keep verifying (cache off)"
expect_no -t "$(sign "$TR_TMP/idp2.keys" b-rsa RS256 "$(claims "$P1")")" \
    -e 'unknown key id' "provider down: an unknown kid -> NO+err, daemon alive"
sleep 0.5
tr_metrics
like "$(tr_metric tokenreviewd_jwt_keys 'issuer="idp1"')" '^[1-9]' \
    "provider down: the last good keys are kept (tokenreviewd_jwt_keys)"
tr_reload || fail "provider down: SIGHUP reloads"
expect_user -t "$NEW" -N -n jane@test \
    "provider down: after a reload the fetched keys still serve"

tid "provider down at start, then up"
tr_config late server.chain=jwt static.file= cache.max_entries=0
jwt_sections "$P1" "" >>"$TR_CONF"
if tr_start late; then
	pass "a daemon starts while its issuer is down"
	tr_req GET /readyz
	is "$TR_CODE" 503 "issuer down at start: /readyz 503"
	expect_no -t "$NEW" -e 'no signing keys' "issuer down at start: NO+err"
	if start_idp idp1 "$TR_TMP/idp1.keys" "$P1"; then
		pass "the provider restarts on port $P1"
	else
		fail "the provider restarts on port $P1"
	fi
	if tr_wait_until 10 ready; then
		pass "issuer up: /readyz 200 without a restart"
	else
		fail "issuer up: /readyz 200 without a restart"
	fi
	expect_user -t "$NEW" -N -n jane@test "issuer up: the token is accepted"
	tr_stop
	is "$?" 0 "the second daemon exits 0"
else
	fail "a daemon starts while its issuer is down"
fi

# ---------------------------------------------------------------- SA

tid "service-account token of another cluster"
tr_use main
now=$(date +%s)
sa_claims=$(jq -nc --argjson now "$now" '{
    iss: "https://cluster-b.test", aud: ["https://kubernetes.default.svc"],
    exp: ($now + 3600), iat: $now, nbf: $now, jti: "j-1",
    sub: "system:serviceaccount:payments:api",
    "kubernetes.io": {namespace: "payments",
	serviceaccount: {name: "api", uid: "sa-uid"},
	pod: {name: "api-1", uid: "pod-uid"}}}')
expect_user -t "$(sign "$TR_TMP/sa.key" - ES256 "$sa_claims" "$SA_KID")" -N \
    -n system:serviceaccount:payments:api -u sa-uid \
    -g '["system:serviceaccounts","system:serviceaccounts:payments"]' \
    -f '.extra["authentication.kubernetes.io/pod-name"] == ["api-1"] and .extra["authentication.kubernetes.io/credential-id"] == ["JTI=j-1"]' \
    "case 48: SA token (key file) -> system:serviceaccount:payments:api"
expect_no -t \
    "$(sign "$TR_TMP/sa.key" - ES256 \
    "$(jq -c '.exp = .iat - 90' <<<"$sa_claims")" "$SA_KID")" \
    -e '^jwt: cluster-b: token expired$' \
    "case 49: SA token expired 90 s ago -> NO+err"

tid "metrics"
tr_metrics
like "$(tr_metric tokenreviewd_jwt_verifications_total 'issuer="idp1",result="ok"')" \
    '^[1-9]' "metrics: verifications by issuer and result"
like "$(tr_metric tokenreviewd_jwt_jwks_fetches_total 'issuer="idp2",result="ok"')" \
    '^[1-9]' "metrics: fetches by issuer and result"
like "$TR_METRICS" 'tokenreviewd_jwt_jwks_last_success_age_seconds\{issuer="idp2"\} [0-9]+' \
    "metrics: age of the last good fetch"

tr_stop
is "$?" 0 "daemon exits 0 on SIGTERM"

# ---------------------------------------------------------------- fetches

tid "key fetches that fail"
# One server of wrong answers (oidc-issuer.mjs bad) and an issuer per
# answer; "good" is served by it too, so the server itself is not the
# fault.  Each failure keeps the issuer without keys, is logged with its
# cause and counted (spec: token-sources.md D, discovery and JWKS).
mkdir -p "$TR_TMP/bad"
for try in 1 2 3 4 5; do
	tr_bg node "$ISSUER_JS" bad "$TR_CERTS/server.crt" \
	    "$TR_CERTS/server.key" "$(tr_free_port)" "$TR_TMP/bad/port" \
	    2>>"$TR_TMP/bad/log" >&2
	# A port taken meanwhile ends it at once.
	tr_wait_until 10 eval 'test -s "$TR_TMP/bad/port" || ! tr_alive "$TR_BGPID"'
	test -s "$TR_TMP/bad/port" && break
	[ "$try" = 5 ] && bail "the server of wrong answers did not start"
done
read -r PB <"$TR_TMP/bad/port"
B=https://127.0.0.1:$PB
tr_config faults server.chain=jwt static.file= cache.max_entries=0
{
	for n in good wrongiss plain; do
		printf '[jwt "%s"]\nissuer = %s/%s\naudiences = kubernetes\n' \
		    "$n" "$B" "$n"
		printf 'ca = %s\n\n' "$TR_CERTS/ca.crt"
	done
	cat <<EOF
[jwt "status"]
issuer = https://status.test
audiences = kubernetes
jwks_url = $B/status500
ca = $TR_CERTS/ca.crt

[jwt "huge"]
issuer = https://huge.test
audiences = kubernetes
jwks_url = $B/huge
max_response = 1k
ca = $TR_CERTS/ca.crt

[jwt "untrusted"]
issuer = https://untrusted.test
audiences = kubernetes
jwks_url = $B/jwks
ca = $TR_CERTS/rogue-ca.crt
EOF
} >>"$TR_CONF"
failed=(wrongiss plain status huge untrusted)
all_fetched()
{
	local n
	[ "$(fetches good)" -ge 1 ] || return 1
	for n in "${failed[@]}"; do
		[ "$(fetches "$n" error)" -ge 1 ] || return 1
	done
}
if tr_start faults && tr_wait_until 20 all_fetched; then
	pass "a daemon with six issuers behind one server of wrong answers: every first fetch done"
else
	fail "a daemon with six issuers behind one server of wrong answers: every first fetch done" \
	    "$(grep jwt_fetch "$TR_LOG" | tail -n 6)"
fi
tr_metrics
is "$(tr_metric tokenreviewd_jwt_keys 'issuer="good"')" 1 \
    "good: the server's JWKS is fetched (1 key)"
for n in "${failed[@]}"; do
	is "$(fetches "$n" ok)/$(tr_metric tokenreviewd_jwt_keys "issuer=\"$n\"")" \
	    0/0 "$n: no fetch ok, no keys"
	tr_between "$(fetches "$n" error)" 1 1000 &&
	    pass "$n: the failed fetches counted (result=\"error\")" ||
	    fail "$n: the failed fetches counted (result=\"error\")"
done
# why ISSUER ERE: the fetch failure of ISSUER is logged with cause ERE.
why()
{
	like "$(grep "\"jwt_fetch\".*issuer $1: key fetch failed" "$TR_LOG" | head -n 1)" \
	    "keeping the 0 last good keys: $2\"" "$1: logged: $2"
}
why wrongiss "$B/wrongiss/\\.well-known/openid-configuration: its issuer is not $B/wrongiss"
why plain "$B/plain/\\.well-known/openid-configuration: no https jwks_uri"
why status "$B/status500: HTTP status 500"
why huge "$B/huge: response larger than 1024 bytes"
why untrusted "$B/jwks: SSL certificate problem: [^\"]+"
expect_no -t \
    "$(sign "$TR_TMP/local.key" - ES256 \
    "$(claims "$PB" ".iss = \"$B/wrongiss\"")")" \
    -e '^jwt: wrongiss: no signing keys' \
    "a token of the issuer whose discovery names another -> NO+err"
tr_stop
is "$?" 0 "that daemon exits 0 too"
done_testing
