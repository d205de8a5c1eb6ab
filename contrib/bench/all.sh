#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Every token source in one run, next to its ceiling, as one Markdown
# table: run.sh (nginx's fixed reply, the static file, SQLite and
# PostgreSQL, cache on and off), ldap.sh (bind and attribute mode, cache
# on and off, and the directory's own rate from ldapload) and jwt.sh
# (RS256 and ES256, cache on and off, and the signature verification
# bound).  The three scripts run one after the other; their own outputs
# are kept with --logs.  A script that fails leaves its rows out and the
# others still run; the exit status is then 1.
#
#   TOKENREVIEWD=./tokenreviewd contrib/bench/all.sh [--out FILE]
#       [--duration 10s] [--rounds 3] [--tokens 100000] [--users 10000]
#       [--workers 2]
#       [--sources static,sqlite,postgresql] [--skip run,ldap,jwt]
#       [--logs DIR]
#
# Each row: the source, the cache (on, off), req/s, the ceiling it is
# compared with (nginx for the static file; the static file with the same
# cache for a token database, but pgbench's select-only rate on the same
# server for uncached PostgreSQL; slapd's own rate for uncached LDAP, the
# static file of ldap.sh's run for cached LDAP; the verify bound for
# uncached JWT, and in a second row jwt.sh's co-located ceiling), the
# ratio req/s / ceiling (for uncached JWT, jwt.sh's mean of its rounds'
# ratios, each against the bound or the ceiling of its own round),
# and the daemon's peak RSS (VmHWM) where the script reports it.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=
DURATION=10s
ROUNDS=3
TOKENS=100000
USERS=10000
WORKERS=2
SOURCES=static,sqlite,postgresql
SKIP=
LOGS=
while [ $# -gt 0 ]; do
	case $1 in
	--out) OUT=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--tokens) TOKENS=$2; shift 2 ;;
	--users) USERS=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--sources) SOURCES=$2; shift 2 ;;
	--skip) SKIP=$2; shift 2 ;;
	--logs) LOGS=$2; shift 2 ;;
	*) echo "usage: $0 [--out FILE] [--duration D] [--rounds N] [--tokens N]" \
	    "[--users N] [--workers N] [--sources LIST] [--skip run,ldap,jwt]" \
	    "[--logs DIR]" >&2; exit 2 ;;
	esac
done

