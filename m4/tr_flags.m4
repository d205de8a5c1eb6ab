# TR_CHECK_CFLAGS(FLAGS)
# Add each flag in FLAGS to TR_CFLAGS when the C compiler accepts it
# without a warning.
AC_DEFUN([TR_CHECK_CFLAGS], [
	for tr_flag in $1; do
		AC_MSG_CHECKING([whether $CC accepts $tr_flag])
		tr_saved_cflags=$CFLAGS
		CFLAGS="$CFLAGS -Werror $tr_flag"
		AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
		    [AC_MSG_RESULT([yes]); TR_CFLAGS="$TR_CFLAGS $tr_flag"],
		    [AC_MSG_RESULT([no])])
		CFLAGS=$tr_saved_cflags
	done
])

# TR_CHECK_CPPFLAGS(FLAGS): the same for preprocessor flags.
AC_DEFUN([TR_CHECK_CPPFLAGS], [
	for tr_flag in $1; do
		AC_MSG_CHECKING([whether $CC accepts $tr_flag])
		tr_saved_cflags=$CFLAGS
		CFLAGS="$CFLAGS -Werror $tr_flag"
		AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
		    [AC_MSG_RESULT([yes]); TR_CPPFLAGS="$TR_CPPFLAGS $tr_flag"],
		    [AC_MSG_RESULT([no])])
		CFLAGS=$tr_saved_cflags
	done
])

# TR_CHECK_LDFLAGS(FLAGS): the same for linker flags.
AC_DEFUN([TR_CHECK_LDFLAGS], [
	for tr_flag in $1; do
		AC_MSG_CHECKING([whether the linker accepts $tr_flag])
		tr_saved_ldflags=$LDFLAGS
		LDFLAGS="$LDFLAGS -Werror $tr_flag"
		AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
		    [AC_MSG_RESULT([yes]); TR_LDFLAGS="$TR_LDFLAGS $tr_flag"],
		    [AC_MSG_RESULT([no])])
		LDFLAGS=$tr_saved_ldflags
	done
])

# TR_PTHREAD: find the flags for POSIX threads (glibc: -pthread).
AC_DEFUN([TR_PTHREAD], [
	AC_MSG_CHECKING([for -pthread])
	tr_saved_cflags=$CFLAGS
	CFLAGS="$CFLAGS -pthread"
	AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>]],
	    [[pthread_t t; return pthread_create(&t, 0, 0, 0);]])],
	    [AC_MSG_RESULT([yes]); PTHREAD_CFLAGS=-pthread; PTHREAD_LIBS=-pthread],
	    [AC_MSG_ERROR([POSIX threads are required])])
	CFLAGS=$tr_saved_cflags
	AC_SUBST([PTHREAD_CFLAGS])
	AC_SUBST([PTHREAD_LIBS])
])
