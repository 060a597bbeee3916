/* Names shared by the zcopy command and libzcopy.so. */
#ifndef ZCOPY_COMMON_H
#define ZCOPY_COMMON_H

#define ZCOPY_VERSION "0.1.0"

#define ZCOPY_ENV_MODE      "ZCOPY_MODE"       /* safe | trust | off | diag */
#define ZCOPY_ENV_MIN_BYTES "ZCOPY_MIN_BYTES"  /* smallest write worth rewriting */
#define ZCOPY_ENV_STATS     "ZCOPY_STATS"      /* 1 | stderr | path (%p = pid) */
#define ZCOPY_ENV_LOG       "ZCOPY_LOG"        /* stderr | path (%p = pid) */
#define ZCOPY_ENV_LOG_FORMAT "ZCOPY_LOG_FORMAT" /* text | json */
#define ZCOPY_ENV_LOG_LEVEL "ZCOPY_LOG_LEVEL"  /* summary | decisions | debug */
#define ZCOPY_ENV_BACKTRACE "ZCOPY_BACKTRACE"  /* frames per call site, 0-16 */
#define ZCOPY_ENV_FILE_TO_FILE "ZCOPY_FILE_TO_FILE" /* clone | always */
#define ZCOPY_ENV_NO_CHILDREN "ZCOPY_NO_CHILDREN" /* 1: programs it starts run without zcopy */
#define ZCOPY_LIB_NAME      "libzcopy.so"

#endif
