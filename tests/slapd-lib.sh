# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# slapd for the LDAP tests and the LDAP benchmark, sourced after
# tests/lib.sh (it needs TR_TMP and TR_CERTS): a slapd.conf per server
# from the Debian schema files plus a token-hash attribute, test data
# (slapd_data), and servers started as children on free loopback ports
# with ldap://, ldaps:// and ldapi:// listeners (slapd_start, slapd_stop).
# Passwords and tokens are random per run.  The reader gets at most
# SLAPD_SIZELIMIT entries from a search that is not paged, so that only a
# paged search finds all the PAGED_GROUPS groups of the user paula.
# The directory's administrators also made groups in Kubernetes' system:
# namespace (system:masters, system:authenticated, system:unauthenticated)
# with mallory in them, and a user whose cn is system:admin.

SLAPD=/usr/sbin/slapd
SLAPADD=/usr/sbin/slapadd
BASE=dc=example,dc=org
READER_PW=r$(openssl rand -hex 12)
ALICE_PW='al1ce pass:word'
JUERGEN_PW=j$(openssl rand -hex 8)
ATTR_TOKEN=t$(openssl rand -hex 20)
DUP_TOKEN=d$(openssl rand -hex 20)
PAULA_PW=p$(openssl rand -hex 8)
LOCKME_PW=l$(openssl rand -hex 8)
MALLORY_PW=m$(openssl rand -hex 8)
MALLORY_TOKEN=mt$(openssl rand -hex 20)
SYSADM_PW=s$(openssl rand -hex 8)
SYSADM_TOKEN=st$(openssl rand -hex 20)
PAGED_GROUPS=60
SLAPD_SIZELIMIT=20

b64()
{
	printf '%s' "$1" | base64 -w0
}

hash_hex()
{
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------------------- slapd

tr_server_cert "$TR_CERTS" ldap

# The schema for the token hash of attribute mode.
cat >"$TR_TMP/kube.schema" <<'EOS'
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'kubeTokenHash'
	EQUALITY caseIgnoreMatch
	SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'kubeTokenHolder'
	SUP top AUXILIARY MAY kubeTokenHash )
EOS

# slapd_conf DIR: a slapd.conf for one server whose data lives in DIR.
slapd_conf()
{
	local d=$1
	mkdir -p "$d/db"
	cat >"$d/slapd.conf" <<EOS
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include $TR_TMP/kube.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
moduleload memberof
pidfile $d/slapd.pid
TLSCACertificateFile $TR_CERTS/ca.crt
TLSCertificateFile $TR_CERTS/ldap.crt
TLSCertificateKeyFile $TR_CERTS/ldap.key
database mdb
maxsize 67108864
suffix "$BASE"
rootdn "cn=admin,$BASE"
directory $d/db
index objectClass,uid,memberUid,member,kubeTokenHash eq
overlay ppolicy
overlay memberof
ppolicy_default "cn=default,ou=policies,$BASE"
limits dn.exact="cn=reader,$BASE" size.soft=$SLAPD_SIZELIMIT size.hard=$SLAPD_SIZELIMIT size.prtotal=unlimited
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
EOS
}

ldif_user()
{
	local uid=$1 cn=$2 pw=$3 num=$4
	shift 4
	printf 'dn: uid=%s,ou=people,%s\n' "$uid" "$BASE"
	printf 'objectClass: inetOrgPerson\nobjectClass: posixAccount\n'
	printf 'objectClass: kubeTokenHolder\n'
	printf 'uid: %s\ncn: %s\nsn: %s\n' "$uid" "$cn" "$uid"
	printf 'uidNumber: %s\ngidNumber: 5000\nhomeDirectory: /home/%s\n' \
	    "$num" "$uid"
	printf 'userPassword: %s\n' "$pw"
	printf '%s\n' "$@"
	echo
}

ldif_group()
{
	local cn=$1 m
	shift
	printf 'dn: cn=%s,ou=groups,%s\nobjectClass: groupOfNames\ncn: %s\n' \
	    "$cn" "$BASE" "$cn"
	for m in "$@"; do
		printf 'member: %s\n' "$m"
	done
	echo
}

# Non-ASCII values go base64-encoded in LDIF.
JUERGEN=$(printf 'j\xc3\xbcrgen')

