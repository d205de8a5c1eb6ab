#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Token fingerprints in the audit log are keyed: HMAC-SHA-256 under
# [log] fingerprint_key_file, else under a random key of the process.  A
# log reader cannot test token guesses (an LDAP bind-mode token is
# base64(user:password)) against a plain SHA-256; replicas that share the
# key file log the same fingerprint; bootstrap-shaped tokens are named by
# their public id; the key file must be private and long enough, and a
# new key is picked up by a reload.  tokenreviewctl review prints the same
# fingerprint as the daemon.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq sha256sum base64
tr_need_binaries
tr_tmpdir
tr_certs

UNKNOWN=u$(openssl rand -hex 16)
LDAPTOK=$(printf 'carol:pw-%s' "$(openssl rand -hex 12)" | base64 -w0)
BOOT_ID=$(openssl rand -hex 3)
BOOT_SECRET=$(openssl rand -hex 8)
BOOT=$BOOT_ID.$BOOT_SECRET

sha_prefix()
{
	printf '%s' "$1" | sha256sum | cut -c1-12
}

# The token_fp of the first audit line of $TR_LOG after line $1.
audit_fp()
{
	tail -n +"$(($1 + 1))" "$TR_LOG" |
	    jq -r 'select(.event == "review") | .token_fp' 2>/dev/null |
	    head -n 1
}

# review_fp NAME TOKEN: review TOKEN on the started daemon NAME and print
# the token_fp of the audit line it gets.
review_fp()
{
	local before
	tr_use "$1"
	before=$(wc -l <"$TR_LOG")
	tr_review v1 "$2" >/dev/null
	tr_wait_until 10 eval "[ -n \"\$(audit_fp $before)\" ]" >/dev/null
	audit_fp "$before"
}

# A daemon whose only token source is an LDAP directory nobody listens on:
# a bind-mode token is decoded and its user name logged, the bind fails.
ldap_daemon()
{
	local name=$1 port
	shift
	port=$(tr_free_port)
	tr_config "$name" "server.chain=static ldap" cache.ttl=0 \
	    cache.negative_ttl=0 "$@"
	tr_tokens 'tok1,alice,1'
	{
		cat "$TR_CONF"
		printf '[ldap "down"]\nuri = ldap://127.0.0.1:%s\n' "$port"
		printf 'user_base = ou=people,dc=example,dc=org\n'
		printf 'timeout = 2s\nconnect_timeout = 1s\n'
	} | tr_write "$TR_CONF.new"
	mv "$TR_CONF.new" "$TR_CONF"
}

have_ldap=1

# ---------------------------------------------------------------- keyed

tid "a key file: fingerprints are HMAC-SHA-256 under it"
cp "$TR_CERTS/fingerprint.key" "$TR_TMP/a.key"
ldap_daemon a "log.fingerprint_key_file=$TR_TMP/a.key"
if ! "$TOKENREVIEWD" -n -c "$TR_CONF" >/dev/null 2>&1; then
	# A build without LDAP: the same without the [ldap] section.
	have_ldap=0
	tr_config a "log.fingerprint_key_file=$TR_TMP/a.key"
	tr_tokens 'tok1,alice,1'
fi
tr_start a || bail "daemon a does not start"
fpa=$(review_fp a "$UNKNOWN")
is "$fpa" "$(tr_fp "$UNKNOWN" "$TR_TMP/a.key")" \
    "the audit line's token_fp is HMAC-SHA-256(key, token)"
isnt_sha=1
[ "$fpa" = "$(sha_prefix "$UNKNOWN")" ] && isnt_sha=0
is "$isnt_sha" 1 "... and not a prefix of the token's SHA-256"
fpt=$(review_fp a tok1)
is "$fpt" "$(tr_fp tok1 "$TR_TMP/a.key")" \
    "an accepted static token has the keyed fingerprint too"
grep -q '"event":"fingerprint_key".*random' "$TR_LOG"
is "$?" 1 "with a key file the log does not speak of a random key"

tid "bootstrap-shaped tokens are named by their public id"
fpb=$(review_fp a "$BOOT")
is "$fpb" "id:$BOOT_ID" "token_fp of $BOOT_ID.<secret> is id:$BOOT_ID"
ok "the secret half of a bootstrap token is in no log line" \
    eval "! grep -qF -- '$BOOT_SECRET' '$TR_LOG'"

tid "LDAP bind-mode tokens: no plain SHA-256 in the logs"
fpl=$(review_fp a "$LDAPTOK")
is "$fpl" "$(tr_fp "$LDAPTOK" "$TR_TMP/a.key")" \
    "the bind-mode token's audit line has the keyed fingerprint"
