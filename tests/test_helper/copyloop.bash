# Helpers for the tests that drive tests/progs/copyloop (rewrite.bats,
# refuse.bats).  Load after test_helper/common.

# Test files are this big: 64 chunks of 64 KiB, 256 of 16 KiB, 128 of 32 KiB,
# so no chunk falls below the threshold by accident.
SIZE=$((4 << 20))

fail() {
  echo "$*" >&2
  return 1
}

# build_copyloop: for setup_file.  Builds only the test program, so a library
# in the middle of an edit does not stop it.
build_copyloop() {
  make -s -C "$ZC_ROOT" tests/progs/copyloop >&2 || fail "cannot build copyloop"
  [ -e "$ZC_LIB" ] || fail "$ZC_LIB is missing: run make"
}

# copy_pair SRC OPTION...: runs `copyloop -P OPTION... SRC OUT` twice: plainly
# into $T/plain, and preloaded under strace into $T/zc with the trace in
# $T/log.  Fails unless both succeed with the same output bytes and the same
# stderr (the final offsets line: what the program saw of its fds).
copy_pair() {
  local src=$1; shift
  "$PROGS/copyloop" -P "$@" "$src" "$T/plain" 2>"$T/plain.err" ||
    fail "plain run failed: $(cat "$T/plain.err")"
  traced "$T/log" "$PROGS/copyloop" -P "$@" "$src" "$T/zc" 2>"$T/zc.err" ||
    fail "run with zcopy failed: $(cat "$T/zc.err")"
  cmp "$T/plain" "$T/zc" || fail "output with zcopy differs from the plain run"
  diff "$T/plain.err" "$T/zc.err" || fail "stderr (offsets) with zcopy differs from the plain run"
}

# differ A B: A and B are not identical (bats ignores a failing `! cmd`).
differ() {
  if cmp -s "$1" "$2"; then fail "$1 and $2 are identical"; fi
}

# expect_fast CALL BYTES: the fast calls matching CALL in $T/log carried BYTES.
expect_fast() {
  local got
  got=$(fast_bytes "$T/log" "$1")
  [ "$got" -eq "$2" ] || {
    grep -E "$1" "$T/log" | head -n 5 >&2
    fail "$1 carried $got bytes, expected $2"
  }
}

# expect_no_fast: no sendfile, splice or copy_file_range carried any byte.
expect_no_fast() {
  expect_fast 'sendfile|splice|copy_file_range' 0
}

# drop_heads SRC CHUNK K: SRC with the first K bytes of every CHUNK removed.
drop_heads() {
  local dir=$BATS_TEST_TMPDIR/pieces f
  mkdir -p "$dir"
  split -a 4 -b "$2" "$1" "$dir/p."
  for f in "$dir"/p.*; do tail -c +"$(($3 + 1))" "$f"; done
  rm -rf "$dir"
}

# traced_ff PREFIX CMD...: like traced, but also records write(), in one log
# per process (PREFIX.PID), so that no call is split over two lines.
traced_ff() {
  local prefix=$1; shift
  strace -ff -qq -E LD_PRELOAD="$ZC_PRELOAD" \
    -e trace=sendfile,splice,copy_file_range,write -o "$prefix" -- "${ZC_RUN[@]}" "$@"
}

# sender_summary LOG: for the one process log of traced_ff that calls
# sendfile, prints four numbers: bytes sendfile carried; bytes plain write()s
# to the same fd carried; the largest count such a write() asked for; how many
# sendfile calls returned EAGAIN or fewer bytes than asked for.
sender_summary() {
  awk '
    NR == FNR {
      if (fd == "" && /^sendfile\(/) { fd = $0; sub(/^sendfile\(/, "", fd); sub(/,.*/, "", fd) }
      next
    }
    /^sendfile\(/ {
      if (/= -1 EAGAIN/) short++
      else if (match($0, /, [0-9]+\) += [0-9]+$/)) {
        split(substr($0, RSTART + 2), a, /\) += /)
        fast += a[2]
        if (a[2] + 0 < a[1] + 0) short++
      }
      next
    }
    index($0, "write(" fd ", ") == 1 && match($0, /, [0-9]+\) += -?[0-9]+( .*)?$/) {
      split(substr($0, RSTART + 2), a, /\) += /)
      if (a[1] + 0 > big) big = a[1] + 0
      if (a[2] + 0 > 0) plain += a[2]
    }
    END { print fast + 0, plain + 0, big + 0, short + 0 }' "$1" "$1"
}