# bench_tokens N: $TR_TMP/bench-tokens.txt, the attribute-mode token of
# each of the N bench users (line i+1 for bench<i>), and their SHA-256 in
# $TR_TMP/bench-hashes.txt.  One sha256sum over a file per token, rather
# than a process per token.
bench_tokens()
{
	local n=$1 i salt d=$TR_TMP/bench-tok
	salt=$(openssl rand -hex 16)
	mkdir -p "$d"
	: >"$TR_TMP/bench-tokens.txt"
	i=0
	while [ "$i" -lt "$n" ]; do
		printf 'bt%s-%s' "$i" "$salt" >"$d/$i"
		printf 'bt%s-%s\n' "$i" "$salt" >>"$TR_TMP/bench-tokens.txt"
		i=$((i + 1))
	done
	(cd "$d" && seq 0 $((n - 1)) | xargs sha256sum) | cut -d' ' -f1 \
	    >"$TR_TMP/bench-hashes.txt"
	rm -rf "$d"
}

# slapd_data [N]: $TR_TMP/data.ldif with the test entries, and N more
# users bench0..bench<N-1> (password bench-pw, and the hash of line i+1
# of $TR_TMP/bench-tokens.txt in kubeTokenHash).
slapd_data()
{
	local n=${1:-0} i h
	local -a hashes=()
	if [ "$n" -gt 0 ]; then
		bench_tokens "$n"
		mapfile -t hashes <"$TR_TMP/bench-hashes.txt"
	fi
	{
		printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\n' "$BASE"
		printf 'o: Example\ndc: example\n\n'
		for ou in people groups policies; do
			printf 'dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n' \
			    "$ou" "$BASE" "$ou"
		done
		printf 'dn: cn=reader,%s\nobjectClass: organizationalRole\n' "$BASE"
		printf 'objectClass: simpleSecurityObject\ncn: reader\n'
		printf 'userPassword: %s\n\n' "$READER_PW"
		printf 'dn: cn=default,ou=policies,%s\nobjectClass: pwdPolicy\n' "$BASE"
		printf 'objectClass: organizationalRole\ncn: default\n'
		printf 'pwdAttribute: userPassword\npwdLockout: TRUE\n'
		printf 'pwdMaxFailure: 50\n\n'
		# lockme's own policy locks after 6 failures (the lockout test).
		printf 'dn: cn=strict,ou=policies,%s\nobjectClass: pwdPolicy\n' "$BASE"
		printf 'objectClass: organizationalRole\ncn: strict\n'
		printf 'pwdAttribute: userPassword\npwdLockout: TRUE\n'
		printf 'pwdMaxFailure: 6\n\n'
		# slapadd bypasses the memberof overlay: the LDIF carries memberOf.
		ldif_user alice "Alice Liddell" "$ALICE_PW" 1001 \
		    "kubeTokenHash: $(hash_hex "$ATTR_TOKEN")" \
		    "memberOf: cn=dev,ou=groups,$BASE" "memberOf: cn=cyc-a,ou=groups,$BASE"
		printf 'dn:: %s\n' "$(b64 "uid=$JUERGEN,ou=people,$BASE")"
		printf 'objectClass: inetOrgPerson\nobjectClass: posixAccount\n'
		printf 'uid:: %s\ncn:: %s\nsn: g\n' "$(b64 "$JUERGEN")" \
		    "$(b64 "$(printf 'J\xc3\xbcrgen Gro\xc3\x9f')")"
		printf 'uidNumber: 1002\ngidNumber: 5000\nhomeDirectory: /home/j\n'
		printf 'userPassword: %s\n\n' "$JUERGEN_PW"
		ldif_user carol "Carol Locked" carol-pw 1003 \
		    "pwdAccountLockedTime: 000001010000Z"
		ldif_user dup1 "Dup One" dup1-pw 1004 "kubeTokenHash: $(hash_hex "$DUP_TOKEN")"
		ldif_user dup2 "Dup Two" dup2-pw 1005 "kubeTokenHash: $(hash_hex "$DUP_TOKEN")"
		ldif_user nopw "No Password" x 1006
		A="uid=alice,ou=people,$BASE"
		G="ou=groups,$BASE"
		M="uid=mallory,ou=people,$BASE"
		ldif_user mallory "Mallory Evil" "$MALLORY_PW" 1008 \
		    "kubeTokenHash: $(hash_hex "$MALLORY_TOKEN")" \
		    "memberOf: cn=dev,ou=groups,$BASE" \
		    "memberOf: cn=system:masters,ou=groups,$BASE" \
		    "memberOf: cn=system:unauthenticated,ou=groups,$BASE" \
		    "memberOf: cn=system:authenticated,ou=groups,$BASE"
		ldif_user sysadm "system:admin" "$SYSADM_PW" 1009 \
		    "kubeTokenHash: $(hash_hex "$SYSADM_TOKEN")"
		ldif_group system:masters "$M"
		ldif_group system:unauthenticated "$M"
		ldif_group system:authenticated "$M"
		ldif_group dev "$A" "uid=$JUERGEN,ou=people,$BASE" "$M"
		ldif_group ops "cn=dev,$G"
		ldif_group all "cn=ops,$G"
		ldif_group cyc-a "$A" "cn=cyc-b,$G"
		ldif_group cyc-b "cn=cyc-a,$G"
		printf 'dn: cn=posix-devs,%s\nobjectClass: posixGroup\ncn: posix-devs\n' "$G"
		printf 'gidNumber: 5000\nmemberUid: alice\n\n'
		ldif_user paula "Paula Paged" "$PAULA_PW" 1007
		ldif_user lockme "Lock Me" "$LOCKME_PW" 1010 \
		    "pwdPolicySubentry: cn=strict,ou=policies,$BASE"
		i=0
		while [ "$i" -lt "$PAGED_GROUPS" ]; do
			ldif_group "paged$i" "uid=paula,ou=people,$BASE"
			i=$((i + 1))
		done
		i=0
		while [ "$i" -lt "$n" ]; do
			h=${hashes[$i]}
			ldif_user "bench$i" "Bench $i" bench-pw $((10000 + i)) \
			    "kubeTokenHash: $h"
			i=$((i + 1))
		done
	} >"$TR_TMP/data.ldif"
}