if [ "$have_ldap" = 1 ]; then
	ok "the LDAP source's error line names the token by the same \
fingerprint" grep -qF "\"backend_error\",\"msg\":\"backend ldap: down: \
directory unreachable (no server answered) (token $fpl)" "$TR_LOG"
else
	skip "the LDAP source's error line names the token by the same \
fingerprint" "no LDAP in this build"
fi

tid "two daemons with the same key file agree"
ldap_daemon b "log.fingerprint_key_file=$TR_TMP/a.key"
[ "$have_ldap" = 1 ] || tr_config b "log.fingerprint_key_file=$TR_TMP/a.key"
tr_tokens 'tok1,alice,1'
if tr_start b; then
	is "$(review_fp b "$UNKNOWN")" "$fpa" \
	    "daemon b logs the same fingerprint as daemon a"
	is "$(review_fp b "$LDAPTOK")" "$fpl" \
	    "... for the bind-mode token too"
else
	fail "daemon b starts"
fi

tid "tokenreviewctl review prints the daemon's fingerprint"
"$TOKENREVIEWCTL" -c "$TR_TMP/a/tokenreviewd.conf" review "$UNKNOWN" \
    >/dev/null 2>"$TR_TMP/ctl.err"
like "$(cat "$TR_TMP/ctl.err")" "^token $fpa: (not authenticated|error)" \
    "tokenreviewctl review names the token by the daemon's fingerprint"

# ---------------------------------------------------------------- random

tid "no key file: a random key per process, said once in the log"
for d in c d; do
	ldap_daemon "$d" log.fingerprint_key_file=
	[ "$have_ldap" = 1 ] || tr_config "$d" log.fingerprint_key_file=
	tr_tokens 'tok1,alice,1'
	tr_start "$d" || fail "daemon $d starts"
done
fpc=$(review_fp c "$UNKNOWN")
fpd=$(review_fp d "$UNKNOWN")
ok "daemons without a key file log different fingerprints ($fpc, $fpd)" \
    eval '[ -n "$fpc" ] && [ -n "$fpd" ] && [ "$fpc" != "$fpd" ]'
sha=$(sha_prefix "$UNKNOWN")
ok "... neither of them the token's SHA-256 prefix" \
    eval '[ "$fpc" != "$sha" ] && [ "$fpd" != "$sha" ]'

is "$(review_fp c "$UNKNOWN")" "$fpc" \
    "one daemon keeps its random key: same token, same fingerprint"
tr_use c
is "$(grep -c '"event":"fingerprint_key".*random key' "$TR_LOG")" 1 \
    "the start log says once that the key is random"
review_fp c "$LDAPTOK" >/dev/null

tid "no log holds a plain SHA-256 prefix of a token"
logs=("$TR_TMP"/{a,b,c,d}/log)
for t in "$UNKNOWN" "$LDAPTOK" tok1; do
	ok "no log line holds the SHA-256 prefix of a reviewed token" \
	    eval "! grep -qF -- '$(sha_prefix "$t")' ${logs[*]}"
done
ok "no log line holds the bind-mode token itself" \
    eval "! grep -qF -- '$LDAPTOK' ${logs[*]}"

# ---------------------------------------------------------------- reload

tid "a new key file is picked up by a reload"
tr_use a
openssl rand -hex 32 | tr_write "$TR_TMP/a.key"
expect_reload -l -w 10 "daemon a reloads"
is "$(review_fp a "$UNKNOWN")" "$(tr_fp "$UNKNOWN" "$TR_TMP/a.key")" \
    "after the reload the new key is used"

# ---------------------------------------------------------------- errors

tid "a key file others may read, or a short one, is a configuration error"
check_key_error()
{
	local desc=$1 re=$2 out rc
	tr_config bad "log.fingerprint_key_file=$TR_TMP/bad.key"
	tr_tokens 'tok1,alice,1'
	out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1)
	rc=$?
	like "$rc $out" "^1 .*$re" "$desc"
}
openssl rand -hex 32 >"$TR_TMP/bad.key"
chmod 644 "$TR_TMP/bad.key"
check_key_error "mode 644 is refused by tokenreviewd -n" "bad.key: mode 0644"
chmod 600 "$TR_TMP/bad.key"
openssl rand -hex 8 >"$TR_TMP/bad.key"
check_key_error "a key of 16 bytes is refused" "at least 32 bytes"
ok "the short key's bytes are not in the message" \
    eval "! '$TOKENREVIEWD' -n -c '$TR_CONF' 2>&1 | grep -qF \"\$(cat '$TR_TMP/bad.key')\""
rm -f "$TR_TMP/bad.key"
check_key_error "a missing key file is refused" "bad.key: No such file"
chmod 644 "$TR_TMP/a.key"
tr_use a
expect_reload -l -f -m 'mode 0644' -w 10 \
    "a reload with a key file others may read fails and keeps the old key"
chmod 600 "$TR_TMP/a.key"

for d in a b c d; do
	tr_use "$d"
	tr_stop
done
done_testing
