#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# The Grafana dashboard of contrib/grafana queries only metrics the daemon
# exports: a daemon with every token source configured (static, the token
# database, an LDAP directory, a JWT issuer; the directory need not
# answer) is scraped, and every tokenreviewd_* name in the dashboard's
# queries must be a metric of its /metrics (with _bucket, _sum and _count
# of a histogram), named by a # TYPE line or a sample.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq
tr_need_binaries
for f in HAVE_LDAP HAVE_JWT HAVE_TOKENDB; do
	grep -q "define $f 1" "$top_builddir/config.h" 2>/dev/null ||
	    tr_skip_all "built without ${f#HAVE_}"
done
tr_tmpdir
tr_certs

DASH=$TR_SRCDIR/contrib/grafana/tokenreviewd.json

tid "dashboard"
ok "the dashboard is JSON" jq -e . "$DASH"
ok "every panel has queries" jq -e '[.panels[] | .targets | length > 0] |
    all' "$DASH"
ok "every query uses the datasource variable" jq -e '[.panels[] |
    .datasource.uid, (.targets[].datasource.uid)] |
    all(. == "${datasource}")' "$DASH"
used=$(jq -r '.. | objects | (.expr?, .definition?) // empty' "$DASH" |
    grep -oE 'tokenreviewd_[a-z0-9_]+' | sort -u)
for m in tokenreviewd_reviews_total tokenreviewd_review_duration_seconds_bucket \
    tokenreviewd_cache_hits_total tokenreviewd_reviews_limited_total \
    tokenreviewd_ldap_uri_connections tokenreviewd_ldap_failovers_total \
    tokenreviewd_jwt_jwks_last_success_age_seconds \
    tokenreviewd_tokendb_lookups_total; do
	like "$used" "^$m\$" "the dashboard shows $m"
done

tid "daemon"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TR_TMP/sa.key" 2>/dev/null &&
    openssl pkey -in "$TR_TMP/sa.key" -pubout -out "$TR_TMP/sa.pub" 2>/dev/null
tr_config all server.chain="static tokendb ldap jwt"
printf 'tok-%s,alice,1,\n' "$(openssl rand -hex 16)" >"$TR_DIR/tokens.csv"
cat >>"$TR_CONF" <<EOF
[tokendb]
path = $TR_DIR/tokens.db

[ldap "corp"]
uri = ldap://127.0.0.1:1
insecure = yes
mode = bind
user_base = ou=people,dc=example,dc=org

[jwt "other-cluster"]
type = serviceaccount
issuer = https://kubernetes.default.svc
audiences = https://kubernetes.default.svc
public_key_file = $TR_TMP/sa.pub
EOF
tr_start all
ok "the daemon starts with every source" [ -n "$TR_PORT" ]
tr_review v1 "$(cut -d, -f1 "$TR_DIR/tokens.csv")" >/dev/null
tr_metrics
exported=$(printf '%s\n' "$TR_METRICS" | awk '
    $1 == "#" && $2 == "TYPE" {
	print $3
	if ($4 == "histogram")
		print $3 "_bucket\n" $3 "_sum\n" $3 "_count"
	next
    }
    /^tokenreviewd_/ { sub(/[{ ].*/, ""); print }' | sort -u)
ok "it exports metrics" [ -n "$exported" ]

tid "every metric the dashboard queries"
for m in $used; do
	like "$exported" "^$m\$" "$m is exported"
done
tr_stop
is "$?" 0 "the daemon stops"

done_testing
