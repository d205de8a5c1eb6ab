#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# tokenreviewctl init: the files it writes, their modes, the certificate
# chain and names (checked with the openssl CLI), keys kept on a second
# run, refused arguments; and the output used as it is: the daemon started
# on the generated config answers a review sent with the CA, client
# certificate and key taken out of the generated webhook kubeconfig, to
# the server URL that kubeconfig names.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq base64 sha256sum
tr_need_binaries
tr_tmpdir

plan 44

ctl()
{
	"$TOKENREVIEWCTL" "$@"
}

# kc_field KEY: the value of KEY in the generated webhook kubeconfig.
kc_field()
{
	awk -v k="$1:" '$1 == k { print $2; exit }' "$D/webhook-kubeconfig.yaml"
}

# secret_field NAME: base64 value of the data key NAME in secrets.yaml.
secret_field()
{
	awk -v k="$1:" '$1 == k && NF == 2 { print $2; exit }' "$D/secrets.yaml"
}

not()
{
	! "$@"
}

mode_of()
{
	stat -c %a "$D/$1"
}

D=$TR_TMP/init
P=$(tr_free_port)
H=$(tr_free_port)
while [ "$H" = "$P" ]; do H=$(tr_free_port); done
FILES="ca.key ca.crt tls.key tls.crt apiserver.key apiserver.crt tokens.csv
fingerprint.key tokenreviewd.conf webhook-kubeconfig.yaml secrets.yaml"

tid "first run"
out=$( (umask 022; ctl init --name localhost --name tokenreviewd.auth.svc \
    --ip 127.0.0.1 --listen "127.0.0.1:$P" --health-listen "127.0.0.1:$H" \
    --config-dir "$D" "$D") 2>&1)
is "$?" 0 "init exits 0" "$out"
missing=
for f in $FILES; do
	[ -f "$D/$f" ] || missing="$missing $f"
done
is "$missing" "" "every file is written"
is "$(grep -c '^created ' <<<"$out")" 11 "each reported as created"

tid "modes"
bad=
for f in ca.key tls.key apiserver.key tokens.csv fingerprint.key \
    webhook-kubeconfig.yaml secrets.yaml; do
	[ "$(mode_of "$f")" = 600 ] || bad="$bad $f:$(mode_of "$f")"
done
is "$bad" "" "keys, tokens, kubeconfig and Secrets are 0600 under umask 022"
is "$(mode_of ca.crt) $(mode_of tls.crt) $(mode_of tokenreviewd.conf)" \
    "644 644 644" "certificates and config are 0644"
is "$(stat -c %a "$D")" 700 "the directory is 0700"

tid "certificates"
like "$(openssl pkey -in "$D/tls.key" -noout -text 2>/dev/null)" \
    'prime256v1|P-256' "serving key is EC P-256"
like "$(openssl pkey -in "$D/ca.key" -noout -text 2>/dev/null)" \
    'prime256v1|P-256' "CA key is EC P-256"
like "$(openssl pkey -in "$D/apiserver.key" -noout -text 2>/dev/null)" \
    'prime256v1|P-256' "client key is EC P-256"
ca=$(openssl x509 -in "$D/ca.crt" -noout -text)
like "$ca" 'CA:TRUE' "CA certificate is a CA"
like "$ca" 'Certificate Sign' "CA may sign certificates"
out=$(openssl verify -CAfile "$D/ca.crt" -purpose sslserver \
    -verify_hostname tokenreviewd.auth.svc "$D/tls.crt" 2>&1)
is "$?" 0 "serving certificate chains to the CA for tokenreviewd.auth.svc" \
    "$out"
out=$(openssl verify -CAfile "$D/ca.crt" -purpose sslserver \
    -verify_ip 127.0.0.1 "$D/tls.crt" 2>&1)
is "$?" 0 "and for IP 127.0.0.1" "$out"
ok "a name not given is not in it" not openssl verify -CAfile "$D/ca.crt" \
    -verify_hostname other.example.org "$D/tls.crt"
out=$(openssl verify -CAfile "$D/ca.crt" -purpose sslclient \
    "$D/apiserver.crt" 2>&1)
is "$?" 0 "client certificate chains to the CA as a client" "$out"
ok "the serving certificate is no client certificate" not openssl verify \
    -CAfile "$D/ca.crt" -purpose sslclient "$D/tls.crt"
like "$(openssl x509 -in "$D/apiserver.crt" -noout -subject)" \
    'CN *= *kube-apiserver' "client CN is in client_names"
like "$(cat "$D/tokenreviewd.conf")" 'client_names = kube-apiserver' \
    "config names that client"

tid "the generated files used as they are"
out=$(ctl -c "$D/tokenreviewd.conf" check-config 2>&1)
is "$?" 0 "check-config accepts the generated config" "$out"
server=$(kc_field server)
is "$server" "https://127.0.0.1:$P/tokenreview" \
    "kubeconfig names the first --ip and the listen port"
