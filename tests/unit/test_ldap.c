/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the LDAP backend's pure parts: RFC 4515 escaping of
 * values in filters (injection attempts among them), filter templates,
 * the decoding of bind-mode tokens, the config checks of load(), and the
 * rules of names.c that keep a directory's groups and user names out of
 * the system: namespace (tests/ldap.sh runs them against slapd), and
 * the answers of auth_ldap_recheck() that need no server.
 */

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tokenreviewd.h"
#include "tap.h"

/* got contains sub; shows got when it does not. */
#define like(got, sub, ...) do {					\
	const char *like_got = (got);					\
	if (!ok(strstr(like_got, (sub)) != NULL, __VA_ARGS__))		\
		diag("got: '%s'", like_got);				\
} while (0)

static void
check_escape(const char *in, size_t len, const char *want, const char *what)
{
	char	*got = auth_ldap_filter_escape(in, len);

	is_str(got, want, "escape %s", what);
	free(got);
}

static void
test_escape(void)
{
	check_escape("alice", 5, "alice", "plain name");
	check_escape("*", 1, "\\2a", "star");
	check_escape("*)(uid=*", 8, "\\2a\\29\\28uid=\\2a", "injection");
	check_escape("a\\b", 3, "a\\5cb", "backslash");
	check_escape("a\0b", 3, "a\\00b", "NUL");
	check_escape("(x)", 3, "\\28x\\29", "parentheses");
	check_escape("J\xc3\xbcrgen", 7, "J\xc3\xbcrgen", "UTF-8 unchanged");
	check_escape("", 0, "", "empty");
}

static void
test_expand(void)
{
	char	*f;

	f = auth_ldap_filter_expand("(uid=%s)", "*)(uid=*", NULL);
	is_str(f, "(uid=\\2a\\29\\28uid=\\2a)", "injection stays a value");
	free(f);
	f = auth_ldap_filter_expand("(&(objectClass=posixGroup)(memberUid=%u))",
	    "cn=x", "bob");
	is_str(f, "(&(objectClass=posixGroup)(memberUid=bob))", "%%u");
	free(f);
	f = auth_ldap_filter_expand("(member=%s)",
	    "cn=a\\,b,ou=g,dc=example", NULL);
	is_str(f, "(member=cn=a\\5c,b,ou=g,dc=example)", "DN escaped");
	free(f);
	f = auth_ldap_filter_expand("(pct=100%%)", "x", "y");
	is_str(f, "(pct=100%)", "%%%% is a percent sign");
	free(f);
	ok(auth_ldap_filter_expand("(uid=%d)", "x", "y") == NULL,
	    "unknown placeholder refused");
	ok(auth_ldap_filter_expand("(uid=%u)", "x", NULL) == NULL,
	    "%%u without a user refused");
	ok(auth_ldap_filter_expand("(uid=%", "x", "y") == NULL,
	    "trailing %% refused");
}

static int
decode(const char *tok, char **u, char **p)
{
	size_t	plen;

	return auth_ldap_decode_basic(tok, strlen(tok), u, p, &plen);
}

static void
test_decode(void)
{
	char	*u, *p;

	/* base64("alice:secret") */
	ok(decode("YWxpY2U6c2VjcmV0", &u, &p) == 0, "decodes user:password");
	is_str(u, "alice", "user");
	is_str(p, "secret", "password");
	free(u);
	free(p);
	/* base64("bob:a:b") with padding: the password may hold colons */
	ok(decode("Ym9iOmE6Yg==", &u, &p) == 0, "padded, colon in password");
	is_str(u, "bob", "user before the first colon");
	is_str(p, "a:b", "rest is the password");
	free(u);
	free(p);
	ok(decode("Ym9iOmE6Yg", &u, &p) == 0, "unpadded accepted");
	free(u);
	free(p);
	/* base64("alice:") */
	ok(decode("YWxpY2U6", &u, &p) == -1 && u == NULL && p == NULL,
	    "empty password refused");
	/* base64(":pw") */
	ok(decode("OnB3", &u, &p) == -1, "empty user refused");
	/* base64("nocolon") */
	ok(decode("bm9jb2xvbg==", &u, &p) == -1, "no colon: not ours");
	ok(decode("eyJhbGciOiJSUzI1NiJ9.eyJ9.c2ln", &u, &p) == -1,
	    "a JWT is not ours");
	ok(decode("", &u, &p) == -1, "empty token");
	ok(decode("YWxp Y2U6c2VjcmV0", &u, &p) == -1, "space refused");
	/* base64("a\x01b:pw") */
	ok(decode("YQFiOnB3", &u, &p) == -1, "control character in user");
	/* base64("a\0:pw") */
	ok(decode("YQA6cHc=", &u, &p) == -1, "NUL refused");
	/* base64("J\xc3\xbcrgen:pw") */
	ok(decode("SsO8cmdlbjpwdw==", &u, &p) == 0, "UTF-8 user");
	is_str(u, "J\xc3\xbcrgen", "UTF-8 user kept");
	free(u);
	free(p);
	/* base64("\xff:pw") */
	ok(decode("/zpwdw==", &u, &p) == -1, "invalid UTF-8 user refused");
}

