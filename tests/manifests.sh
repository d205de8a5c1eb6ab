#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# The Kubernetes manifests of contrib/kubernetes, checked by
# tests/check-manifests.py against the Secrets "tokenreviewctl init"
# writes; then broken on purpose, one reference at a time, in a copy, to
# show that the checker notices each.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need python3
python3 -c 'import yaml' 2>/dev/null || tr_skip_all "python3-yaml not installed"
tr_need_binaries
tr_tmpdir

CHECK=$TR_SRCDIR/tests/check-manifests.py
INIT=$TR_TMP/init

plan 22

out=$("$TOKENREVIEWCTL" init --ip 10.96.0.50 --name tokenreviewd.auth.svc \
    "$INIT" 2>&1)
is "$?" 0 "tokenreviewctl init writes the Secrets" "$out"
out=$(python3 "$CHECK" "$TR_SRCDIR" "$INIT/secrets.yaml" 2>&1)
rc=$?
is "$rc" 0 "the manifests, overlays and static pod pass"
[ "$rc" -eq 0 ] || diag "$out"

# breaks DESC ERE FILE SED-EXPR: the checker fails on a copy of the tree
# with FILE (under the copy) changed by SED-EXPR, naming ERE.
breaks()
{
	local desc=$1 ere=$2 file=$3 expr=$4 copy=$TR_TMP/copy out rc
	rm -rf "$copy"
	mkdir -p "$copy/contrib" "$copy/tests"
	cp -R "$TR_SRCDIR/contrib/kubernetes" "$TR_SRCDIR/contrib/container" \
	    "$TR_SRCDIR/contrib/webhook-kubeconfig.yaml" "$copy/contrib/"
	cp "$TR_SRCDIR/configure.ac" "$copy/"
	if ! sed -i -e "$expr" "$copy/$file" ||
	    cmp -s "$copy/$file" "$TR_SRCDIR/$file"; then
		fail "$desc" "the edit of $file changed nothing"
		return
	fi
	out=$(python3 "$CHECK" "$copy" "$INIT/secrets.yaml" 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && grep -Eq -- "$ere" <<<"$out"; then
		pass "$desc"
	else
		fail "$desc" "exit $rc, want 1 and /$ere/" "$out"
	fi
}

K=contrib/kubernetes
breaks "a Secret name the init does not make" \
    'Secret tokenreviewd-tsl is neither' \
    $K/deployment.yaml 's/name: tokenreviewd-tls/name: tokenreviewd-tsl/'
breaks "a Secret key that is not there" 'has no key tls.pem' \
    $K/deployment.yaml 's/- key: tls.key/- key: tls.pem/'
breaks "a config path that is not mounted" \
    'tls_cert = /etc/tokenreviewd/server.crt is not a mounted file' \
    $K/configmap.yaml 's|tls_cert = /etc/tokenreviewd/tls.crt|tls_cert = /etc/tokenreviewd/server.crt|'
breaks "a ConfigMap that does not exist" 'ConfigMap tokenreviewd-conf does' \
    $K/deployment.yaml '/configMap:/{n;s/name: tokenreviewd/name: tokenreviewd-conf/}'
breaks "a container port that is not the listen port" \
    'containerPort https 9443 is not' \
    $K/deployment.yaml 's/containerPort: 8443/containerPort: 9443/'
breaks "a probe on another port" 'readinessProbe port .metrics.' \
    $K/deployment.yaml '/readinessProbe/,/port:/s/port: health/port: metrics/'
breaks "a Service target that no container has" \
    "Service targetPort 'http' is no container port" \
    $K/service.yaml 's/targetPort: https/targetPort: http/'
breaks "a Service selector that matches no pod" \
    'Service selector app.kubernetes.io/name=tokenreview ' \
    $K/service.yaml '/selector:/{n;s/name: tokenreviewd/name: tokenreview/}'
breaks "a NetworkPolicy without the review port" \
    'does not restrict the review port 8443' \
    $K/networkpolicy.yaml 's/port: 8443/port: 443/'
breaks "another image than build.sh tags" \
    'image localhost/tokenreviewd:0.2.0 is not' \
    $K/deployment.yaml 's|image: localhost/tokenreviewd:0.1.0|image: localhost/tokenreviewd:0.2.0|'
breaks "another version in configure.ac" 'is not build.sh.s localhost/tokenreviewd:0.1.1' \
    configure.ac 's/\[tokenreviewd\], \[0.1.0\]/[tokenreviewd], [0.1.1]/'
breaks "a PodDisruptionBudget selecting nothing" \
    'PodDisruptionBudget selector' \
    $K/poddisruptionbudget.yaml 's/name: tokenreviewd$/name: other/;1,/matchLabels/!s/app.kubernetes.io\/name: tokenreviewd/app.kubernetes.io\/name: other/'
breaks "a document that does not parse" 'does not parse' \
    $K/service.yaml 's/^  ports:/  ports: [/'
breaks "a resource without its name" 'Namespace without metadata.name' \
    $K/namespace.yaml 's/^  name: auth/  nom: auth/'
breaks "a root file system that is writable" 'root not read-only' \
    $K/deployment.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/'
breaks "a kubeconfig dialing another port" 'kubeconfig server' \
    contrib/webhook-kubeconfig.yaml 's|10.96.0.50:8443|10.96.0.50:443|'
breaks "an overlay mounting a Secret nobody creates" \
    'Secret tokenreviewd-ldap-ca is neither' \
    $K/overlays/ldap/deployment.yaml 's/name: tokenreviewd-ldap/name: tokenreviewd-ldap-ca/'
breaks "an overlay env from a key the Secret lacks" \
    'Secret tokenreviewd-postgresql has no key pass' \
    $K/overlays/postgresql/deployment.yaml 's/key: password/key: pass/'
breaks "a Namespace unlike the one of init" 'Namespace differs' \
    $K/namespace.yaml 's/enforce: restricted/enforce: baseline/'
breaks "a static pod off the host network" 'not on the host network' \
    $K/static-pod/tokenreviewd.yaml 's/hostNetwork: true/hostNetwork: false/'

done_testing
