#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# contrib/kubectl-tokenreviewd-login, the kubectl exec credential plugin,
# run under dash on a pseudo-terminal of its own (tests/plugin-pty.py)
# against tokenreviewd's login listener ([login]) and a real slapd that
# checks the password, as kubectl would run it: it asks for the user name
# and the password (without echo, the terminal restored after, also on
# Ctrl-C), prints the ExecCredential with a token for the directory's
# user, keeps it in a 0600 file in a 0700 directory and reuses it without
# a prompt and without a login (the daemon's tokenreviewd_logins_total),
# also when date(1) parses no time (the arithmetic fallback); a token
# about to expire, or expired, means a new login; not interactive
# (KUBERNETES_EXEC_INFO) or without a terminal it never prompts; wrong
# passwords and unknown users get the 401 message and leave no cache;
# the per-address failure limit gets the 429 message with Retry-After.
# A curl first in PATH records its arguments and environment, and every
# process's command line and environment while the login is in flight,
# and finds the password in none of them.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout base64 python3 dash stat
[ -x /usr/sbin/slapd ] || tr_skip_all "slapd not installed"
[ -x /usr/sbin/slapadd ] || tr_skip_all "slapadd not installed"
tr_need_binaries
tr_tmpdir
tr_certs

PLUGIN=$TR_SRCDIR/contrib/kubectl-tokenreviewd-login
PTY=$TR_SRCDIR/tests/plugin-pty.py
REAL_CURL=$(command -v curl)

tid "the plugin"
ok "it is a POSIX sh script dash parses" dash -n "$PLUGIN"

# ---------------------------------------------------------------- slapd

. "$(dirname "$0")/slapd-lib.sh"
slapd_data
# pat's password holds what a curl config string must escape.
PAT_PW="p\"a\\t $(openssl rand -hex 6):x"
{
	ldif_user pat "Pat Plugin" "$PAT_PW" 1100
	ldif_group plugin-users "uid=pat,ou=people,$BASE"
} >>"$TR_TMP/data.ldif"
printf '%s\n' "$PAT_PW" | tr_write "$TR_TMP/pat.pw"
printf 'wrong-%s\n' "$(openssl rand -hex 6)" | tr_write "$TR_TMP/wrong.pw"
cat "$TR_TMP/pat.pw" "$TR_TMP/wrong.pw" | tr_write "$TR_TMP/secrets"

slapd_start s1
pass "slapd answers a StartTLS bind as the reader"
printf '%s\n' "$READER_PW" | tr_write "$TR_TMP/reader.pw"

# ---------------------------------------------------------------- daemon

LOGIN_PORT=$(tr_free_port)
LOGIN_URL=https://127.0.0.1:$LOGIN_PORT
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TR_TMP/login.key" 2>/dev/null || bail "openssl genpkey failed"

tr_config main server.chain="ldap jwt" static.file= cache.ttl=0 cache.negative_ttl=0
cat >>"$TR_CONF" <<EOF
[ldap "corp"]
uri = $s1_LDAP
ca = $TR_CERTS/ca.crt
bind_dn = cn=reader,$BASE
bind_password_file = $TR_TMP/reader.pw
mode = bind
user_base = ou=people,$BASE
user_filter = (&(objectClass=inetOrgPerson)(uid=%s))
uid_attribute = uidNumber
group_base = ou=groups,$BASE
group_filter = (&(objectClass=groupOfNames)(member=%s))
group_prefix = ldap:

[login]
listen = 127.0.0.1:$LOGIN_PORT
issuer = $LOGIN_URL
ldap = corp
signing_key = $TR_TMP/login.key
token_ttl = 1h
failure_burst = 4
EOF

tid "daemon with [login]"
ok "tokenreviewd -n accepts the config" "$TOKENREVIEWD" -c "$TR_CONF" -n
expect_start main "daemon starts"

login_up()
{
	[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert \
	    "$TR_CERTS/ca.crt" "$LOGIN_URL/login")" != 000 ]
}
if tr_wait_until 10 login_up; then
	pass "the login listener answers on $LOGIN_URL"
else
	fail "the login listener answers on $LOGIN_URL"
	done_testing
fi

# Logins the daemon has seen, whatever their outcome (tr_metrics keeps
# the last answer's variables, which no request has set yet).
logins()
{
	: "${TR_CODE=}" "${TR_BODY=}" "${TR_HDRS=}" "${TR_TIME=}"
	tr_metrics
	tr_metric tokenreviewd_logins_total
}

# ---------------------------------------------------------------- spy