# slapd_start NAME: a server with its own data (same content) on fresh
# ports; sets <NAME>_PID, <NAME>_LDAP, <NAME>_LDAPS, <NAME>_LDAPI.
slapd_start()
{
	local n=$1 d=$TR_TMP/$1 p ps try
	if [ ! -f "$d/slapd.conf" ]; then
		slapd_conf "$d"
		"$SLAPADD" -q -f "$d/slapd.conf" -l "$TR_TMP/data.ldif" \
		    >"$d/slapadd.log" 2>&1 ||
		    bail "slapadd failed: $(tail -n 5 "$d/slapadd.log")"
	fi
	for try in 1 2 3; do
		p=$(eval "echo \${${n}_PORT:-}")
		ps=$(eval "echo \${${n}_SPORT:-}")
		[ -n "$p" ] || p=$(tr_free_port)
		[ -n "$ps" ] || ps=$(tr_free_port)
		"$SLAPD" -f "$d/slapd.conf" -d 0 -h "ldap://127.0.0.1:$p/ ldaps://127.0.0.1:$ps/ ldapi://$(printf '%s' "$d/ldapi" | jq -sRr @uri)" \
		    >>"$d/slapd.log" 2>&1 </dev/null &
		eval "${n}_PID=$!"
		TR_PIDS+=("$!")
		if tr_wait_until 5 ldapwhoami_ok "$p"; then
			eval "${n}_PORT=$p ${n}_SPORT=$ps"
			eval "${n}_LDAP=ldap://127.0.0.1:$p ${n}_LDAPS=ldaps://127.0.0.1:$ps"
			return 0
		fi
		kill "$(eval "echo \$${n}_PID")" 2>/dev/null
		eval "unset ${n}_PORT ${n}_SPORT"
	done
	bail "slapd $n did not start: $(tail -n 5 "$d/slapd.log")"
}

ldapwhoami_ok()
{
	LDAPTLS_CACERT=$TR_CERTS/ca.crt ldapwhoami -x -ZZ \
	    -H "ldap://127.0.0.1:$1" -D "cn=reader,$BASE" -w "$READER_PW"
}

slapd_stop()
{
	local pid
	pid=$(eval "echo \$${1}_PID")
	kill -CONT "$pid" 2>/dev/null
	tr_stop "$pid" 10
}

