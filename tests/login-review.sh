#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Reviews of the tokens of the login flow against a real slapd: the JWT
# source's built-in issuer of [login], with the tokens signed here by the
# [login] signing key (node's crypto, through tests/oidc-issuer.mjs, and a
# kid computed as RFC 7638 says), as POST /login would sign them.  With
# recheck, the user is looked up again in the directory: a group removed
# there (ldapmodify) shows in the next uncached review, a deleted user
# and a user locked by ppolicy (pwdAccountLockedTime, set at start and
# set while the daemon runs) are refused; with recheck = no the token's
# own groups are the answer.  A token signed by one of previous_keys is
# accepted, one by an unknown key, of another issuer or audience, or
# expired is not.  [ldap] reviews = no refuses a password (bind mode)
# while rechecks still ask that directory.  A [server] chain without jwt
# or ldap is an error naming [login], and [login] alone loads the jwt
# source in the default chain.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout node base64 ldapmodify ldapdelete
[ -x /usr/sbin/slapd ] || tr_skip_all "slapd not installed"
[ -x /usr/sbin/slapadd ] || tr_skip_all "slapadd not installed"
tr_need_binaries
tr_tmpdir
tr_certs

. "$(dirname "$0")/slapd-lib.sh"
slapd_data

SIGN_JS=$TR_SRCDIR/tests/oidc-issuer.mjs
ISSUER=https://tokenreviewd.example.test
ROOT_PW=a$(openssl rand -hex 12)

# The directory, with an administrator who may change it while the
# daemon runs (slapd_start makes no such account).
slapd_conf "$TR_TMP/ls"
printf 'rootpw %s\n' "$ROOT_PW" >>"$TR_TMP/ls/slapd.conf"
"$SLAPADD" -q -f "$TR_TMP/ls/slapd.conf" -l "$TR_TMP/data.ldif" \
    >"$TR_TMP/ls/slapadd.log" 2>&1 ||
    bail "slapadd failed: $(tail -n 5 "$TR_TMP/ls/slapadd.log")"
tid "slapd"
slapd_start ls
pass "slapd answers a StartTLS bind as the reader"
printf '%s\n' "$READER_PW" | tr_write "$TR_TMP/reader.pw"

# ldap_admin TOOL ARG...: ldapmodify or ldapdelete as the administrator.
ldap_admin()
{
	local tool=$1
	shift
	LDAPTLS_CACERT=$TR_CERTS/ca.crt "$tool" -x -ZZ -H "$ls_LDAP" \
	    -D "cn=admin,$BASE" -w "$ROOT_PW" "$@" >>"$TR_TMP/ldapmodify.log" 2>&1
}

