#!/usr/bin/env bats
# README's "Works with" table, checked row by row: each test runs one of
# Debian's programs, unmodified, under zcopy (safe mode, strace -f) as a user
# would, on a file of 2 MiB + 1 (the servers' tests send 64 MiB + 1), checks that the bytes arrive exact, and that
# the row names the installed version and what the fast calls did (method
# and at least the share of bytes it states; "plain, 0%": none at all).
# The four servers' rows are checked by tests/real_servers.bats.

setup_file() {
  load test_helper/common
  load test_helper/real
  load test_helper/servers
  need_real_programs /usr/bin/python3 /bin/nc.openbsd /usr/bin/socat /usr/bin/ncat /usr/bin/busybox /usr/bin/curl
  make_server_dir $SIZE
}

teardown_file() {
  load test_helper/servers
  remove_server_dir
}

setup() {
  load test_helper/common
  load test_helper/real
  load test_helper/servers
  load_server_dir
  T=$BATS_TEST_TMPDIR
  F=$SRV/www/f$SIZE
  SERVER_PIDS=()
  export ZCOPY_MIN_BYTES=$WORKS_MIN_BYTES ZCOPY_CALIBRATE=off
  unset ZCOPY_FILE_TO_FILE  # the default, clone (test_helper/common sets always)
}

teardown() {
  teardown_server_trees
}

SIZE=2097153 # 2 MiB + 1

# row KEY CONF PACKAGE METHOD: README's row against $T/log.
row() {
  check_readme_row "$1" "$2" "$3" "$4" "$(fast_bytes "$T/log" "$4")" "$SIZE"
}

# reason REASON: zcopy was there, and a summary it wrote for this run
# counts writes it left plain for REASON.
reason() {
  local f
  for f in "$T"/log.stats.*; do
    [ -e "$f" ] && [ "$(stats_skip "$f" "$1")" -gt 0 ] && return 0
  done
  cat "$T"/log.stats.* >&2 2>/dev/null
  fail "no zcopy summary counts skip $1"
}

# to_tcp CMD...: CMD, under zcopy and strace, sends F on its stdin to an
# unpreloaded socat listening on 127.0.0.1 ("@PORT@" in CMD: its port).
to_tcp() {
  start_server : socat -u TCP-LISTEN:@PORT@,bind=127.0.0.1,reuseaddr "OPEN:$T/got,creat,trunc"
  zc_traced "$T/log"
  timeout 60 "${ZC_TRACED[@]}" "${@//@PORT@/$PORT}" <"$F"
  wait_exit "$SERVER_PID"
  same_sha "$F" "$T/got"
}

# to_pipe CMD...: CMD, under zcopy and strace, writes into a pipe.
to_pipe() {
  zc_traced "$T/log"
  "${ZC_TRACED[@]}" "$@" | cat >"$T/got"
  same_sha "$F" "$T/got"
}

# http_get SIGNAL: curl downloads F from the server just started, which
# SIGNAL then stops; waits for strace to end, which makes its log complete.
http_get() {
  curl -sS --fail --max-time 60 -o "$T/got" "http://127.0.0.1:$PORT/${F##*/}"
  same_sha "$F" "$T/got"
  pgrep -P "$SERVER_PID" >"$T/server.pid"
  stop_server "$1" "$T/server.pid"
}

@test "README row: python3 -m http.server, a download by curl: sendfile, exact bytes" {
  zc_traced "$T/log"
  # SIGINT back to its default: python turns it into the KeyboardInterrupt that ends it
  start_server : "${ZC_TRACED[@]}" env --default-signal=INT /usr/bin/python3 -m http.server -b 127.0.0.1 -d "$SRV/www" @PORT@
  http_get INT
  row python3 "-m http.server" python3 sendfile
}

@test "README row: busybox httpd, a download by curl: its own sendfile passes through, exact bytes" {
  zc_traced "$T/log"
  start_server : "${ZC_TRACED[@]}" /usr/bin/busybox httpd -f -p 127.0.0.1:@PORT@ -h "$SRV/www"
  http_get TERM
  row busybox "httpd -f" busybox sendfile
}