/* Load a config with one [ldap] section; the error text, or "" if OK. */
static char *
load(const char *dir, const char *section, char *err, size_t errlen)
{
	const struct auth_backend	*be = &auth_ldap_backend;
	struct config			*conf;
	char				 path[512];
	void				*shared = NULL;
	FILE				*f;

	snprintf(path, sizeof(path), "%s/t.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[server]\nlisten = 127.0.0.1:0\ntls_cert = x\n"
	    "tls_key = x\nchain = ldap\n\n[ldap \"corp\"]\n%s", section);
	fclose(f);
	err[0] = '\0';
	if ((conf = config_load(path, err, errlen)) == NULL)
		return err;
	if (be->load(conf, &shared, err, errlen) == 0)
		be->unload(shared);
	config_free(conf);
	return err;
}

static void
test_load(void)
{
	char	dir[] = "/tmp/test_ldap.XXXXXX", err[TR_ERRLEN], pw[600];
	FILE	*f;

	if (mkdtemp(dir) == NULL)
		bail_out("mkdtemp %s: %s", dir, strerror(errno));
	snprintf(pw, sizeof(pw), "%s/pw", dir);
	f = fopen(pw, "w");
	fputs("secret\n", f);
	fclose(f);
	chmod(pw, 0600);
	is_str(load(dir, "uri = ldaps://127.0.0.1\nuser_base = dc=x\n", err,
	    sizeof(err)), "", "minimal section loads");
	like(load(dir, "user_base = dc=x\n", err, sizeof(err)),
	    "uri is required", "uri required");
	like(load(dir, "uri = http://x\nuser_base = dc=x\n", err,
	    sizeof(err)), "not an LDAP URI", "bad URI");
	like(load(dir, "uri = ldaps://x\n", err, sizeof(err)),
	    "user_base is required", "user_base required");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nuser_filter = "
	    "uid=%s\n", err, sizeof(err)), "in parentheses",
	    "filter must be parenthesised");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nuser_filter = "
	    "(uid=alice)\n", err, sizeof(err)), "needs %s or %u",
	    "filter without a placeholder refused");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\ngroup_filter = "
	    "(cn=%%s)\n", err, sizeof(err)), "needs %s or %u",
	    "%%%%s is not a placeholder");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nuser_filter = "
	    "(uid=%s)(objectClass=person)\n", err, sizeof(err)),
	    "user_filter: not a valid LDAP search filter",
	    "two filters side by side refused");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\ngroup_filter = "
	    "((member=%s)\n", err, sizeof(err)),
	    "group_filter: not a valid LDAP search filter",
	    "unbalanced parentheses refused");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nuser_filter = "
	    "(&(uid=%s)(!objectClass=x))\n", err, sizeof(err)),
	    "not a valid LDAP search filter", "a NOT without parentheses refused");
	is_str(load(dir, "uri = ldaps://x\nuser_base = dc=x\nuser_filter = "
	    "(&(objectClass=person)(|(uid=%s)(mail=%s))(!(locked=TRUE)))\n"
	    "group_filter = (member:1.2.840.113556.1.4.1941:=%s)\n", err,
	    sizeof(err)), "", "nested filters and an extensible match load");
	is_str(load(dir, "uri = ldaps://x ldap://y ldapi://%2Ftmp%2Fs\n"
	    "user_base = dc=x\ngroup_filter = (memberUid=%u)\nmode = attribute\n"
	    "token_attribute = h\nextra_attributes = mail=example.org/mail\n"
	    "nested_depth = 3\npool_size = 4\ntimeout = 250ms\n", err,
	    sizeof(err)), "", "every kind of URI and most keys load");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nextra_attributes = "
	    "mail\n", err, sizeof(err)), "attribute=key", "bad extra mapping");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nmode = attribute\n",
	    err, sizeof(err)), "token_attribute is required",
	    "attribute mode needs token_attribute");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nbind_dn = cn=r\n",
	    err, sizeof(err)), "go together", "bind_dn needs a password file");
	chmod(pw, 0644);
	snprintf(pw + strlen(pw), sizeof(pw) - strlen(pw), "%s", "");
	{
		char	sec[1024];

		snprintf(sec, sizeof(sec), "uri = ldaps://x\nuser_base = dc=x\n"
		    "bind_dn = cn=r\nbind_password_file = %s\n", pw);
		ok(*load(dir, sec, err, sizeof(err)) != '\0',
		    "world-readable password file refused: %s", err);
		chmod(pw, 0600);
		is_str(load(dir, sec, err, sizeof(err)), "",
		    "private password file accepted");
	}
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nfoo = 1\n", err,
	    sizeof(err)), "foo: unknown key", "unknown key");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\ntimeout = x\n",
	    err, sizeof(err)), "timeout", "bad timeout");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\ngroup_allow = (\n",
	    err, sizeof(err)), "group_allow", "bad regex");
	is_str(load(dir, "uri = ldaps://x\nuser_base = dc=x\npage_size = 0\n"
	    "max_groups = 10000\n", err, sizeof(err)), "",
	    "page_size 0 (no paging) and max_groups 10000 load");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\npage_size = -1\n",
	    err, sizeof(err)), "page_size: bad number \"-1\"",
	    "negative page_size refused");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nmax_groups = 0\n",
	    err, sizeof(err)), "max_groups: \"0\" is out of range (1 to 10000)",
	    "max_groups 0 refused");
	is_str(load(dir, "uri = ldaps://x ldaps://y\nuser_base = dc=x\n"
	    "backoff_max = 2s\n", err, sizeof(err)), "", "backoff_max loads");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nbackoff_max = 0\n",
	    err, sizeof(err)), "backoff_max: \"0\" is out of range (1ms to 10m)",
	    "backoff_max 0 refused");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\ngroup_prefix = "
	    "system:ldap:\n", err, sizeof(err)),
	    "group_prefix: in the system: namespace",
	    "group_prefix in system: refused without allow_system_names");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nusername_prefix = "
	    "system:\n", err, sizeof(err)),
	    "username_prefix: in the system: namespace",
	    "username_prefix in system: refused without allow_system_names");
	is_str(load(dir, "uri = ldaps://x\nuser_base = dc=x\ngroup_prefix = "
	    "system:ldap:\nallow_system_names = yes\n", err, sizeof(err)), "",
	    "... and loads with allow_system_names = yes");
	is_str(load(dir, "uri = ldaps://x\nuser_base = dc=x\ngroup_prefix = "
	    "System:\nusername_prefix = sys\n", err, sizeof(err)), "",
	    "prefixes outside system: (case counts) load");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\n"
	    "allow_system_names = maybe\n", err, sizeof(err)),
	    "allow_system_names", "allow_system_names must be a boolean");
	is_str(load(dir, "uri = ldaps://x\nuser_base = dc=x\nreviews = no\n",
	    err, sizeof(err)), "", "reviews = no loads");
	like(load(dir, "uri = ldaps://x\nuser_base = dc=x\nreviews = 2\n",
	    err, sizeof(err)), "reviews", "reviews must be a boolean");
	unlink(pw);
	snprintf(pw, sizeof(pw), "%s/t.conf", dir);
	unlink(pw);
	rmdir(dir);
}