# ---------------------------------------------------------------- keys

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TR_TMP/login.key" 2>/dev/null &&
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TR_TMP/old.key" 2>/dev/null &&
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TR_TMP/stranger.key" 2>/dev/null || bail "openssl genpkey failed"
chmod 600 "$TR_TMP"/*.key

# kid KEYFILE: the RFC 7638 thumbprint of an EC key, base64url.
kid()
{
	node -e '
const c = require("crypto");
const j = c.createPublicKey(require("fs").readFileSync(process.argv[1]))
    .export({ format: "jwk" });
const t = JSON.stringify({ crv: j.crv, kty: j.kty, x: j.x, y: j.y });
process.stdout.write(c.createHash("sha256").update(t).digest("base64url"));
' "$1"
}

# mint KEYFILE SUB GROUPS-JSON [JQ-EDIT [KID]]: a token as /login signs it
# (ES256), for SUB with GROUPS, living an hour; JQ-EDIT changes its claims.
mint()
{
	local key=$1 sub=$2 groups=$3 edit=${4:-.} k=${5:-} now claims
	[ -n "$k" ] || k=$(kid "$key")
	now=$(date +%s)
	claims=$(jq -nc --arg iss "$ISSUER" --arg sub "$sub" \
	    --argjson g "$groups" --argjson now "$now" \
	    --arg jti "$(openssl rand -base64 16 | tr '+/' '-_' | tr -d '=')" \
	    '{iss: $iss, aud: "kubernetes", sub: $sub, groups: $g, iat: $now,
	    nbf: $now, exp: ($now + 3600), jti: $jti}' | jq -c "$edit")
	node "$SIGN_JS" sign "$key" x ES256 "$claims" "$k"
}

# ---------------------------------------------------------------- config

LOGIN_PORT=$(tr_free_port)
corp=(uri="$ls_LDAP" ca="$TR_CERTS/ca.crt"
    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw"
    mode=bind user_base="ou=people,$BASE"
    user_filter="(&(objectClass=inetOrgPerson)(uid=%s))"
    uid_attribute=uidNumber group_base="ou=groups,$BASE"
    group_filter="(&(objectClass=groupOfNames)(member=%s))"
    group_prefix=ldap: nested_depth=5 timeout=10s connect_timeout=2s)

# config NAME [LDAP-KEY=VALUE|login.KEY=VALUE|server.KEY=VALUE]...: a
# daemon with [ldap "corp"] and [login], no static tokens, no cache.
config()
{
	local name=$1 a
	local -a l=() s=() d=("${corp[@]}")
	shift
	for a in "$@"; do
		case $a in
		login.*) l+=("${a#login.}") ;;
		server.* | cache.*) s+=("$a") ;;
		*) d+=("$a") ;;
		esac
	done
	tr_config "$name" server.chain= static.file= cache.ttl=0 \
	    cache.negative_ttl=0 "${s[@]}"
	{
		# No static tokens: without a chain, [static] would be in it.
		sed '/^\[static\]$/d' "$TR_CONF"
		printf '[ldap "corp"]\n'
		for a in "${d[@]}"; do
			printf '%s = %s\n' "${a%%=*}" "${a#*=}"
		done
		printf '\n[login]\nlisten = 127.0.0.1:%s\nissuer = %s\n' \
		    "$LOGIN_PORT" "$ISSUER"
		printf 'ldap = corp\nsigning_key = %s\n' "$TR_TMP/login.key"
		printf 'previous_keys = %s\ntoken_ttl = 1h\n' "$TR_TMP/old.key"
		for a in "${l[@]}"; do
			printf '%s = %s\n' "${a%%=*}" "${a#*=}"
		done
	} | tr_write "$TR_CONF.new"
	mv "$TR_CONF.new" "$TR_CONF"
}

# check_fails NAME ERE DESC: tokenreviewd -n refuses NAME's config with
# a message that matches ERE.
check_fails()
{
	local out
	out=$("$TOKENREVIEWD" -c "$TR_TMP/$1/tokenreviewd.conf" -n 2>&1)
	if [ $? -ne 0 ] && grep -Eq "$2" <<<"$out"; then
		pass "$3"
	else
		fail "$3" "got: $out"
	fi
}

tid "configuration"
config conf
ok "[login] with no [jwt] section and no chain: -n accepts it" \
    "$TOKENREVIEWD" -c "$TR_CONF" -n
config nojwt server.chain=ldap
check_fails nojwt ':[0-9]+: \[login\]: needs "jwt" in \[server\] chain' \
    "a chain without jwt while [login] exists -> an error naming [login]"
config noldap server.chain=jwt
check_fails noldap ':[0-9]+: \[login\]: needs "ldap" in \[server\] chain' \
    "a chain without ldap while [login] exists -> an error naming [login]"
config both server.chain="ldap jwt"
ok "... and one with both is accepted" "$TOKENREVIEWD" -c "$TR_CONF" -n
config badrecheck login.recheck=maybe
check_fails badrecheck '\[login\] recheck' "recheck must be yes or no"

# ---------------------------------------------------------------- recheck

ALICE_GROUPS='["ldap:all","ldap:cyc-a","ldap:cyc-b","ldap:dev","ldap:ops"]'

tid "recheck = yes (the default)"
config recheck
expect_start recheck "daemon with [login] and no [jwt] section starts"
expect_user -t "$(mint "$TR_TMP/login.key" alice '["from-login"]')" \
    -n alice -u 1001 -f "(.groups | sort) == $ALICE_GROUPS" \
    -f '.extra["authentication.kubernetes.io/credential-id"][0] | startswith("JTI=")' \
    "alice's token -> OK with the directory's groups and uid, not the token's"
expect_user -t "$(b64 "alice:$ALICE_PW")" -n alice \
    "alice's password (bind mode, reviews = yes) -> OK"
ALICE_TOK=$(mint "$TR_TMP/login.key" alice '["from-login"]')
ldap_admin ldapmodify <<EOF
dn: cn=dev,ou=groups,$BASE
changetype: modify
delete: member
member: uid=alice,ou=people,$BASE
EOF
ok "slapd: alice removed from cn=dev" test $? -eq 0
expect_user -t "$ALICE_TOK" -n alice \
    -f '(.groups | sort) == ["ldap:cyc-a","ldap:cyc-b"]' \
    "the same token, next review -> the group removed in the directory is gone (and the nested ones)"

expect_user -t "$(mint "$TR_TMP/login.key" paula '[]')" -n paula \
    "paula's token -> OK"
PAULA_TOK=$(mint "$TR_TMP/login.key" paula '[]')
ldap_admin ldapmodify <<EOF
dn: uid=paula,ou=people,$BASE
changetype: modify
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z
EOF
ok "slapd: paula locked (pwdAccountLockedTime)" test $? -eq 0
expect_no -t "$PAULA_TOK" -e 'login: the user is no longer in the directory, or is locked' \
    "paula's token, now locked -> NO with the reason"
expect_no -t "$(mint "$TR_TMP/login.key" carol '[]')" \
    -e 'no longer in the directory, or is locked' \
    "carol (locked from the start) -> NO with the reason"

expect_user -t "$(mint "$TR_TMP/login.key" mallory '[]')" -n mallory \
    "mallory's token -> OK"
MALLORY_TOK=$(mint "$TR_TMP/login.key" mallory '[]')
ldap_admin ldapdelete "uid=mallory,ou=people,$BASE"
ok "slapd: mallory deleted" test $? -eq 0
expect_no -t "$MALLORY_TOK" -e 'no longer in the directory' \
    "mallory's token, now deleted -> NO with the reason"
expect_no -t "$(mint "$TR_TMP/login.key" nobody '["dev"]')" \
    -e 'no longer in the directory' "a user the directory never had -> NO"
expect_no -t "$(mint "$TR_TMP/login.key" 'alice)(uid=*' '[]')" \
    -e 'no longer in the directory' "a name with filter syntax -> NO"
expect_no -t "$(mint "$TR_TMP/login.key" ALICE '[]')" \
    -e 'no longer in the directory' \
    "ALICE: the directory's entry answers another name (alice) -> NO"

tid "keys and claims"
expect_user -t "$(mint "$TR_TMP/old.key" alice '[]')" -n alice \
    "a token signed by a key of previous_keys -> OK"
expect_no -t "$(mint "$TR_TMP/stranger.key" alice '[]')" \
    -e 'unknown key id' "a token signed by an unknown key -> NO with an error"
expect_no -t "$(mint "$TR_TMP/stranger.key" alice '[]' . "$(kid "$TR_TMP/login.key")")" \
    -e 'signature' "an unknown key under the signing key's kid -> NO with an error"
expect_no -t "$(mint "$TR_TMP/login.key" alice '[]' '.iss = "https://other.example.test"')" \
    "a token of another issuer -> NO (not ours)"
expect_no -t "$(mint "$TR_TMP/login.key" alice '[]' '.aud = "other"')" \
    -e "audience not accepted" "a token for another audience -> NO with an error"
expect_no -t "$(mint "$TR_TMP/login.key" alice '[]' '.exp = .iat - 600 | .iat -= 4200 | .nbf = .iat')" \
    -e 'expired' "an expired token -> NO with an error"
expect_no -t "$(mint "$TR_TMP/login.key" alice '[]' 'del(.sub)')" \
    -e 'username claim' "a token without sub -> NO with an error"
tr_stop

tid "recheck = no"
config norecheck login.recheck=no
expect_start norecheck "daemon with recheck = no starts"
expect_user -t "$(mint "$TR_TMP/login.key" alice '["from-login","second"]' \
    '.uid = "u-1" | .extra = {"example.org/mail": ["a@x"]}')" \
    -n alice -u u-1 -g '["from-login","second"]' \
    -f '.extra["example.org/mail"] == ["a@x"]' \
    "alice's token -> OK with the token's own groups, uid and extra"
expect_user -t "$MALLORY_TOK" -n mallory \
    "a deleted user's token -> still OK until it expires (nothing asked)"
tr_stop

tid "[ldap] reviews = no"
config noreviews reviews=no
expect_start noreviews "daemon with reviews = no starts"
expect_no -t "$(b64 "alice:$ALICE_PW")" \
    "alice's right password (bind mode) -> NO: the directory answers no token"
expect_user -t "$(mint "$TR_TMP/login.key" "$JUERGEN" '[]')" -n "$JUERGEN" \
    -f '(.groups | sort) == ["ldap:all","ldap:dev","ldap:ops"]' \
    "juergen's login token -> OK: rechecked in the same directory"
tr_stop

done_testing
