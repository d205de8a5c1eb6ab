# TR_WITH_LDAP: the LDAP token source (--with-ldap=yes|no|auto, default
# auto).  Defines HAVE_LDAP, the conditional WITH_LDAP and LDAP_CFLAGS /
# LDAP_LIBS from pkg-config's "ldap" (OpenLDAP's libldap).
AC_DEFUN([TR_WITH_LDAP], [
	AC_ARG_WITH([ldap],
	    [AS_HELP_STRING([--with-ldap=yes|no|auto],
	    [the LDAP token source, with OpenLDAP's libldap (default: auto)])],
	    [], [with_ldap=auto])
	AS_CASE([$with_ldap], [yes|no|auto], [],
	    [AC_MSG_ERROR([--with-ldap takes yes, no or auto])])
	tr_have_ldap=no
	AS_IF([test "x$with_ldap" != xno], [
		PKG_CHECK_MODULES([LDAP], [ldap >= 2.5], [tr_have_ldap=yes],
		    [AS_IF([test "x$with_ldap" = xyes],
		    [AC_MSG_ERROR([--with-ldap=yes but libldap (pkg-config ldap >= 2.5) was not found: install libldap-dev])])])
	])
	AS_IF([test "x$tr_have_ldap" = xyes],
	    [AC_DEFINE([HAVE_LDAP], [1], [Define to build the LDAP token source.])])
	AM_CONDITIONAL([WITH_LDAP], [test "x$tr_have_ldap" = xyes])
])
