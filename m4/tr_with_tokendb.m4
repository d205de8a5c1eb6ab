# TR_WITH_TOKENDB: --with-tokendb=yes|no|auto (default auto).  The token
# database backend needs SQLite 3; auto builds it when the library is
# found, yes without it is an error.  Sets HAVE_TOKENDB, the automake
# conditional TOKENDB, SQLITE_CFLAGS and SQLITE_LIBS, and tr_backends.
AC_DEFUN([TR_WITH_TOKENDB], [
	AC_ARG_WITH([tokendb],
	    [AS_HELP_STRING([--with-tokendb=yes|no|auto],
	    [token database backend and tokenreviewctl token (needs sqlite3; default auto)])],
	    [], [with_tokendb=auto])
	AS_CASE([$with_tokendb],
	    [yes|no|auto], [],
	    [AC_MSG_ERROR([--with-tokendb takes yes, no or auto])])
	tr_have_tokendb=no
	AS_IF([test "x$with_tokendb" != xno], [
		PKG_CHECK_MODULES([SQLITE], [sqlite3 >= 3.24],
		    [tr_have_tokendb=yes],
		    [AS_IF([test "x$with_tokendb" = xyes],
		        [AC_MSG_ERROR([--with-tokendb=yes but sqlite3 >= 3.24 was not found (Debian: libsqlite3-dev)])])])
	])
	AS_IF([test "x$tr_have_tokendb" = xyes], [
		AC_DEFINE([HAVE_TOKENDB], [1], [Define to build the token database backend.])
		tr_backends="$tr_backends tokendb"
	])
	AM_CONDITIONAL([TOKENDB], [test "x$tr_have_tokendb" = xyes])
	AC_SUBST([SQLITE_CFLAGS])
	AC_SUBST([SQLITE_LIBS])
])
