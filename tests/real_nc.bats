#!/usr/bin/env bats
# Debian's OpenBSD netcat (/bin/nc.openbsd), unmodified, under zcopy.  nc
# reads its stdin with read() into a 16384-byte buffer and write()s the
# buffer to the socket.  16 KiB is below the threshold these tests set (64 KiB), so
# there every write stays plain ("skip below_min_bytes").  With
# ZCOPY_MIN_BYTES=16k each full read becomes a sendfile and a shorter tail
# stays plain.
# The peer, an unpreloaded nc, writes what arrives to a file whose sha256
# must be the source's.

setup_file() {
  load test_helper/common
  load test_helper/real
  need_real_programs "$NC"
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

CHUNK=16384  # nc's BUFSIZE

@test "nc -N to a listening nc, 64 KiB threshold: nc's 16 KiB writes stay plain (below_min_bytes), exact bytes" {
  local s stats
  for s in 65537 1048577; do
    serve sh -c 'exec "$0" -l 127.0.0.1 "$1" >"$2"' "$NC" @PORT@ "$T/got$s"
    zc_traced "$T/log.$s"
    timeout 60 "${ZC_TRACED[@]}" "$NC" -N 127.0.0.1 "$PORT" <"$D/f$s"
    wait_exit "$SERVER_PID"
    same_sha "$D/f$s" "$T/got$s"
    expect_fast_bytes "$T/log.$s" sendfile 0 "size $s"
    stats=$(one_summary "$T/log.$s.stats.*")
    # one skip per write: the full 16 KiB reads and the tail
    [ "$(stats_skip "$stats" below_min_bytes)" -eq $(( (s + CHUNK - 1) / CHUNK )) ] ||
      fail "size $s: below_min_bytes $(stats_skip "$stats" below_min_bytes)"
  done
}

@test "nc -N to a listening nc with ZCOPY_MIN_BYTES=16k, every size: sendfile for each full 16 KiB read, exact bytes" {
  local s want
  MIN_BYTES=16384  # expected_fast's threshold
  for s in $REAL_SIZES; do
    # sh execs nc: SERVER_PID is nc's
    serve sh -c 'exec "$0" -l 127.0.0.1 "$1" >"$2"' "$NC" @PORT@ "$T/got$s"
    zc_traced "$T/log.$s"
    ZCOPY_MIN_BYTES=16k timeout 60 "${ZC_TRACED[@]}" "$NC" -N 127.0.0.1 "$PORT" <"$D/f$s"
    wait_exit "$SERVER_PID"
    same_sha "$D/f$s" "$T/got$s"
    want=$(expected_fast "$s" $CHUNK)
    expect_fast_bytes "$T/log.$s" sendfile "$want" "size $s"
    stats=$(one_summary "$T/log.$s.stats.*")
    [ "$(stats_bytes "$stats" sendfile)" -eq "$want" ]
    # a tail under 16 KiB is one plain write, and the summary says why
    [ "$(stats_skip "$stats" below_min_bytes)" -eq $((s % CHUNK != 0)) ] ||
      fail "size $s: below_min_bytes $(stats_skip "$stats" below_min_bytes)"
  done
  grep -qE '^[0-9]+ +sendfile\([0-9]+, 0, \[0\] => \[16384\], 16384\) += 16384$' "$T/log.65537"
}

@test "nc -N -l serving a file to a connecting nc with ZCOPY_MIN_BYTES=16k: the listening side's copy becomes sendfile" {
  local s want
  MIN_BYTES=16384
  for s in 65537 1048577 67108864; do
    zc_traced "$T/log.$s"
    serve env ZCOPY_MIN_BYTES=16k "${ZC_TRACED[@]}" sh -c 'exec "$0" -N -l 127.0.0.1 "$1" <"$2"' "$NC" @PORT@ "$D/f$s"
    timeout 60 "$NC" -d 127.0.0.1 "$PORT" >"$T/got$s"
    wait_exit "$SERVER_PID"
    same_sha "$D/f$s" "$T/got$s"
    want=$(expected_fast "$s" $CHUNK)
    expect_fast_bytes "$T/log.$s" sendfile "$want" "size $s"
    [ "$(stats_bytes "$(one_summary "$T/log.$s.stats.*")" sendfile)" -eq "$want" ]
  done
}