# The curl the plugin finds first: it writes down its arguments, its
# environment and the processes whose command line or environment hold a
# password, then becomes the real curl (same arguments, same stdin).
mkdir -p "$TR_TMP/bin" "$TR_TMP/spy"
cat >"$TR_TMP/bin/curl" <<EOF
#!/bin/bash
spy=$TR_TMP/spy/\$\$
printf '%s\n' "\$@" >"\$spy.argv"
env >"\$spy.env"
grep -lsF -f "$TR_TMP/secrets" /proc/[0-9]*/cmdline /proc/[0-9]*/environ \\
    >"\$spy.hits"
exec "$REAL_CURL" "\$@"
EOF
chmod 755 "$TR_TMP/bin/curl"

# A date(1) that parses no time: neither GNU's -d nor BSD's -j -f.
mkdir -p "$TR_TMP/nodate"
cat >"$TR_TMP/nodate/date" <<EOF
#!/bin/bash
printf '%s\n' "\$*" >>"$TR_TMP/nodate/calls"
for a in "\$@"; do
	case \$a in -d | -j | -f | --date*) exit 1 ;; esac
done
exec $(command -v date) "\$@"
EOF
chmod 755 "$TR_TMP/nodate/date"

spied()
{
	find "$TR_TMP/spy" -name '*.argv' | wc -l | tr -d ' '
}

# ---------------------------------------------------------------- runs

export HOME=$TR_TMP/home
unset XDG_CACHE_HOME KUBERNETES_EXEC_INFO
mkdir -p "$HOME"
CACHE=$HOME/.cache/tokenreviewd
# run_plugin NAME [DRIVER-ARG...] -- [PLUGIN-ARG...]: the plugin under
# dash on a pty, driven by plugin-pty.py's steps, with the spying curl
# first in its PATH (only there: the test's own requests are not
# recorded).  Sets RP_REPORT (the
# driver's lines), RP_RC (the plugin's exit status, "timeout" or
# "signal=N"), RP_OUT, RP_ERR, RP_TTY (what the terminal showed, no CRs).
run_plugin()
{
	local f=$TR_TMP/run-$1
	local -a drv=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		drv+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	RP_REPORT=$(PATH=$TR_TMP/bin:$PATH python3 "$PTY" --out "$f.out" \
	    --err "$f.err" --transcript "$f.tty" --timeout 60 "${drv[@]}" -- \
	    dash "$PLUGIN" --server "$LOGIN_URL" --ca-file "$TR_CERTS/ca.crt" \
	    "$@")
	RP_RC=$(sed -n 's/^exit=//p; /^timeout$/p; /^signal=/p' <<<"$RP_REPORT")
	RP_OUT=$(cat "$f.out")
	RP_ERR=$(cat "$f.err")
	RP_TTY=$(tr -d '\r' <"$f.tty")
}

# report_is KEY VALUE: the driver's report has the line KEY=VALUE.
report_has()
{
	grep -qx -- "$1" <<<"$RP_REPORT"
}

