# TR_WITH_POSTGRESQL: --with-postgresql=yes|no|auto (default auto).  The
# PostgreSQL engine of the token database ([tokendb] url) needs libpq and
# the token database itself; auto builds it when both are there, yes
# without them is an error.  Sets HAVE_TOKENDB_PG, the automake
# conditional TOKENDB_PG, PQ_CFLAGS and PQ_LIBS.  Call after TR_WITH_TOKENDB.
AC_DEFUN([TR_WITH_POSTGRESQL], [
	AC_ARG_WITH([postgresql],
	    [AS_HELP_STRING([--with-postgresql=yes|no|auto],
	    [PostgreSQL engine of the token database (needs libpq; default auto)])],
	    [], [with_postgresql=auto])
	AS_CASE([$with_postgresql],
	    [yes|no|auto], [],
	    [AC_MSG_ERROR([--with-postgresql takes yes, no or auto])])
	tr_have_pg=no
	AS_IF([test "x$with_postgresql" = xyes && test "x$tr_have_tokendb" != xyes],
	    [AC_MSG_ERROR([--with-postgresql=yes needs the token database (--with-tokendb and sqlite3)])])
	AS_IF([test "x$with_postgresql" != xno && test "x$tr_have_tokendb" = xyes], [
		PKG_CHECK_MODULES([PQ], [libpq],
		    [tr_have_pg=yes],
		    [AS_IF([test "x$with_postgresql" = xyes],
		        [AC_MSG_ERROR([--with-postgresql=yes but libpq was not found (Debian: libpq-dev)])])])
	])
	AS_IF([test "x$tr_have_pg" = xyes], [
		AC_DEFINE([HAVE_TOKENDB_PG], [1], [Define to build the PostgreSQL engine of the token database.])
		tr_backends="$tr_backends tokendb-postgresql"
	])
	AM_CONDITIONAL([TOKENDB_PG], [test "x$tr_have_pg" = xyes])
	AC_SUBST([PQ_CFLAGS])
	AC_SUBST([PQ_LIBS])
])