: "${TOKENREVIEWD:=$(command -v tokenreviewd || echo ./tokenreviewd)}"
case $TOKENREVIEWD in
/*) ;;
*) TOKENREVIEWD=$PWD/$TOKENREVIEWD ;;
esac
[ -x "$TOKENREVIEWD" ] ||
    { echo "$0: no daemon at $TOKENREVIEWD (set TOKENREVIEWD)" >&2; exit 1; }
export TOKENREVIEWD

if [ -n "$LOGS" ]; then
	mkdir -p "$LOGS" || exit 1
	W=$LOGS
else
	W=$(mktemp -d "${TMPDIR:-/tmp}/tokenreviewd-all.XXXXXX") || exit 1
	trap 'rm -rf "$W"' EXIT
fi
ROWS=$W/rows
: >"$ROWS"
STATUS=0

skipped()
{
	case ",$SKIP," in
	*,"$1",*) return 0 ;;
	esac
	return 1
}

# bench NAME CMD...: one script, its stdout and stderr kept in $W.
bench()
{
	local name=$1
	shift
	echo "all.sh: $name: $*" >&2
	if ! "$@" >"$W/$name.out" 2>"$W/$name.err"; then
		echo "all.sh: $name failed; its rows are left out" \
		    "(last lines of its stderr:)" >&2
		tail -n 5 "$W/$name.err" >&2
		STATUS=1
	fi
}

# Rows are "source|cache|req/s|ceiling name|ceiling req/s|peak RSS MiB|
# ratio|server CPU us per answer", empty fields for what a script does not
# give; without a ratio the table divides req/s by the ceiling.

# run.sh: the summary's table and the memory table.
parse_run()
{
	awk '
	/^results: mean/ { t = 1; next }
	/^tokenreviewd memory/ { t = 0; m = 1; next }
	/^  \(nginx/ { m = 0 }
	t && NF >= 6 && $1 != "req/s" && $1 !~ /^\(/ {
		rps[$1] = $2; cpu[$1] = $7 == "-" ? "" : $7; order[++n] = $1
	}
	m && NF == 5 && $1 != "loaded" { hwm[$1] = $5 }
	END {
		for (i = 1; i <= n; i++) {
			s = order[i]
			if (s == "nginx") {
				printf "nginx (fixed reply)||%s|||||%s\n", rps[s],
				    cpu[s]
				continue
			}
			if (s == "pgbench") {
				printf "PostgreSQL server (pgbench -S)||%s|||\n",
				    rps[s]
				continue
			}
			src = s; cache = "on"
			if (sub(/-nocache$/, "", src))
				cache = "off"
			base = cache == "on" ? "static" : "static-nocache"
			if (src == "static")
				base = "nginx"
			if (s == "postgresql-nocache" && ("pgbench" in rps))
				base = "pgbench"
			printf "%s|%s|%s|%s|%s|%s||%s\n", src, cache, rps[s],
			    base, rps[base], hwm[s], cpu[s]
		}
	}' "$W/run.out"
}

# ldap.sh: one line per case (per round for the uncached one), and the
# ratio lines: the means over the rounds and the mean of their ratios.
parse_ldap()
{
	awk '
	/ req\/s / { name = $1; sub(/-nocache-[0-9]+$/, "-nocache", name)
		rps[name] = $2; rss[name] = $(NF - 1) }
	/^ratio / { drate[$2] = $4; dir[$2] = $7; q[$2] = $10 }
	END {
		split("ldap ldap-attr", p, " ")
		split("bind attribute", mode, " ")
		for (i = 1; i <= 2; i++) {
			off = p[i] "-nocache"; on = p[i] "-cache"
			if (mode[i] in drate)
				printf "LDAP %s|off|%s|slapd (ldapload)|%s|%s|%s\n",
				    mode[i], drate[mode[i]], dir[mode[i]], rss[off],
				    q[mode[i]]
			if (on in rps)
				printf "LDAP %s|on|%s|static (ldap.sh)|%s|%s\n",
				    mode[i], rps[on], rps["static"], rss[on]
		}
	}' "$W/ldap.out"
}

# jwt.sh: "ALG: cache off X req/s, cache on Y req/s; ... bound 1/(...) B
# req/s; cache off / bound = R (...)": the bound is the number before the
# first "req/s;" after "bound", and R is jwt.sh's own ratio (the mean of
# its rounds' ratios, each against that round's bound), kept as it is.
# "ALG co-located ceiling: ... a reply C req/s = ...; cache off / ceiling
# = Q (...)" adds a row: the uncached rate against that ceiling.
parse_jwt()
{
	awk '
	/^[RPE]S[0-9]+ co-located ceiling: / {
		for (i = 2; i < NF; i++) {
			if ($i == "reply")
				ceil[$1] = $(i + 1)
			if ($i == "=" && $(i - 1) == "ceiling")
				q[$1] = $(i + 1)
		}
		next
	}
	/^[RPE]S[0-9]+: cache off / {
		alg = substr($1, 1, length($1) - 1)
		off = on = bound = ratio = ""
		for (i = 2; i <= NF; i++) {
			if ($(i - 1) == "cache" && $i == "off" && off == "")
				off = $(i + 1)
			if ($(i - 1) == "cache" && $i == "on")
				on = $(i + 1)
			if ($i == "bound" && $(i + 1) ~ /^1\//) {
				for (j = i + 1; j < NF; j++)
					if ($(j + 1) == "req/s;") {
						bound = $j
						break
					}
			}
			if ($i == "=" && $(i - 1) == "bound")
				ratio = $(i + 1)
		}
		printf "JWT %s|off|%s|verify bound|%s||%s\n", alg, off, bound,
		    ratio
		printf "JWT %s|on|%s||||\n", alg, on
		offs[++n] = off; algs[n] = alg
	}
	END {
		for (i = 1; i <= n; i++)
			if (algs[i] in ceil)
				printf "JWT %s|off|%s|co-located ceiling|%s||%s\n",
				    algs[i], offs[i], ceil[algs[i]], q[algs[i]]
	}' "$W/jwt.out"
}

# The rows as a Markdown table.
table()
{
	awk -F'|' '
	function num(v,   s, r) {
		if (v == "")
			return "-"
		s = sprintf("%.0f", v); r = ""
		while (length(s) > 3) {
			r = "," substr(s, length(s) - 2) r
			s = substr(s, 1, length(s) - 3)
		}
		return s r
	}
	BEGIN {
		print "| source | cache | req/s | ceiling | ratio | peak RSS |" \
		    " CPU/answer |"
		print "|---|---|---|---|---|---|---|"
	}
	{
		ceil = $4 == "" ? "-" : $4 " " num($5)
		ratio = ($5 > 0 && $3 != "") ? sprintf("%.3f", $3 / $5) : "-"
		if ($7 != "")
			ratio = sprintf("%.3f", $7)
		rss = $6 == "" ? "-" : sprintf("%.1f MiB", $6)
		cpu = $8 == "" ? "-" : sprintf("%.1f us", $8)
		printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1,
		    $2 == "" ? "-" : $2, num($3), ceil, ratio, rss, cpu
	}' "$ROWS"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
skipped run || bench run bash "$HERE/run.sh" --sources "$SOURCES" --cache both \
    --tokens "$TOKENS" --duration "$DURATION" --workers "$WORKERS" \
    --rounds "$ROUNDS"
skipped ldap || bench ldap bash "$HERE/ldap.sh" --users "$USERS" \
    --duration "$DURATION" --workers "$WORKERS" --rounds "$ROUNDS"
skipped jwt || bench jwt bash "$HERE/jwt.sh" --duration "$DURATION" \
    --workers "$WORKERS" --rounds "$ROUNDS"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

[ -s "$W/run.out" ] && parse_run >>"$ROWS"
[ -s "$W/ldap.out" ] && parse_ldap >>"$ROWS"
[ -s "$W/jwt.out" ] && parse_jwt >>"$ROWS"
{
	echo "$("$TOKENREVIEWD" --version 2>/dev/null | head -n 1)," \
	    "$(nproc) CPUs, $WORKERS workers, $DURATION per case," \
	    "$TOKENS tokens, $USERS LDAP users; load average $LOAD0" \
	    "before, $LOAD1 after"
	echo
	table
} >"$W/table.md"
if [ -n "$OUT" ]; then
	cp "$W/table.md" "$OUT" || exit 1
else
	cat "$W/table.md"
fi
exit "$STATUS"