static void
is_text(const char *attr, const char *val, size_t len, const char *want,
    const char *what)
{
	char	*s = auth_ldap_value_text(attr, val, len);

	is_str(s, want, "%s", what);
	free(s);
}

/* uid_attribute values: AD's binary GUIDs and SIDs in their usual form. */
static void
test_value_text(void)
{
	static const char guid[] = "\x67\x45\x23\x01\xab\x89\xef\xcd"
	    "\x01\x23\x45\x67\x89\xab\xcd\xef";
	static const char sid[] = "\x01\x05\x00\x00\x00\x00\x00\x05"
	    "\x15\x00\x00\x00\xdc\xf4\xdc\x3b\x83\x3d\x2b\x46\x82\x8b\xa6\x28"
	    "\x00\x02\x00\x00";
	static const char text[] = "ABCDEFGHIJKLMNOP";	/* 16 bytes */

	is_text("objectGUID", guid, 16, "01234567-89ab-cdef-0123-456789abcdef",
	    "objectGUID in the Windows form");
	is_text("objectguid", text, 16, "44434241-4645-4847-494a-4b4c4d4e4f50",
	    "objectGUID that happens to be text is still a GUID");
	is_text("objectGUID", guid, 15, "67452301ab89efcd0123456789abcd",
	    "15 bytes are no GUID: hex");
	is_text("objectSid", sid, 28, "S-1-5-21-1004336348-1177238915-"
	    "682003330-512", "objectSid as S-1-5-21-...");
	is_text("objectSid", sid, 27, "01050000000000051500000"
	    "0dcf4dc3b833d2b46828ba628000200", "a SID cut short: hex");
	is_text("entryUUID", "5d6e-\xc3\xa9", 7, "5d6e-\xc3\xa9",
	    "UTF-8 text as is");
	is_text("uidNumber", "\xff\x00\x01", 3, "ff0001",
	    "other bytes in lowercase hex");
}

