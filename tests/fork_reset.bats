#!/usr/bin/env bats
# A fork child undoes what another thread of its parent had half done in
# zcopy when it forked (zc_after_fork_in_child in shim/symbols.c): that
# thread does not exist in the child, so its change would stay half done
# for ever.  tests/progs/libforkmid.so holds the other thread at that point
# while tests/progs/forkmid forks; the child then reads 4 MiB of the file
# into 64 buffers of 64 KiB (as many reads as zcopy remembers at once) and
# writes them to a pipe, and every one of its 64 writes must be rewritten:
#   proof  the SIGBUS handler's install left halfway (zc_proof_after_fork):
#          no proof can be made again, so in safe mode no write is rewritten
#          (no splice).
# The other reset, of a track slot left odd (zc_track_after_fork), is not
# tested here: a test held the thread in clock_gettime, which track.c no
# longer calls while a slot is being filled (since d406868 it makes no
# libc call there), so that test passed without the reset too.
# It neither hangs nor changes a byte without the reset (a reader skips a slot
# that is being written, and a write that is not rewritten is the plain
# one): the child's splices under strace are what shows it.

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/forkmid tests/progs/libforkmid.so >&2
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  make_file src $((4 << 20))
}

# child_splice_bytes MODE: runs forkmid MODE in safe mode under strace, its
# output to a pipe, and prints the bytes that the child's splice calls
# carried.  The child's output must be the file, exactly.
child_splice_bytes() {
  ZCOPY_MODE=safe ZC_PRELOAD="${ZC_PRELOAD_PREFIX:+$ZC_PRELOAD_PREFIX }$PROGS/libforkmid.so $ZC_LIB" \
    traced trace timeout 20 "$PROGS/forkmid" "$1" src 2> err | cat > out
  local status=${PIPESTATUS[0]}
  [ "$status" -eq 0 ] || {
    echo "forkmid $1: status $status" >&2
    cat err >&2
    return 1
  }
  cmp src out >&2
  local child
  child=$(sed -n 's/^forkmid: child=\([0-9]*\)$/\1/p' err)
  [ -n "$child" ] || { cat err >&2; return 1; }
  awk -v pid="$child" '$1 == pid' trace > child.trace
  fast_bytes child.trace splice
}

@test "a fork child ends the SIGBUS handler's install that another thread of the parent had begun (zc_proof_after_fork)" {
  bytes=$(child_splice_bytes proof)
  [ "$bytes" -eq $((4 << 20)) ] || { echo "child spliced $bytes of $((4 << 20)) bytes" >&2; false; }
}
