#!/usr/bin/env bats
# Copy loops zcopy must leave alone.  Each test runs tests/progs/copyloop
# without the library and preloaded under strace, requires identical output,
# and requires that no sendfile, splice or copy_file_range carried a byte.

setup_file() {
  load test_helper/common
  load test_helper/copyloop
  build_copyloop
}

setup() {
  load test_helper/common
  load test_helper/copyloop
  T=$BATS_TEST_TMPDIR
  make_file "$T/src" "$SIZE"
}

# Without this, a library that did nothing would pass every test below.
@test "control: the same copy without a hazard is rewritten" {
  copy_pair "$T/src" -d tcp
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

# ---- the buffer no longer holds the file's bytes ----------------------------

@test "buffer xored after the read (-M all) to TCP: plain write" {
  copy_pair "$T/src" -d tcp -M all
  differ "$T/zc" "$T/src"
  expect_no_fast
}

@test "one byte flipped in the buffer (-M one) to TCP: plain write" {
  copy_pair "$T/src" -d tcp -M one
  [ "$(cmp -l "$T/zc" "$T/src" | wc -l)" -eq $((SIZE / 65536)) ]
  expect_no_fast
}

@test "one byte flipped in the buffer (-M one) to pipe: plain write" {
  copy_pair "$T/src" -d pipe -M one
  [ "$(cmp -l "$T/zc" "$T/src" | wc -l)" -eq $((SIZE / 65536)) ]
  expect_no_fast
}

@test "one byte flipped in the buffer (-M one) to regular file: plain write" {
  copy_pair "$T/src" -d file -M one
  [ "$(cmp -l "$T/zc" "$T/src" | wc -l)" -eq $((SIZE / 65536)) ]
  expect_no_fast
}

@test "source rewritten through another fd between read and write (-R): plain write of the old bytes" {
  # The run overwrites its source, so each run gets a fresh copy.
  cp "$T/src" "$T/a"
  "$PROGS/copyloop" -d tcp -R "$T/a" "$T/a" "$T/plain"
  cp "$T/src" "$T/b"
  traced "$T/log" "$PROGS/copyloop" -d tcp -R "$T/b" "$T/b" "$T/zc"
  cmp "$T/plain" "$T/zc"
  cmp "$T/zc" "$T/src"
  differ "$T/b" "$T/src"  # the source really was rewritten
  expect_no_fast
}

# ---- the source fd no longer refers to the file that was read ---------------

@test "fd reused after fclose+fopen behind zcopy's back (-F): plain write of the first chunk" {
  make_file "$T/other" "$SIZE"
  copy_pair "$T/src" -d tcp -F "$T/other"
  head -c 65536 "$T/src" >"$T/expected"
  cmp "$T/zc" "$T/expected"
  expect_no_fast
}

@test "another file dup2'd over the source fd (-D): plain write of the first chunk" {
  make_file "$T/other" "$SIZE"
  copy_pair "$T/src" -d tcp -D "$T/other"
  head -c 65536 "$T/src" >"$T/expected"
  cmp "$T/zc" "$T/expected"
  expect_no_fast
}

# ---- destinations that are not equivalent -----------------------------------

@test "datagram socket (connected UDP, 32 KiB datagrams): plain send" {
  copy_pair "$T/src" -d udp -c 32768
  cmp "$T/zc" "$T/src"
  expect_no_fast
}

@test "O_APPEND destination file: plain write" {
  copy_pair "$T/src" -d append
  cmp "$T/zc" "$T/src"
  expect_no_fast
}

# ---- sources that are not equivalent ----------------------------------------

# ZCOPY_MIN_BYTES=1 so that procfs, not the size of a read, is the reason.
@test "procfs source (/proc/kallsyms) to TCP: plain write" {
  # procfs files report st_size 0, so look at the content.
  [ -n "$(head -c 1 /proc/kallsyms 2>/dev/null)" ] || skip "/proc/kallsyms is not readable here"
  export ZCOPY_MIN_BYTES=1
  copy_pair /proc/kallsyms -d tcp
  cat /proc/kallsyms >"$T/now"
  [ -s "$T/zc" ]
  cmp "$T/zc" "$T/now"
  expect_no_fast
}

@test "procfs source (/proc/self/maps) to regular file: plain write" {
  export ZCOPY_MIN_BYTES=1
  # Each process has its own maps, so only the zcopy run's own can be checked.
  traced "$T/log" "$PROGS/copyloop" -d file /proc/self/maps "$T/zc"
  grep -q 'copyloop$' "$T/zc"
  grep -q 'libzcopy\.so$' "$T/zc"
  expect_no_fast
}

# ---- writes too small to be worth it ----------------------------------------

@test "4 KiB writes to a regular file are below the default threshold: plain write" {
  copy_pair "$T/src" -d file -c 4096
  cmp "$T/zc" "$T/src"
  expect_no_fast
}

@test "ZCOPY_MIN_BYTES=1000000 keeps 64 KiB writes to TCP plain" {
  export ZCOPY_MIN_BYTES=1000000
  copy_pair "$T/src" -d tcp -c 65536
  cmp "$T/zc" "$T/src"
  expect_no_fast
}

@test "pipe writes of 4096 bytes are never spliced, even with ZCOPY_MIN_BYTES=1" {
  export ZCOPY_MIN_BYTES=1
  copy_pair "$T/src" -d pipe -c 4096
  cmp "$T/zc" "$T/src"
  expect_no_fast
}