static void
test_names_kind(void)
{
	static const struct {
		const char	*name;
		enum names_kind	 kind;
	} cases[] = {
		{ "dev", NAMES_PLAIN },
		{ "", NAMES_PLAIN },
		{ "system", NAMES_PLAIN },
		{ "System:masters", NAMES_PLAIN },
		{ " system:masters", NAMES_PLAIN },
		{ "ldap:system:masters", NAMES_PLAIN },
		{ "system:", NAMES_SYSTEM },
		{ "system:masters", NAMES_SYSTEM },
		{ "system:authenticated:x", NAMES_SYSTEM },
		{ "system:authenticatedx", NAMES_SYSTEM },
		{ "system:serviceaccounts", NAMES_SYSTEM },
		{ "system:authenticated", NAMES_IMPLIED },
		{ "system:unauthenticated", NAMES_IMPLIED },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(names_kind(cases[i].name), cases[i].kind,
		    "names_kind(\"%s\")", cases[i].name);
	ok(names_prefix_reserved("system:x:") && !names_prefix_reserved("") &&
	    !names_prefix_reserved("ldap:"), "names_prefix_reserved");
}

struct seen {
	char	buf[256];
	int	implied;
};

static void
seen_cb(const char *name, enum names_kind kind, void *arg)
{
	struct seen	*s = arg;

	strlcat(s->buf, name, sizeof(s->buf));
	strlcat(s->buf, " ", sizeof(s->buf));
	s->implied += kind == NAMES_IMPLIED;
}

/* groups: a NULL-terminated copy of the words of text. */
static char **
groups_of(const char *text)
{
	size_t	n;

	return split_words(text, &n);
}

static char *
joined(char **v)
{
	static char	buf[256];
	size_t		i;

	buf[0] = '\0';
	for (i = 0; v[i] != NULL; i++) {
		if (i > 0)
			strlcat(buf, " ", sizeof(buf));
		strlcat(buf, v[i], sizeof(buf));
	}
	return buf;
}

static void
test_names_filter(void)
{
	struct seen	 s;
	char		**g;

	memset(&s, 0, sizeof(s));
	g = groups_of("system:masters dev system:authenticated ops "
	    "system:unauthenticated ldap:system:masters system:nodes");
	is_int(names_filter_groups(g, 0, seen_cb, &s), 4,
	    "default: four system: groups dropped");
	is_str(joined(g), "dev ops ldap:system:masters",
	    "... the others kept, in order");
	is_str(s.buf, "system:masters system:authenticated "
	    "system:unauthenticated system:nodes ", "... each one seen once");
	is_int(s.implied, 2, "... two of them the API server's own");
	free_words(g);

	memset(&s, 0, sizeof(s));
	g = groups_of("system:masters dev system:authenticated "
	    "system:unauthenticated");
	is_int(names_filter_groups(g, 1, seen_cb, &s), 2,
	    "allow_system_names: only system:(un)authenticated dropped");
	is_str(joined(g), "system:masters dev", "... system:masters kept");
	free_words(g);

	g = groups_of("system:masters");
	is_int(names_filter_groups(g, 0, NULL, NULL), 1,
	    "no callback: dropped all the same");
	ok(g[0] == NULL, "... the list is empty");
	free_words(g);
	is_int(names_filter_groups(NULL, 0, NULL, NULL), 0, "no list");
}

static void
test_names_once(void)
{
	struct names_once	*no = names_once_new();
	char			 name[32];
	int			 i, first = 0, full = 0, again = 0;

	is_int(names_once(no, "group", "system:masters"), NAMES_ONCE_FIRST,
	    "names_once: the first time -> FIRST (log it)");
	is_int(names_once(no, "group", "system:masters"), NAMES_ONCE_AGAIN,
	    "names_once: the second time -> AGAIN");
	is_int(names_once(no, "user name", "system:masters"), NAMES_ONCE_FIRST,
	    "names_once: the same name as a user name is another one");
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "system:g%d", i);
		switch (names_once(no, "group", name)) {
		case NAMES_ONCE_FIRST:
			first++;
			break;
		case NAMES_ONCE_FULL:
			full++;
			break;
		case NAMES_ONCE_AGAIN:
			break;
		}
	}
	is_int(first, 256 - 2, "names_once: at most 256 names remembered");
	is_int(full, 1, "names_once: FULL once when it is full");
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "system:g%d", i);
		again += names_once(no, "group", name) != NAMES_ONCE_AGAIN;
	}
	is_int(again, 0, "names_once: remembered names stay remembered");
	names_once_free(no);
	names_once_free(NULL);
}

