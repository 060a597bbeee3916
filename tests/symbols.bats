#!/usr/bin/env bats
# A C library that lacks a function zcopy hooks (shim/hooks.def).  A
# mandatory one missing: one "zcopy:" line, then every call is the plain one.
# An optional one missing: no line, only that function goes to the raw
# syscall, everything else is accelerated as usual.  The libraries under test
# are built with ZC_TEST_MISSING=NAME (Makefile, build/test-missing/NAME/),
# where dlsym finds no NAME; the release build has no such code.

MISSING=build/test-missing

setup_file() {
  load test_helper/common
  load test_helper/copyloop
  build_copyloop
  make -s -C "$ZC_ROOT" "$MISSING/read/libzcopy.so" "$MISSING/close_range/libzcopy.so" \
    tests/progs/forkcopy tests/progs/closeall >&2
}

setup() {
  load test_helper/common
  load test_helper/copyloop
  T=$BATS_TEST_TMPDIR
  make_file "$T/src" "$SIZE"
}

# without NAME: the hooks and with_zcopy/traced use the build lacking NAME.
without() {
  ZC_PRELOAD=$ZC_ROOT/$MISSING/$1/libzcopy.so
}

# zcopy_lines FILE: the lines of FILE that zcopy wrote.
zcopy_lines() {
  grep '^zcopy:' "$1" || true
}

# ---- a mandatory symbol -----------------------------------------------------

@test "a libc without read(): one zcopy: line, then plain calls to a TCP socket, a pipe and a file" {
  without read
  for dest in tcp pipe file; do
    "$PROGS/copyloop" -P -d "$dest" "$T/src" "$T/plain" 2>"$T/plain.err"
    # A summary and a log asked for: zcopy is off, so neither comes.
    ZCOPY_STATS=1 ZCOPY_LOG=$T/decisions traced "$T/log" "$PROGS/copyloop" -P -d "$dest" "$T/src" "$T/zc" \
      2>"$T/zc.err"
    cmp "$T/src" "$T/plain"
    cmp "$T/plain" "$T/zc"
    [ "$(zcopy_lines "$T/zc.err")" = "zcopy: the C library has no read(); running unaccelerated" ] ||
      fail "$dest: stderr: $(cat "$T/zc.err")"
    # Apart from that line, the program's stderr (its final offsets) is the plain run's.
    diff "$T/plain.err" <(grep -v '^zcopy:' "$T/zc.err")
    expect_no_fast
    [ ! -e "$T/decisions" ]
  done
}

@test "control: the release build accelerates the same copy, and says nothing" {
  traced "$T/log" "$PROGS/copyloop" -d pipe "$T/src" "$T/zc" 2>"$T/zc.err"
  cmp "$T/src" "$T/zc"
  [ -z "$(zcopy_lines "$T/zc.err")" ]
  expect_fast splice "$SIZE"
}

# glibc's fork runs the program's pthread_atfork handlers and sets the
# child's thread id (CLONE_CHILD_SETTID); the raw syscall would do neither.
@test "a libc without read(): fork is still glibc's fork, and the copy around it is exact" {
  without read
  run "$PROGS/forkcopy" "$T/src" "$T/plain"
  [ "$status" -eq 0 ]
  plain=$output
  run strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=clone,clone3,sendfile,splice,copy_file_range \
    -o "$T/log" -- "$PROGS/forkcopy" "$T/src" "$T/zc"
  [ "$status" -eq 0 ]
  [ "$output" = "zcopy: the C library has no read(); running unaccelerated
$plain" ]
  cmp "$T/src" "$T/zc"
  grep -q 'clone(.*CLONE_CHILD_SETTID' "$T/log" || { cat "$T/log" >&2; false; }
  expect_no_fast
}

# ---- an optional symbol -----------------------------------------------------

@test "a libc without close_range(): no message, close_range still closes, the copy is still spliced" {
  without close_range
  ulimit -n 4096
  "$PROGS/closeall" "$T/src" | cat > "$T/plain"
  cmp "$T/src" "$T/plain"
  ZCOPY_STATS=1 strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=close_range,splice -o "$T/log" -- \
    "$PROGS/closeall" "$T/src" 2>"$T/zc.err" | cat > "$T/zc"
  cmp "$T/src" "$T/zc"
  # The stand-in made the call closeall asked for, and it succeeded.
  grep -Eq '^[0-9]+ +close_range\(3, 4294967295, 0\) += 0$' "$T/log" || { cat "$T/log" >&2; false; }
  [ "$(fast_bytes "$T/log" splice)" -eq "$SIZE" ]
  # zcopy ran, and said nothing but its summary.
  [ "$(stats_bytes "$T/zc.err" splice)" = "$SIZE" ]
  [ -z "$(grep -v '^zcopy: summary \|^zcopy:   ' "$T/zc.err")" ] || fail "stderr: $(cat "$T/zc.err")"
}
