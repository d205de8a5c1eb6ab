#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# The container image, built from this tree by contrib/container/build.sh
# (the podman store is kept in $TR_CONTAINER_STORAGE, default the build
# directory's container/, so a second run reuses every layer), and run as
# the manifests run it: uid 65532, read-only root, every capability
# dropped, no new privileges, the files of tokenreviewctl init mounted
# read-only at /etc/tokenreviewd as root:65532 0440 (as a Secret with
# fsGroup).  A token is reviewed over mTLS with the client certificate of
# the generated webhook kubeconfig, /readyz answers on the health port,
# and SIGTERM ends the container with status 0 and its "stopped" line.
# Skipped without podman or root, and when TR_CONTAINER=skip.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

if [ "${TR_CONTAINER:-}" = skip ]; then
	echo "1..0 # SKIP TR_CONTAINER=skip"
	exit 0
fi
[ "$(id -u)" = 0 ] || tr_skip_all "podman builds here need root"
tr_need podman curl jq base64 tar
tr_need_binaries
tr_tmpdir

not()
{
	! "$@"
}

CT_ID=
ct_cleanup()
{
	if [ -n "$CT_ID" ]; then
		podman rm -f -t 2 "$CT_ID" >/dev/null 2>&1
		CT_ID=
	fi
}
trap 'ct_cleanup; tr_cleanup' EXIT

. "$TR_SRCDIR/contrib/container/env.sh"
STORE=${TR_CONTAINER_STORAGE:-$top_builddir/container}
VERSION=$(tr_container_version "$TR_SRCDIR")
IMAGE=localhost/tokenreviewd:$VERSION
ARCHIVE=$TR_TMP/tokenreviewd.oci.tar

plan 16

tid "build"
t0=$(tr_now)
sh "$TR_SRCDIR/contrib/container/build.sh" -s "$STORE" -o "$ARCHIVE" \
    >"$TR_TMP/build.log" 2>&1
rc=$?
is "$rc" 0 "build.sh builds $IMAGE ($(tr_elapsed "$t0") s)"
if [ "$rc" -ne 0 ]; then
	diag "$(tail -n 30 "$TR_TMP/build.log")"
	bail "no image"
fi
tr_container_env "$STORE"
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
diag "image size $((size / 1000000)) MB, OCI archive $(du -k "$ARCHIVE" |
    cut -f1) kB"
ok "the OCI archive has an index" tar -xOf "$ARCHIVE" index.json
is "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" \
    65532:65532 "the image runs as 65532"
ok "there is no shell in the image" not podman run --rm --network host \
    --entrypoint /bin/sh "$IMAGE" -c true

tid "run"
D=$TR_TMP/etc
P=$(tr_free_port)
H=$(tr_free_port)
while [ "$H" = "$P" ]; do H=$(tr_free_port); done
out=$("$TOKENREVIEWCTL" init --ip 127.0.0.1 --listen "127.0.0.1:$P" \
    --health-listen "127.0.0.1:$H" "$D" 2>&1)
is "$?" 0 "tokenreviewctl init" "$out"
rm -f "$D/ca.key"
chgrp -R 65532 "$D"
chmod 0440 "$D"/*
chmod 0750 "$D"
CT_ID=$(podman run -d --network host --user 65532:65532 --read-only \
    --read-only-tmpfs=false --cap-drop ALL \
    --security-opt no-new-privileges \
    -v "$D:/etc/tokenreviewd:ro" "$IMAGE" 2>"$TR_TMP/run.err")
ok "the container starts" [ -n "$CT_ID" ]
[ -n "$CT_ID" ] || diag "$(cat "$TR_TMP/run.err")"
tr_wait_until 20 curl -fsS "http://127.0.0.1:$H/readyz"
is "$?" 0 "/readyz answers 200 on the health port"
pid=$(podman inspect --format '{{.State.Pid}}' "$CT_ID" 2>/dev/null)
is "$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" 65532 \
    "the daemon runs as uid 65532"
is "$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" \
    0000000000000000 "with no capabilities"
is "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$CT_ID")" \
    true "on a read-only root"

kc()
{
	awk -v k="$1:" '$1 == k { print $2; exit }' \
	    "$D/webhook-kubeconfig.yaml" | base64 -d
}
kc certificate-authority-data >"$TR_TMP/ca.crt"
kc client-certificate-data >"$TR_TMP/client.crt"
kc client-key-data >"$TR_TMP/client.key"
server=$(awk '$1 == "server:" { print $2; exit }' "$D/webhook-kubeconfig.yaml")
review()
{
	curl -sS --max-time 10 --cacert "$TR_TMP/ca.crt" \
	    --cert "$TR_TMP/client.crt" --key "$TR_TMP/client.key" \
	    -H 'Content-Type: application/json' \
	    --data-binary "$(tr_review_body v1 "$1")" "$server"
}
token=$(cut -d, -f1 "$D/tokens.csv")
ok "a token is reviewed over mTLS" tr_jq '.status.authenticated == true and
    .status.user.username == "tokenreviewd:check"' "$(review "$token")"
ok "an unknown one is not authenticated" \
    tr_jq '.status.authenticated == false' "$(review nope)"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
    "http://127.0.0.1:$H/metrics")
is "$code" 200 "/metrics on the health port"
diag "daemon resident memory: $(awk '/^VmRSS:/ { print $2, $3 }' \
    "/proc/$pid/status" 2>/dev/null)"

tid "stop"
podman kill --signal TERM "$CT_ID" >/dev/null 2>&1
rc=$(timeout 30 podman wait "$CT_ID" 2>/dev/null)
is "$rc" 0 "SIGTERM ends the container with status 0"
logs=$(podman logs "$CT_ID" 2>&1)
like "$logs" '"event":"stopped"' "after its stopped line"
unlike "$logs" "$token" "the log holds no token"
ct_cleanup

done_testing