# jwt_claims TOKEN: the JSON of the token's payload.
jwt_claims()
{
	local p
	p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
	while [ $((${#p} % 4)) -ne 0 ]; do
		p=$p=
	done
	base64 -d <<<"$p" 2>/dev/null
}

# json_holds JSON FILTER [JQ-ARG...]: JSON (which must be there and
# parse) passes the jq filter.
json_holds()
{
	local j=$1 f=$2
	shift 2
	jq -en --argjson it "$j" "$@" "\$it | $f" >/dev/null 2>&1
}

is_cred()
{
	json_holds "$1" '.kind == "ExecCredential" and
	    .apiVersion == "client.authentication.k8s.io/v1" and
	    (.status.token | type == "string" and length > 0) and
	    (.status.expirationTimestamp | type == "string" and
	    test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))'
}

# No recorded curl run, and no process while one ran, held a password.
no_secret_seen()
{
	local hits
	hits=$(cat "$TR_TMP"/spy/*.hits 2>/dev/null)
	[ -z "$hits" ] || { echo "processes: $hits"; return 1; }
	! grep -lsF -f "$TR_TMP/secrets" "$TR_TMP"/spy/*.argv \
	    "$TR_TMP"/spy/*.env
}

# ---------------------------------------------------------------- first login

tid "first run: no cached token, a login on the terminal"
n0=$(logins)
run_plugin first --answer 'User name for .*: ' pat \
    --answer-file 'Password for pat: ' "$TR_TMP/pat.pw" --
is "$RP_RC" 0 "the plugin exits 0"
like "$RP_TTY" '^User name for 127\.0\.0\.1:[0-9]+: pat' \
    "it asks for the user name on the terminal (echoed as typed)"
is "$(sed -n 2p <<<"$RP_REPORT")" "step 2 echo=off" \
    "the terminal does not echo while the password prompt waits"
if grep -qF -f "$TR_TMP/secrets" "$TR_TMP/run-first.tty"; then
	fail "the password never shows on the terminal" "$RP_TTY"
else
	pass "the password never shows on the terminal"
fi
ok "the terminal echoes again after the password" report_has echo_after=on
ok "stdout is an ExecCredential (client.authentication.k8s.io/v1) with a token" \
    is_cred "$RP_OUT"
TOKEN=$(jq -r .status.token <<<"$RP_OUT")
CLAIMS=$(jwt_claims "$TOKEN")
ok "the token is the daemon's JWT for pat with the directory's groups" \
    json_holds "$CLAIMS" '.sub == "pat" and .iss == $iss and
    (.groups | index("ldap:plugin-users") != null)' --arg iss "$LOGIN_URL"
is "$RP_ERR" "" "nothing on stderr"
is "$(logins)" "$((${n0%.*} + 1))" "the daemon saw one login"
is "$(spied)" 1 "curl ran once"
ok "curl read the password from its stdin: it is in no process's command line or environment (all of /proc while curl ran, curl's own argv and env)" \
    no_secret_seen
files=$(find "$CACHE" -type f 2>/dev/null)
is "$(wc -l <<<"$files" | tr -d ' ')" 1 "one cache file under \$HOME/.cache/tokenreviewd"
is "$(stat -c %a "$CACHE")" 700 "the cache directory is 0700"
is "$(stat -c %a "$files")" 600 "the cache file is 0600"
is "$(jq -c . "$files")" "$(jq -c . <<<"$RP_OUT")" \
    "it holds the ExecCredential printed"
CACHE_FILE=$files
FIRST_OUT=$RP_OUT

# ---------------------------------------------------------------- cached

tid "second run: the cached token, no prompt, no login"
n0=$(logins)
run_plugin second --
is "$RP_RC" 0 "the plugin exits 0"
is "$RP_OUT" "$FIRST_OUT" "it prints the same ExecCredential"
is "$RP_TTY" "" "nothing on the terminal: no prompt"
is "$(spied)" 1 "curl did not run"
is "$(logins)" "${n0%.*}" "the daemon saw no login"

tid "the cached token without a date(1) that parses times"
PATH=$TR_TMP/nodate:$PATH run_plugin nodate --
is "$RP_RC/$RP_OUT/$RP_TTY" "0/$FIRST_OUT/" \
    "the expiry computed by shell arithmetic: the cached token, no prompt"
like "$(cat "$TR_TMP/nodate/calls" 2>/dev/null)" '-d .*' \
    "... after date -d was tried and refused"

tid "not interactive, a cached token"
KUBERNETES_EXEC_INFO='{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}' \
    run_plugin nonint-cached --
is "$RP_RC/$RP_OUT/$RP_TTY" "0/$FIRST_OUT/" \
    "interactive false: the cached token, no prompt"

# set_expiry SECONDS: the cached token expires SECONDS from now.
set_expiry()
{
	local t
	t=$(date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ)
	jq -c --arg t "$t" '.status.expirationTimestamp = $t' \
	    "$CACHE_FILE" >"$CACHE_FILE.new" && mv "$CACHE_FILE.new" "$CACHE_FILE"
}

tid "not interactive, an expired cached token"
set_expiry -10
KUBERNETES_EXEC_INFO='{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}' \
    run_plugin nonint-expired --
isnt_zero=$([ "$RP_RC" != 0 ] && [ -n "$RP_RC" ] && echo yes)
is "$isnt_zero" yes "the plugin fails (exit $RP_RC)"
is "$RP_TTY$RP_OUT" "" "without a prompt and without output"
like "$RP_ERR" 'no valid token cached.*no terminal' "and says why on stderr"
is "$(spied)" 1 "curl did not run"

# ---------------------------------------------------------------- expiry

tid "a cached token 30 s from its expiry: a new login"
set_expiry 30
n0=$(logins)
run_plugin renew --answer 'User name for .*: ' pat \
    --answer-file 'Password for pat: ' "$TR_TMP/pat.pw" --
is "$RP_RC" 0 "the plugin exits 0"
like "$(tr '\n' ' ' <<<"$RP_TTY")" 'User name.*Password for pat' \
    "it asks again (60 s margin before expirationTimestamp)"
ok "a new ExecCredential" is_cred "$RP_OUT"
RENEWED=$(jq -r .status.token <<<"$RP_OUT")
isnt_same=$([ "$RENEWED" != "$TOKEN" ] && echo yes)
is "$isnt_same" yes "with a new token"
is "$(logins)" "$((${n0%.*} + 1))" "the daemon saw one more login"
is "$(jq -r .status.token "$CACHE_FILE")/$(stat -c %a "$CACHE_FILE")" \
    "$RENEWED/600" "the cache file now holds it, still 0600"
ls_tmp=$(find "$CACHE" -type f ! -name "$(basename "$CACHE_FILE")")
is "$ls_tmp" "" "no temporary file left beside it"

# ---------------------------------------------------------------- no prompt

tid "not interactive, nothing cached"
XDG_CACHE_HOME=$TR_TMP/xdg-nonint \
    KUBERNETES_EXEC_INFO='{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}' \
    run_plugin nonint-empty --
isnt_zero=$([ "$RP_RC" != 0 ] && [ -n "$RP_RC" ] && echo yes)
is "$isnt_zero" yes "the plugin fails (exit $RP_RC)"
is "$RP_TTY$RP_OUT" "" "without a prompt, although a terminal is there"
like "$RP_ERR" '^kubectl-tokenreviewd-login: no valid token cached' \
    "with a message on stderr"

tid "no terminal at all"
rc=0
out=$(XDG_CACHE_HOME=$TR_TMP/xdg-notty timeout 20 \
    setsid -w dash "$PLUGIN" --server "$LOGIN_URL" \
    --ca-file "$TR_CERTS/ca.crt" </dev/null 2>"$TR_TMP/notty.err") || rc=$?
is "$rc/$out" "1/" "the plugin fails at once without output"
like "$(cat "$TR_TMP/notty.err")" 'no terminal' "and says there is no terminal"

# ---------------------------------------------------------------- failures

tid "Ctrl-C at the password prompt"
run_plugin intr --interrupt 'Password for pat: ' -- --user pat \
    --cache-dir "$TR_TMP/cache-intr"
is "$RP_RC" 130 "the plugin ends with 130"
is "$(sed -n 1p <<<"$RP_REPORT")" "step 1 echo=off" \
    "--user pat: only the password is asked, without echo"
ok "the terminal echoes again" report_has echo_after=on
is "$(spied)" 2 "curl did not run"
is "$(find "$TR_TMP/cache-intr" -type f 2>/dev/null)" "" "no cache file"

tid "a wrong password"
n0=$(logins)
XDG_CACHE_HOME=$TR_TMP/xdg-wrong run_plugin wrong \
    --answer-file 'Password for pat: ' "$TR_TMP/wrong.pw" -- --user pat
is "$RP_RC" 1 "the plugin exits 1"
is "$RP_ERR" "kubectl-tokenreviewd-login: wrong user name or password" \
    "the 401 message on stderr"
is "$RP_OUT" "" "nothing on stdout"
is "$(find "$TR_TMP/xdg-wrong" -type f 2>/dev/null)" "" \
    "no cache file (nor a temporary one)"
is "$(logins)" "$((${n0%.*} + 1))" "the daemon saw the failed login"

tid "an unknown user"
XDG_CACHE_HOME=$TR_TMP/xdg-wrong run_plugin unknown \
    --answer 'User name for .*: ' "nobody$RANDOM" \
    --answer-file 'Password for nobody[0-9]*: ' "$TR_TMP/pat.pw" --
is "$RP_RC/$RP_ERR" "1/kubectl-tokenreviewd-login: wrong user name or password" \
    "the same 401 message"
is "$(find "$TR_TMP/xdg-wrong" -type f 2>/dev/null)" "" "no cache file"
ok "no password in any process's command line or environment" no_secret_seen

tid "too many failed logins from one address"
got=
for i in 1 2 3 4 5 6 7 8; do
	XDG_CACHE_HOME=$TR_TMP/xdg-wrong run_plugin limit$i \
	    --answer-file 'Password for pat: ' "$TR_TMP/wrong.pw" -- --user pat
	case $RP_ERR in
	*"too many failed logins"*) got=$RP_ERR; break ;;
	esac
done
like "$got" '^kubectl-tokenreviewd-login: too many failed logins: try again in [0-9]+ seconds$' \
    "429: the message with Retry-After (on try $i here, failure_burst 4)"

tid "logout"
dash "$PLUGIN" --server "$LOGIN_URL" --logout
ok "--logout removes the cached token" test ! -e "$CACHE_FILE"

done_testing
