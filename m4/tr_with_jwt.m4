# TR_WITH_JWT
# --with-jwt=yes|no|auto (default auto): the JWT backend (OIDC issuers and
# service-account tokens of other clusters), built on libcjose and
# libcurl.  auto builds it when both are found; yes without them is an
# error.  Defines HAVE_JWT, the automake conditional HAVE_JWT and
# JWT_CFLAGS / JWT_LIBS.
AC_DEFUN([TR_WITH_JWT], [
	AC_ARG_WITH([jwt],
	    [AS_HELP_STRING([--with-jwt=yes|no|auto],
	    [JWT backend with libcjose and libcurl (default: auto)])],
	    [], [with_jwt=auto])
	tr_jwt=no
	AS_IF([test "x$with_jwt" != xno], [
		PKG_CHECK_MODULES([JWT], [cjose >= 0.6 libcurl >= 7.85],
		    [tr_jwt=yes],
		    [AS_IF([test "x$with_jwt" = xyes],
		        [AC_MSG_ERROR([--with-jwt: $JWT_PKG_ERRORS (Debian: libcjose-dev libcurl4-openssl-dev)])])])
	])
	AS_IF([test "x$tr_jwt" = xyes],
	    [AC_DEFINE([HAVE_JWT], [1], [Define to build the JWT backend.])])
	AM_CONDITIONAL([HAVE_JWT], [test "x$tr_jwt" = xyes])
])
