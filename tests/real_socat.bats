#!/usr/bin/env bats
# Debian's socat, unmodified, under zcopy: `socat -u FILE:src <dest>` reads
# the file with read() into its transfer buffer and write()s it out.  Its
# default buffer is 8192 bytes, below the 64 KiB threshold, so nothing is
# rewritten and the summary says "skip below_min_bytes" for every write;
# with -b 65536 each full chunk becomes sendfile (TCP), splice (pipe) or
# copy_file_range (file).  The receiver, an unpreloaded socat, writes what
# arrives to a file whose sha256 must be the source's.

setup_file() {
  load test_helper/common
  load test_helper/real
  need_real_programs /usr/bin/socat
  make_data "$BATS_FILE_TMPDIR/data"
}

setup() {
  load test_helper/common
  load test_helper/real
  T=$BATS_TEST_TMPDIR
  D=$BATS_FILE_TMPDIR/data
  SERVER_PIDS=()
}

teardown() {
  teardown_servers
}

# to_tcp SIZE SOCAT_OPTION...: socat under zcopy sends fSIZE to a socat
# listening on 127.0.0.1; checks the bytes.  Trace in $T/log.SIZE.
to_tcp() {
  local s=$1
  shift
  serve socat -u TCP-LISTEN:@PORT@,bind=127.0.0.1,reuseaddr "OPEN:$T/got$s,creat,trunc"
  zc_traced "$T/log.$s"
  timeout 60 "${ZC_TRACED[@]}" socat "$@" -u "FILE:$D/f$s" "TCP:127.0.0.1:$PORT"
  wait_exit "$SERVER_PID"
  same_sha "$D/f$s" "$T/got$s"
  STATS=$(one_summary "$T/log.$s.stats.*")
}

@test "socat with its default 8192-byte buffer, every size to TCP: exact bytes, no sendfile, below_min_bytes" {
  local s writes
  for s in $REAL_SIZES; do
    to_tcp "$s"
    expect_fast_bytes "$T/log.$s" sendfile 0 "size $s"
    writes=$(((s + 8191) / 8192))
    [ "$(stats_skip "$STATS" below_min_bytes)" -eq "$writes" ] ||
      fail "size $s: below_min_bytes $(stats_skip "$STATS" below_min_bytes), expected $writes"
    [ "$(stats_bytes "$STATS" passed_through)" -eq "$s" ]
  done
}

@test "socat -b 65536, every size to TCP: sendfile for each full chunk and a tail of 64 KiB or more" {
  local s
  for s in $REAL_SIZES; do
    to_tcp "$s" -b 65536
    expect_fast_bytes "$T/log.$s" sendfile "$(expected_fast "$s" 65536)" "size $s"
    [ "$(stats_bytes "$STATS" sendfile)" -eq "$(expected_fast "$s" 65536)" ]
  done
  # threshold - 1 stays plain, and the summary says why
  [ "$(stats_skip "$T/log.65535.stats."* below_min_bytes)" -eq 1 ]
  grep -qE '^[0-9]+ +sendfile\([0-9]+, [0-9]+, \[0\] => \[65536\], 65536\) += 65536$' "$T/log.65537"
}

@test "socat -b 65536, every size to a pipe: splice, exact bytes" {
  local s want
  for s in $REAL_SIZES; do
    zc_traced "$T/log.$s"
    "${ZC_TRACED[@]}" socat -b 65536 -u "FILE:$D/f$s" STDOUT | cat >"$T/got$s"
    same_sha "$D/f$s" "$T/got$s"
    want=$(expected_fast "$s" 65536)
    expect_fast_bytes "$T/log.$s" splice "$want" "size $s"
    [ "$(stats_bytes "$T/log.$s.stats."* splice)" -eq "$want" ]
  done
}

@test "socat -b 65536, every size into a regular file: copy_file_range, exact bytes" {
  local s want
  for s in $REAL_SIZES; do
    zc_traced "$T/log.$s"
    "${ZC_TRACED[@]}" socat -b 65536 -u "FILE:$D/f$s" "OPEN:$T/got$s,creat,trunc"
    same_sha "$D/f$s" "$T/got$s"
    want=$(expected_fast "$s" 65536)
    expect_fast_bytes "$T/log.$s" copy_file_range "$want" "size $s"
    [ "$(stats_bytes "$T/log.$s.stats."* copy_file_range)" -eq "$want" ]
  done
}