kc_field certificate-authority-data | base64 -d >"$TR_TMP/kc-ca.crt"
kc_field client-certificate-data | base64 -d >"$TR_TMP/kc-client.crt"
kc_field client-key-data | base64 -d >"$TR_TMP/kc-client.key"
ok "kubeconfig holds the CA" cmp -s "$TR_TMP/kc-ca.crt" "$D/ca.crt"
ok "kubeconfig holds the client key" cmp -s "$TR_TMP/kc-client.key" \
    "$D/apiserver.key"
LOG=$TR_TMP/daemon.log
TR_LOGS+=("$LOG")
"$TOKENREVIEWD" -c "$D/tokenreviewd.conf" 2>"$LOG" </dev/null &
PID=$!
TR_PIDS+=("$PID")
tr_wait_until 10 curl -fsS "http://127.0.0.1:$H/readyz"
is "$?" 0 "daemon ready on the generated health address"
token=$(cut -d, -f1 "$D/tokens.csv")
review=$(tr_review_body v1 "$token")
body=$(curl -sS --max-time 10 --cacert "$TR_TMP/kc-ca.crt" \
    --cert "$TR_TMP/kc-client.crt" --key "$TR_TMP/kc-client.key" \
    -H 'Content-Type: application/json' --data-binary "$review" "$server")
ok "the generated token is accepted through the kubeconfig's certificates" \
    tr_jq '.status.authenticated == true and
    .status.user.username == "tokenreviewd:check"' "$body"
body=$(curl -sS --max-time 10 --cacert "$TR_TMP/kc-ca.crt" \
    --cert "$TR_TMP/kc-client.crt" --key "$TR_TMP/kc-client.key" \
    -H 'Content-Type: application/json' \
    --data-binary "$(tr_review_body v1 not-a-token)" "$server")
ok "another token is not" tr_jq '.status.authenticated == false' "$body"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
    --cacert "$TR_TMP/kc-ca.crt" -H 'Content-Type: application/json' \
    --data-binary "$review" "$server")
ok "without the client certificate no review ($code)" [ "$code" != 200 ]
tr_stop "$PID"
is "$?" 0 "SIGTERM ends the daemon with 0"

tid "second run"
sums=$(cd "$D" && sha256sum $FILES)
out=$(ctl init --name localhost --name tokenreviewd.auth.svc --ip 127.0.0.1 \
    "$D" 2>&1)
is "$?" 0 "a second run exits 0" "$out"
is "$(cd "$D" && sha256sum $FILES)" "$sums" "and changes no file"
is "$(grep -c "^kept " <<<"$out")" 9 "each certificate and file reported as kept"
rm -f "$D/secrets.yaml"
out=$(ctl init --ip 127.0.0.1 "$D" 2>&1)
is "$?" 0 "a run after removing secrets.yaml exits 0" "$out"
is "$(secret_field tls.key | base64 -d | sha256sum)" \
    "$(sha256sum <"$D/tls.key")" "the new Secrets hold the kept key"
is "$(grep -c '^kind: Secret' "$D/secrets.yaml") \
$(grep -c '^kind: Namespace' "$D/secrets.yaml")" "3 1" \
    "secrets.yaml holds the Namespace and three Secrets"
out=$(ctl init --ip 10.96.0.50 "$D" 2>&1)
is "$?" 1 "a kept serving certificate lacking an --ip is an error"
like "$out" 'tls.crt does not name 10.96.0.50' "which names the address"
is "$(cd "$D" && sha256sum $FILES)" "$sums" "nothing replaced"
mv "$D/ca.key" "$TR_TMP/ca.key.away"
rm -f "$D/apiserver.crt"
out=$(ctl init --ip 127.0.0.1 "$D" 2>&1)
like "$out" 'ca.key is missing' "without the CA key no certificate is signed"

tid "sources"
ctl init --ip 10.96.0.50 --source tokendb "$TR_TMP/db" >/dev/null 2>&1
like "$(cat "$TR_TMP/db/tokenreviewd.conf")" \
    'chain = static tokendb' "--source tokendb adds it to the chain"
like "$(cat "$TR_TMP/db/tokenreviewd.conf")" '\[tokendb\]' \
    "with its section"
ctl init --ip 10.96.0.50 --source ldap "$TR_TMP/ldap" >/dev/null 2>&1
like "$(cat "$TR_TMP/ldap/tokenreviewd.conf")" '\[ldap "directory"\]' \
    "--source ldap writes an [ldap] section"

tid "refused arguments"
bad=
for a in "--ip 1.2.3" "--ip 300.1.1.1" "--name Bad_Name" "--name -x.org" \
    "--listen 1.2.3.4" "--listen 127.0.0.1:70000" "--source nis" \
    "--config-dir relative" "--client-name a,b\ c"; do
	# shellcheck disable=SC2086	# each argument pair splits in two
	ctl init --ip 127.0.0.1 $a "$TR_TMP/bad" >/dev/null 2>&1
	rc=$?
	[ "$rc" = 2 ] || bad="$bad [$a: $rc]"
done
is "$bad" "" "bad --ip, --name, --listen, --source, --config-dir refused"
ctl init "$TR_TMP/bad" >/dev/null 2>&1
is "$?" 2 "no --name and no --ip refused"
ok "a refused run creates nothing" [ ! -e "$TR_TMP/bad" ]

done_testing
