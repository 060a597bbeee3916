#!/usr/bin/env bats
# The program changes the file it read, then writes what it read: the
# destination must get the bytes the read returned, in every mode.  In
# trust mode nothing compares the buffer with the file, so zcopy must
# notice the change itself (the file's ctime moved since the read) and
# prove those bytes, or leave the write plain.  A later read the change
# did not touch is still rewritten.

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/ownwrite
}

setup() {
  load test_helper/common
}

# own_change HOW MODE: the plain run's output against zcopy's, and the
# bytes splice carried: the second, untouched 256 KiB only.
own_change() {
  make_file "$BATS_TEST_TMPDIR/src.plain" 1048576
  cp "$BATS_TEST_TMPDIR/src.plain" "$BATS_TEST_TMPDIR/src.zc"
  "$PROGS/ownwrite" "$1" "$BATS_TEST_TMPDIR/src.plain" | cat > "$BATS_TEST_TMPDIR/out.plain"
  ZCOPY_MODE=$2 traced "$BATS_TEST_TMPDIR/trace" "$PROGS/ownwrite" "$1" "$BATS_TEST_TMPDIR/src.zc" \
    > >(cat > "$BATS_TEST_TMPDIR/out.zc")
  wait
  cmp "$BATS_TEST_TMPDIR/out.plain" "$BATS_TEST_TMPDIR/out.zc"
  cmp "$BATS_TEST_TMPDIR/src.plain" "$BATS_TEST_TMPDIR/src.zc"
  fast=$(fast_bytes "$BATS_TEST_TMPDIR/trace" splice)
  echo "splice carried $fast bytes"
  expected=262144
  [ "$1" = ftruncate ] && expected=0  # the second read finds the file cut
  [ "$fast" -eq "$expected" ]
}

@test "trust: the program pwrite()s the range it read on the same fd; the old bytes go out, plainly" {
  own_change pwrite-same trust
}

@test "trust: pwrite() on a second fd of the file it read" {
  own_change pwrite-other trust
}

@test "trust: write() through a second fd" {
  own_change write-other trust
}

@test "trust: writev() through a second fd" {
  own_change writev-other trust
}

@test "trust: ftruncate() of the file it read" {
  own_change ftruncate trust
}

@test "trust: copy_file_range() into the file it read" {
  own_change copy-range trust
}

@test "trust: a fork child pwrite()s the file its parent read" {
  own_change fork-pwrite trust
}

@test "safe: pwrite() on a second fd; the proof keeps the old bytes" {
  own_change pwrite-other safe
}
