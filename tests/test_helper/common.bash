# Shared by every tests/*.bats file: paths, test data and the strace check.
ZC_ROOT="$(cd "$(dirname "${BATS_TEST_FILENAME}")/.." && pwd)"
# make check-asan and make check-valgrind run the same tests on other builds:
#   ZC_LIB             the library under test (default: shim/libzcopy.so)
#   ZC_PRELOAD_PREFIX  libraries preloaded before it (libasan for ASan)
#   ZC_PROGS           the test programs (default: tests/progs)
#   ZC_RUN_PREFIX      a command that runs each preloaded program (valgrind)
ZC_LIB="${ZC_LIB:-$ZC_ROOT/shim/libzcopy.so}"
ZC_PRELOAD="${ZC_PRELOAD_PREFIX:+$ZC_PRELOAD_PREFIX }$ZC_LIB"
read -ra ZC_RUN <<<"${ZC_RUN_PREFIX:-}"
ZC_CMD="$ZC_ROOT/shim/zcopy"
PROGS="${ZC_PROGS:-$ZC_ROOT/tests/progs}"
EXAMPLES="$ZC_ROOT/examples"
# Tests start from a known environment whatever the caller exported.
unset ZCOPY_MODE ZCOPY_MIN_BYTES ZCOPY_STATS ZCOPY_LOG ZCOPY_LOG_FORMAT ZCOPY_LOG_LEVEL \
  ZCOPY_BACKTRACE ZCOPY_NO_CHILDREN ZCOPY_FILE_TO_FILE LD_PRELOAD ZCOPY_CALIBRATE_COSTS ZCOPY_STATS_LIVE
# Two settings differ from the defaults so that the tests' copy loops are
# rewritten: their chunks are of 16 and 32 KiB as well as 64 KiB (default
# threshold 64 KiB; tests/real_*.bats and settings.bats test the default),
# and their files are on ext4 or tmpfs, where zcopy leaves file to file
# plain by default (tests/file_to_file.bats tests that, on ext4 and xfs).
export ZCOPY_MIN_BYTES=16384 ZCOPY_FILE_TO_FILE=always
# Calibration (on by default) would choose per machine between the fast
# call and the plain one; tests check the rewrite itself, so it is off
# here, and tests/calibrate.bats fixes its costs (ZCOPY_CALIBRATE_COSTS).
export ZCOPY_CALIBRATE=off

# make_file PATH BYTES: random bytes, so any misplaced chunk shows in cmp.
make_file() {
  head -c "$2" /dev/urandom > "$1"
}

# with_zcopy CMD...: run CMD with the library preloaded.
with_zcopy() {
  env LD_PRELOAD="$ZC_PRELOAD" "${ZC_RUN[@]}" "$@"
}

# traced LOG CMD...: run CMD preloaded under strace, which records every
# sendfile/splice/copy_file_range of every process in LOG.  strace itself
# is not preloaded (-E sets the variable for the traced program only).
traced() {
  local log=$1; shift
  strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" \
    -e trace=sendfile,splice,copy_file_range -o "$log" -- "${ZC_RUN[@]}" "$@"
}

# fast_bytes LOG [CALL]: bytes the successful fast calls in LOG carried.
# Counts "<unfinished ...>/<... resumed>" pairs once, by their result line.
fast_bytes() {
  local call=${2:-sendfile|splice|copy_file_range}
  awk -v re="($call)" '
    $0 ~ re && $0 ~ /= [0-9]+$/ { sum += $NF }
    END { print sum + 0 }' "$1"
}

# stats_field FILE NAME: the byte count of one line of the ZCOPY_STATS summary.
stats_bytes() {
  awk -v name="$2" '$1 == "zcopy:" && $2 == name { print $3; found=1 } END { if (!found) print "missing" }' "$1"
}
