#!/usr/bin/env bats
# zcopy must never make a system call that kills the program.  Under a
# seccomp filter that kills for one of zcopy's calls (systemd's
# SystemCallFilter=~sendfile), zcopy stays off with one zcopy: line; a
# program that installs its own filter with prctl (vsftpd's sandbox) has
# zcopy stop before the filter is in.  Without either, the program would
# die of SIGSYS at zcopy's first sendfile or splice.

bats_require_minimum_version 1.5.0

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/seckill tests/progs/selffilter tests/progs/copyloop \
    tests/progs/pipecopy tests/progs/forkfilter
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  make_file src 1048576
}

@test "an inherited filter that kills sendfile: the copy to TCP runs plain, exact bytes, one zcopy: line naming it" {
  run --separate-stderr "$PROGS/seckill" sendfile strace -f -qq -o trace -e trace=sendfile,splice \
    env LD_PRELOAD="$ZC_PRELOAD" "$PROGS/copyloop" -d tcp src got
  echo "$stderr"
  [ "$status" -eq 0 ]
  cmp src got
  [ "$(grep -c '^zcopy:' <<<"$stderr")" -eq 1 ]
  grep -q '^zcopy: a seccomp filter in force here kills sendfile(), which zcopy calls; running unaccelerated$' <<<"$stderr"
  # Only zcopy's probe, in a child the filter killed, called it (fd -1).
  ! grep -E '(sendfile|splice)\([0-9]' trace
  grep -q 'killed by SIGSYS' trace
}

@test "an inherited filter that kills splice: the copy to a pipe runs plain, exact bytes" {
  run --separate-stderr "$PROGS/seckill" splice env LD_PRELOAD="$ZC_PRELOAD" "$PROGS/copyloop" -d pipe src got
  [ "$status" -eq 0 ]
  cmp src got
  grep -q 'kills splice()' <<<"$stderr"
}

@test "the program installs its own filter with prctl mid-copy: zcopy stops first, no SIGSYS, exact bytes, none at exit either" {
  strace -f -qq -o trace -e trace=sendfile,splice,prctl -E LD_PRELOAD="$ZC_PRELOAD" \
    "$PROGS/selffilter" src | cat >got
  [ "${PIPESTATUS[0]}" -eq 0 ]
  cmp src got
  # The first chunk went by splice, before the filter; none after it.
  [ "$(fast_bytes trace splice)" -eq 65536 ]
  awk '/PR_SET_SECCOMP/ { on = 1 } on && /splice\(/ { bad = 1 } END { exit bad }' trace
}

@test "a child forked after the program's own filter (one that kills openat) makes no live stats file: no SIGSYS, in safe and off mode" {
  for mode in safe off; do
    run -0 env ZCOPY_MODE=$mode LD_PRELOAD="$ZC_PRELOAD" "${ZC_RUN[@]}" "$PROGS/forkfilter"
  done
}

@test "no filter: nothing is said, and the copy is rewritten as before" {
  run --separate-stderr traced trace "$PROGS/pipecopy" src
  [ "$status" -eq 0 ]
  [ -z "$stderr" ]
  [ "$(fast_bytes trace splice)" -eq 1048576 ]
}
