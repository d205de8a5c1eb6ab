#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# A SQLite token database that cannot be written: on a small tmpfs
# mounted here (root only: the whole script is skipped when the mount
# fails), filled to the last block.  A review of a usage-limited token,
# which must write to be answered, says why it failed in status.error and
# in the log ("token database cannot write: disk full"), and the same
# token works again once there is room, without a restart.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout mount umount dd
tr_need_binaries
"$TOKENREVIEWCTL" -h | grep -q 'token create' ||
    tr_skip_all "tokenreviewctl built without the token database"
tr_tmpdir
MNT=$TR_TMP/fs
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=1m,mode=0700 tokenreviewd-test "$MNT" 2>/dev/null; then
	echo "1..0 # SKIP cannot mount a tmpfs here (needs root)"
	exit 0
fi
# The daemon must be gone before the file system can be unmounted.
full_cleanup()
{
	[ -n "${TR_PID:-}" ] && tr_stop "$TR_PID" 10
	umount "$MNT" 2>/dev/null || umount -l "$MNT"
	tr_cleanup
}
trap full_cleanup EXIT
tr_certs

tr_config full server.chain=tokendb tokendb.path="$MNT/tokens.db"
ONCE=$(tr_tokenctl create --user once --uses 1 2>/dev/null)
MANY=$(tr_tokenctl create --user many --uses 3 2>/dev/null)
tr_start full || bail "the daemon did not start"
TR_CODE= TR_BODY= TR_HDRS= TR_TIME=

# cannot DESC CAUSE TOKEN: the review fails with CAUSE in status.error
# and a tokendb_use log line names it.
cannot()
{
	local desc=$1 cause=$2 tok=$3
	expect_no -t "$tok" -e ": $cause\$" "$desc -> status.error \"...: $cause\""
	like "$(grep -F '"event":"tokendb_use"' "$TR_LOG" | tail -n 1)" \
	    "using a token: $cause \\(" "$desc -> tokendb_use log line says so"
}

tid "a full disk"
tr_review v1 "$MANY" >/dev/null
is "$(jq -r .status.user.username <<<"$TR_BODY")" many \
    "a usage-limited token works while there is room"
dd if=/dev/zero of="$MNT/fill" bs=4k >/dev/null 2>&1
is "$(df -P "$MNT" | awk 'NR == 2 { print $4 }')" 0 "the file system is full"
cannot "one-use token, disk full" "token database cannot write: disk full" \
    "$ONCE"
unlike "$TR_BODY" "token database busy" "... not \"token database busy\""
rm -f "$MNT/fill"
tr_review v1 "$ONCE" >/dev/null
is "$(jq -r .status.user.username <<<"$TR_BODY")" once \
    "with room again the one-use token works, no restart"

tr_stop "$TR_PID"
TR_PID=
done_testing
