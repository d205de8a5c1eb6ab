#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Conformance case 32 in the source: every comparison of a secret (a
# token, a password, a secret or the hash or digest of one, a cache key
# made from a token) goes through ct_equal(), whose time does not depend
# on where the bytes differ, and ct_equal() is CRYPTO_memcmp.  The C
# comparison functions are looked for in src/*.c (comments and string
# literals left out, calls spanning several lines joined) and a call is
# refused when one of its arguments names such a value.  The unit test
# test_ct checks ct_equal() itself under valgrind.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need awk sed tr
tr_tmpdir

SRC=$TR_SRCDIR/src
# Names that hold secrets or values made from them.
SECRET_RE='token|hash|secret|passw|digest|cache_key|cred|(^|[^A-Za-z0-9_])md([^A-Za-z0-9_]|$)'
# Reviewed calls that match SECRET_RE but compare no secret: FILE:CALL.
ALLOWED=(
	# none: a reviewed exception would be written here as
	# 'FILE.c:CALL' exactly as calls() prints it
)

# calls FILE: every comparison call of FILE on one line, "NAME(ARGS)",
# with comments dropped and string and character literals emptied.
calls()
{
	awk '
	{ text = text $0 "\n" }
	END {
		# Pass 1: the code alone.
		n = length(text); code = ""; st = "code"
		for (i = 1; i <= n; i++) {
			c = substr(text, i, 1); d = substr(text, i + 1, 1)
			if (st == "code") {
				if (c == "/" && d == "*") { st = "comment"; i++; c = " " }
				else if (c == "\"") { st = "str" }
				else if (c == "\047") { st = "chr" }
				else if (c == "\n" || c == "\t") c = " "
				code = code c
			} else if (st == "comment") {
				if (c == "*" && d == "/") { st = "code"; i++ }
			} else {
				q = st == "str" ? "\"" : "\047"
				if (c == "\\") i++
				else if (c == q) { st = "code"; code = code c }
			}
		}
		# Pass 2: the calls, up to their closing parenthesis.
		s = code
		re = "(^|[^A-Za-z0-9_])(memcmp|bcmp|strcmp|strncmp|strcasecmp|strncasecmp)[ ]*[(]"
		while (match(s, re)) {
			call = substr(s, RSTART, RLENGTH)
			sub(/^[^A-Za-z]*/, "", call)
			sub(/[ ]*[(]$/, "", call)
			i = RSTART + RLENGTH; start = i; depth = 1
			while (depth > 0 && i <= length(s)) {
				c = substr(s, i, 1)
				if (c == "(") depth++
				else if (c == ")") depth--
				i++
			}
			args = substr(s, start, i - start - 1)
			gsub(/ +/, " ", args)
			print call "(" args ")"
			s = substr(s, i)
		}
	}' "$1"
}

allowed()
{
	local a
	for a in "${ALLOWED[@]}"; do
		[ "$a" = "$1" ] && return 0
	done
	return 1
}

tid "the comparison helper"
body=$(sed -n '/^ct_equal(/,/^}/p' "$SRC/util.c")
like "$body" 'CRYPTO_memcmp\(' "ct_equal() in src/util.c compares with CRYPTO_memcmp"
unlike "$body" '(^|[^A-Za-z0-9_])(memcmp|bcmp|strn?cmp)[[:space:]]*\(' \
    "ct_equal() calls no comparison that stops at a difference"

tid "secrets are compared only with ct_equal()"
n=0
bad=()
for f in "$SRC"/*.c; do
	while IFS= read -r c; do
		n=$((n + 1))
		args=${c#*(}
		printf '%s\n' "$args" | grep -Eq -- "$SECRET_RE" || continue
		allowed "$(basename "$f"):$c" && continue
		bad+=("$(basename "$f"): $c")
	done < <(calls "$f")
done
ok "the source has comparison calls to look at ($n)" test "$n" -gt 50
if [ "${#bad[@]}" -eq 0 ]; then
	pass "no memcmp, strcmp or the like on a token, hash, secret or password"
else
	fail "no memcmp, strcmp or the like on a token, hash, secret or password" \
	    "use ct_equal() for these:" "${bad[@]}"
fi
for a in "${ALLOWED[@]}"; do
	f=${a%%:*}
	if calls "$SRC/$f" | grep -qxF -- "${a#*:}"; then
		pass "the reviewed exception is still there: $a"
	else
		fail "the reviewed exception is still there: $a" \
		    "drop it from ALLOWED in tests/compare.sh"
	fi
done

# The check itself: a comparison of a secret written with memcmp, spread
# over lines and behind a comment, is found.
printf '%s\n' 'static int f(const char *a) {' \
    '	/* memcmp(x) in a comment is not a call */' \
    '	return memcmp(tok->secret_hash,' '	    a, 32) == 0 &&' \
    '	    strcmp(name, "token") == 0;' '}' >"$TR_TMP/probe.c"
got=$(calls "$TR_TMP/probe.c" | grep -E -- "$SECRET_RE")
is "$got" 'memcmp(tok->secret_hash, a, 32)' \
    "the check finds a memcmp of a secret over two lines, and only that"

done_testing
