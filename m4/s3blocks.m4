# Macros used by s3blocks' configure.ac.

# S3BLOCKS_CHECK_PTHREAD: make sure -pthread links pthread_create, and
# substitute PTHREAD_CFLAGS and PTHREAD_LIBS.
AC_DEFUN([S3BLOCKS_CHECK_PTHREAD], [
  AC_MSG_CHECKING([whether $CC accepts -pthread])
  s3blocks_save_CFLAGS="$CFLAGS"
  s3blocks_save_LIBS="$LIBS"
  CFLAGS="$CFLAGS -pthread"
  LIBS="$LIBS -pthread"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>
static void *start (void *arg) { return arg; }]],
                                  [[pthread_t t; return pthread_create (&t, 0, start, 0);]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([POSIX threads are required])])
  CFLAGS="$s3blocks_save_CFLAGS"
  LIBS="$s3blocks_save_LIBS"
  PTHREAD_CFLAGS=-pthread
  PTHREAD_LIBS=-pthread
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])

# S3BLOCKS_WARNINGS: WARNINGS_CFLAGS, with -Werror under --enable-gcc-warnings.
AC_DEFUN([S3BLOCKS_WARNINGS], [
  AC_ARG_ENABLE([gcc-warnings],
    [AS_HELP_STRING([--enable-gcc-warnings], [turn compiler warnings into errors])],
    [], [enable_gcc_warnings=no])
  WARNINGS_CFLAGS="-Wall -Wextra -Wshadow -Wvla -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter"
  AS_IF([test "x$enable_gcc_warnings" = "xyes"],
    [WARNINGS_CFLAGS="$WARNINGS_CFLAGS -Werror"])
  AC_SUBST([WARNINGS_CFLAGS])
])
