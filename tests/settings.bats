#!/usr/bin/env bats
# The ZCOPY_* settings: off, bad values, trust, and the statistics summary.
# Every case copies a 1 MiB file to a pipe with tests/progs/pipecopy (a
# read/write loop in 64 KiB chunks), so every write is a splice candidate.

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/pipecopy
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  make_file src 1048576
}

# to_pipe OUT CMD...: runs CMD with stdout on a pipe whose reader (cat, not
# preloaded) saves it in OUT.  Returns CMD's status.
to_pipe() {
  local out=$1; shift
  "$@" | cat > "$out"
  return "${PIPESTATUS[0]}"
}

# equals WHAT GOT WANT: GOT = WANT, saying what differed if not.
equals() {
  if [ "$2" != "$3" ]; then
    echo "$1: got '$2', expected '$3'" >&2
    return 1
  fi
}

@test "ZCOPY_MODE=off makes no fast call and keeps the bytes" {
  # Control: without the setting, the same run is rewritten throughout.
  to_pipe out traced trace "$PROGS/pipecopy" src
  cmp src out
  equals "splice bytes by default" "$(fast_bytes trace splice)" 1048576

  to_pipe out traced trace env ZCOPY_MODE=off "$PROGS/pipecopy" src 2> err
  cmp src out
  equals "fast bytes" "$(fast_bytes trace)" 0
  equals "fast calls" "$(grep -cE '(sendfile|splice|copy_file_range)\(' trace)" 0
  # off is a valid value: nothing on stderr.
  [ ! -s err ]
}

# check_bad_setting VAR VALUE: one "zcopy:" line on stderr, then the program
# runs unaccelerated with its bytes unchanged.
check_bad_setting() {
  # Not under ZC_RUN_PREFIX: valgrind's own launcher would print the line too.
  to_pipe out env "$1=$2" LD_PRELOAD="$ZC_PRELOAD" "$PROGS/pipecopy" src 2> err
  cmp src out
  cat err
  equals "stderr lines" "$(wc -l < err)" 1
  grep -q '^zcopy:' err

  to_pipe tr traced trace env "$1=$2" "$PROGS/pipecopy" src 2> /dev/null
  cmp src tr
  equals "fast bytes" "$(fast_bytes trace)" 0
}

@test "ZCOPY_MODE=bogus: one zcopy: line on stderr, and the copy runs unaccelerated" {
  check_bad_setting ZCOPY_MODE bogus
}

@test "ZCOPY_MIN_BYTES=abc: one zcopy: line on stderr, and the copy runs unaccelerated" {
  check_bad_setting ZCOPY_MIN_BYTES abc
}

@test "ZCOPY_STATS_LIVE=yes: one zcopy: line on stderr, and the copy runs unaccelerated" {
  check_bad_setting ZCOPY_STATS_LIVE yes
}

@test "ZCOPY_CALIBRATE_COSTS=1,2,3,4 (a fourth cost) or 1,0: one zcopy: line on stderr, and the copy runs unaccelerated" {
  check_bad_setting ZCOPY_CALIBRATE_COSTS 1,2,3,4
  check_bad_setting ZCOPY_CALIBRATE_COSTS 1,0
}

@test "ZCOPY_MODE=trust rewrites the whole copy and keeps the bytes" {
  to_pipe out traced trace env ZCOPY_MODE=trust "$PROGS/pipecopy" src 2> err
  cmp src out
  equals "splice bytes" "$(fast_bytes trace splice)" 1048576
  [ ! -s err ]
}

@test "ZCOPY_STATS=1 prints a zcopy: summary on stderr at exit whose splice bytes are the bytes copied" {
  unset ZCOPY_MIN_BYTES  # the summary shows the default
  ZCOPY_STATS=1 to_pipe out with_zcopy "$PROGS/pipecopy" src 2> err
  cmp src out
  cat err
  # Every line is ours.
  equals "lines not starting with zcopy:" "$(grep -vc '^zcopy:' err)" 0
  grep -Eq '^zcopy: summary pid=[0-9]+ .*mode=safe min_bytes=8192( |$)' err
  grep -Eq '^zcopy:   splice [0-9]+ bytes [0-9]+ calls$' err
  equals "splice bytes" "$(stats_bytes err splice)" 1048576
  equals "sendfile bytes" "$(stats_bytes err sendfile)" 0
  equals "copy_file_range bytes" "$(stats_bytes err copy_file_range)" 0
  equals "passed_through bytes" "$(stats_bytes err passed_through)" 0

  # The summary agrees with what strace saw.
  ZCOPY_STATS=1 to_pipe tr traced trace "$PROGS/pipecopy" src 2> err
  cmp src tr
  equals "splice bytes, summary vs strace" "$(stats_bytes err splice)" "$(fast_bytes trace splice)"
}

@test "ZCOPY_STATS=PATH.%p writes the summary to a file named with the pid, not to stderr" {
  # exec keeps the pid: the one bash prints is the program's.
  to_pipe out bash -c 'echo $$ > pid; exec env LD_PRELOAD="$1" ZCOPY_STATS="$2" "$3" src' \
    _ "$ZC_PRELOAD" "$BATS_TEST_TMPDIR/stats.%p" "$PROGS/pipecopy" 2> err
  cmp src out
  [ ! -s err ]
  pid=$(cat pid)
  [ -s "stats.$pid" ]
  equals "stats files" "$(ls stats.* | wc -l)" 1
  cat "stats.$pid"
  grep -q "^zcopy: summary pid=$pid " "stats.$pid"
  equals "splice bytes" "$(stats_bytes "stats.$pid" splice)" 1048576
}