/*
 * auth_ldap_recheck()'s answers that need no server: a directory it does
 * not have, and names without the directory's username_prefix.
 */
static void
test_recheck_names(void)
{
	const struct auth_backend	*be = &auth_ldap_backend;
	char				 dir[] = "/tmp/test_ldap.XXXXXX";
	char				 path[600], err[TR_ERRLEN];
	struct auth_result		 res;
	struct auth_req			 req;
	struct event_base		*base;
	struct config			*conf;
	void				*shared = NULL, *inst = NULL;
	FILE				*f;

	if (mkdtemp(dir) == NULL)
		bail_out("mkdtemp %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/t.conf", dir);
	f = fopen(path, "w");
	fprintf(f, "[server]\nlisten = 127.0.0.1:0\ntls_cert = x\n"
	    "tls_key = x\n\n[ldap \"corp\"]\nuri = ldaps://127.0.0.1:1\n"
	    "user_base = dc=x\nusername_prefix = ldap:\nreviews = no\n");
	fclose(f);
	if ((conf = config_load(path, err, sizeof(err))) == NULL ||
	    be->load(conf, &shared, err, sizeof(err)) != 0)
		bail_out("load: %s", err);
	base = event_base_new();
	be->init(shared, base, &inst);
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	ok(auth_ldap_recheck(inst, "other", "ldap:alice", &req, &res, NULL) ==
	    AUTH_ERROR && res.error != NULL &&
	    strstr(res.error, "no directory [ldap \"other\"]") != NULL,
	    "recheck in a directory that is not there -> error");
	auth_result_clear(&res);
	ok(auth_ldap_recheck(inst, "corp", "alice", &req, &res, NULL) ==
	    AUTH_DENY && res.error == NULL,
	    "recheck of a name without the username_prefix -> NO");
	ok(auth_ldap_recheck(inst, "corp", "ldap:", &req, &res, NULL) ==
	    AUTH_DENY, "recheck of the prefix alone -> NO");
	be->free(inst);
	be->unload(shared);
	event_base_free(base);
	config_free(conf);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	log_init(LL_FATAL);
	test_names_kind();
	test_names_filter();
	test_names_once();
	test_value_text();
	test_escape();
	test_expand();
	test_decode();
	test_load();
	test_recheck_names();
	return done_testing();
}
