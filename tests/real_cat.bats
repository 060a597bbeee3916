#!/usr/bin/env bats
# Debian's coreutils cat, unmodified, under zcopy.  Into a pipe cat copies
# with read()/write() of 128 KiB: zcopy makes each write of 64 KiB or more
# a splice.  Into a regular file cat already calls copy_file_range itself:
# zcopy passes it through and counts it as "program_fast_calls".  Into a
# file opened with O_APPEND (>>) cat's copy_file_range fails and it falls
# back to read()/write(), which zcopy leaves alone ("skip dest_append").

setup_file() {
  load test_helper/common
  load test_helper/real
  need_real_programs /bin/cat
  make_data "$BATS_FILE_TMPDIR/data"
}

setup() {
  load test_helper/common
  load test_helper/real
  T=$BATS_TEST_TMPDIR
  D=$BATS_FILE_TMPDIR/data
}

CHUNK=131072  # cat's buffer: io_blksize, 128 KiB

@test "cat into a pipe, every size: splice for each 128 KiB read and a tail of 64 KiB or more" {
  local s want stats
  for s in $REAL_SIZES; do
    zc_traced "$T/log.$s"
    "${ZC_TRACED[@]}" /bin/cat "$D/f$s" | sha256sum >"$T/sum.$s"
    [ "$(cut -d' ' -f1 "$T/sum.$s")" = "$(sha256sum <"$D/f$s" | cut -d' ' -f1)" ] ||
      fail "size $s: the reader's sha256 differs"
    want=$(expected_fast "$s" $CHUNK)
    expect_fast_bytes "$T/log.$s" splice "$want" "size $s"
    stats=$(one_summary "$T/log.$s.stats.*")
    [ "$(stats_bytes "$stats" splice)" -eq "$want" ]
  done
  [ "$(stats_skip "$T/log.65535.stats."* below_min_bytes)" -eq 1 ]
  # one splice asked for all 65537 bytes (the pipe may take 64 KiB of them first)
  grep -qE '^[0-9]+ +splice\([0-9]+, \[0\], 1, NULL, 65537, 0\) += [0-9]+$' "$T/log.65537"
}

@test "cat into a regular file, every size: cat's own copy_file_range, passed through and counted" {
  local s stats
  for s in $REAL_SIZES; do
    zc_traced "$T/log.$s"
    "${ZC_TRACED[@]}" /bin/cat "$D/f$s" >"$T/got$s"
    same_sha "$D/f$s" "$T/got$s"
    # cat asks for everything in one call: the count is its, not zcopy's
    grep -qE '^[0-9]+ +copy_file_range\([0-9]+, NULL, 1, NULL, [0-9]{9,}, 0\) += '"$s"'$' "$T/log.$s"
    stats=$(one_summary "$T/log.$s.stats.*")
    [ "$(stats_bytes "$stats" program_fast_calls)" -eq "$s" ]
    [ "$(stats_bytes "$stats" copy_file_range)" -eq 0 ]
  done
}

@test "cat >> file (O_APPEND): cat's copy_file_range fails, zcopy leaves its writes plain (dest_append)" {
  local stats
  head -c 1000 /dev/urandom >"$T/got"
  cat "$T/got" "$D/f1048577" >"$T/want"
  zc_traced "$T/log"
  "${ZC_TRACED[@]}" /bin/cat "$D/f1048577" >>"$T/got"
  same_sha "$T/want" "$T/got"
  grep -qE '^[0-9]+ +copy_file_range\(.* = -1 EBADF' "$T/log"
  expect_fast_bytes "$T/log" 'sendfile|splice|copy_file_range' 0
  stats=$(one_summary "$T/log.stats.*")
  # 8 writes of 128 KiB, then 1 byte
  [ "$(stats_skip "$stats" dest_append)" -eq 8 ]
  [ "$(stats_skip "$stats" below_min_bytes)" -eq 1 ]
  [ "$(stats_bytes "$stats" passed_through)" -eq 1048577 ]
}
