#!/usr/bin/env bats
# The examples under zcopy: the legacy programs a user would recognise, each
# checked for exact bytes and for the fast call that carried them.  Files are
# 8 MiB + 123 bytes: the 123-byte tail is below the threshold and goes plain.

setup() {
  load test_helper/common
  SRC="$BATS_TEST_TMPDIR/src"
  make_file "$SRC" $((8 * 1024 * 1024 + 123))
}

teardown() {
  if [ -n "${STRACE_PID:-}" ]; then
    pkill -KILL -P "$STRACE_PID" 2>/dev/null || true
    kill "$STRACE_PID" 2>/dev/null || true
  fi
}

@test "legacy-httpd: body sent with sendfile, sha256 matches" {
  mkdir "$BATS_TEST_TMPDIR/www"
  cp "$SRC" "$BATS_TEST_TMPDIR/www/file.bin"
  # strace itself in the background (not a subshell), its fd 3 closed so
  # that bats does not wait for it; the server is strace's child.
  strace -f -qq -E LD_PRELOAD="$ZC_LIB" -e trace=sendfile,splice,copy_file_range \
    -o "$BATS_TEST_TMPDIR/trace" -- "$EXAMPLES/legacy-httpd" -p 0 -P "$BATS_TEST_TMPDIR/port" \
    "$BATS_TEST_TMPDIR/www" >/dev/null 2>"$BATS_TEST_TMPDIR/log" 3>&- &
  STRACE_PID=$!
  for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/port" ] && break; sleep 0.1; done
  port=$(cat "$BATS_TEST_TMPDIR/port")
  curl -sS -o "$BATS_TEST_TMPDIR/got" "http://127.0.0.1:$port/file.bin"
  pkill -TERM -P "$STRACE_PID"
  wait "$STRACE_PID" || true
  STRACE_PID=
  [ "$(sha256sum < "$SRC")" = "$(sha256sum < "$BATS_TEST_TMPDIR/got")" ]
  [ "$(fast_bytes "$BATS_TEST_TMPDIR/trace" sendfile)" -eq $((8 * 1024 * 1024)) ]
}

@test "legacy-cat into a pipe: splice carries the file" {
  "$EXAMPLES/legacy-cat" "$SRC" | cat > "$BATS_TEST_TMPDIR/plain"
  traced "$BATS_TEST_TMPDIR/trace" sh -c '"$1" "$2" | cat > "$3"' sh "$EXAMPLES/legacy-cat" "$SRC" "$BATS_TEST_TMPDIR/got"
  cmp "$BATS_TEST_TMPDIR/plain" "$BATS_TEST_TMPDIR/got"
  cmp "$SRC" "$BATS_TEST_TMPDIR/got"
  [ "$(fast_bytes "$BATS_TEST_TMPDIR/trace" splice)" -eq $((8 * 1024 * 1024)) ]
}

@test "legacy-cp: copy_file_range carries the file, mode kept" {
  chmod 640 "$SRC"
  traced "$BATS_TEST_TMPDIR/trace" "$EXAMPLES/legacy-cp" "$SRC" "$BATS_TEST_TMPDIR/copy"
  cmp "$SRC" "$BATS_TEST_TMPDIR/copy"
  [ "$(stat -c %a "$BATS_TEST_TMPDIR/copy")" = 640 ]
  [ "$(fast_bytes "$BATS_TEST_TMPDIR/trace" copy_file_range)" -eq $((8 * 1024 * 1024)) ]
}