@test "README row: nc.openbsd -N sending a file: sendfile for its 16 KiB chunks, exact bytes" {
  to_tcp /bin/nc.openbsd -N 127.0.0.1 @PORT@
  row nc.openbsd "-N HOST PORT < FILE" netcat-openbsd sendfile
}

@test "README row: socat sending a file with its 8 KiB buffer: sendfile, exact bytes" {
  to_tcp /usr/bin/socat -u STDIN TCP:127.0.0.1:@PORT@
  row socat "-u STDIN TCP:HOST:PORT < FILE" socat sendfile
}

@test "README row: socat -b 65536 sending a file: sendfile, exact bytes" {
  to_tcp /usr/bin/socat -b 65536 -u STDIN TCP:127.0.0.1:@PORT@
  row socat "-b 65536 -u STDIN TCP:HOST:PORT < FILE" socat sendfile
}

@test "README row: ncat --send-only sending a file: plain (nsock copies each chunk), exact bytes" {
  to_tcp /usr/bin/ncat --send-only 127.0.0.1 @PORT@
  row ncat "--send-only HOST PORT < FILE" ncat sendfile
  reason not_from_file
}

@test "README row: busybox nc sending a file: plain (1 KiB chunks), exact bytes" {
  to_tcp /usr/bin/busybox nc 127.0.0.1 @PORT@
  row busybox "nc HOST PORT < FILE" busybox sendfile
  reason below_min_bytes
}

@test "README row: cat into a pipe: splice, exact bytes" {
  to_pipe /bin/cat "$F"
  row cat "FILE, into a pipe" coreutils splice
}

@test "README row: cp into a pipe: splice, exact bytes" {
  to_pipe /bin/cp "$F" /dev/stdout
  row cp "FILE /dev/stdout, into a pipe" coreutils splice
}

@test "README row: dd bs=64K into a pipe: splice, exact bytes" {
  to_pipe /bin/dd if="$F" bs=64K status=none
  row dd "if=FILE bs=64K, into a pipe" coreutils splice
}

@test "README row: dd into a pipe with its 512-byte blocks: plain, exact bytes" {
  to_pipe /bin/dd if="$F" status=none
  row dd "if=FILE, into a pipe" coreutils splice
  reason below_min_bytes
}

@test "README row: dd bs=64K into a file on ext4: plain by default (dest_fs_copies), exact bytes" {
  case $(stat -f -c %T "$T") in ext2/ext3) ;; *) fail "$T is on $(stat -f -c %T "$T"), not ext4" ;; esac
  zc_traced "$T/log"
  "${ZC_TRACED[@]}" /bin/dd if="$F" of="$T/got" bs=64K status=none
  same_sha "$F" "$T/got"
  row dd "if=FILE of=FILE bs=64K, on ext4" coreutils copy_file_range
  reason dest_fs_copies
}

@test "every row of README's Works with table is measured by a test" {
  local conf n=0
  while IFS= read -r conf; do
    n=$((n + 1))
    grep -qF -- "\"$conf\"" "$ZC_ROOT/tests/works_with.bats" "$ZC_ROOT/tests/real_servers.bats" ||
      grep -qF -- "'$conf'" "$ZC_ROOT/tests/works_with.bats" "$ZC_ROOT/tests/real_servers.bats" ||
      fail "README's Works with row with configuration '$conf' is checked by no test"
  done < <(awk '
    /^## Works with/ { on = 1; next }
    on && /^## / { on = 0 }
    on && /^\| / && !/^\| program / {
      split($0, cell, "|"); c = cell[3]; gsub(/^ +| +$/, "", c); gsub(/`/, "", c); print c
    }' "$ZC_ROOT/README.md")
  [ "$n" -ge 16 ] || fail "README's Works with table has $n rows"
}
