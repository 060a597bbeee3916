#!/usr/bin/env bats
# Debian's `python3 -m http.server`, unmodified, under zcopy.  Its handler
# copies a file with shutil.copyfileobj: read(64 KiB) into a bytes object,
# then sendall() of that object, in one thread per connection
# (ThreadingHTTPServer).  Every chunk of 64 KiB or more becomes a sendfile;
# headers and smaller tails stay plain ("skip below_min_bytes").
# curl downloads; the sha256 of what it received must be the file's.

setup_file() {
  load test_helper/common
  load test_helper/real
  need_real_programs "$PYTHON" /usr/bin/curl
  make_data "$BATS_FILE_TMPDIR/www"
}

setup() {
  load test_helper/common
  load test_helper/real
  T=$BATS_TEST_TMPDIR
  WWW=$BATS_FILE_TMPDIR/www
  SERVER_PIDS=()
}

teardown() {
  teardown_servers
}

CHUNK=65536  # shutil.COPY_BUFSIZE on Linux

# start_http [HTTP/1.1]: the server on WWW, under zcopy and strace.  SIGINT
# is reset to the default: a background job starts with it ignored, and
# python then never turns it into the KeyboardInterrupt that ends it cleanly.
start_http() {
  zc_traced "$T/log"
  serve "${ZC_TRACED[@]}" env --default-signal=INT "$PYTHON" -m http.server \
    -b 127.0.0.1 -d "$WWW" ${1:+-p "$1"} @PORT@
}

url() {
  echo "http://127.0.0.1:$PORT/f$1"
}

# download_sizes SIZE...: one server; curl gets each file in turn, each
# received file must match; then the server stops and STATS names its
# summary.  WANT: the bytes sendfile should have carried.
download_sizes() {
  local s
  WANT=0
  start_http
  for s in "$@"; do
    curl -sS --fail --max-time 60 -o "$T/got$s" "$(url "$s")"
    same_sha "$WWW/f$s" "$T/got$s"
    WANT=$((WANT + $(expected_fast "$s" $CHUNK)))
  done
  stop_traced_server
  STATS=$(one_summary "$T/log.stats.*")
  expect_fast_bytes "$T/log" sendfile "$WANT" "strace"
  [ "$(stats_bytes "$STATS" sendfile)" -eq "$WANT" ]
}

@test "python http.server, files of 0 and 1 byte: exact bytes, no fast call (below_min_bytes)" {
  download_sizes 0 1
  [ "$WANT" -eq 0 ]
  [ "$(stats_skip "$STATS" below_min_bytes)" -ge 1 ]
}

@test "python http.server, 65535 bytes (threshold - 1): exact bytes, the body stays plain (below_min_bytes)" {
  download_sizes 65535
  [ "$WANT" -eq 0 ]
  # the header and the body: two plain sends, both below the threshold
  [ "$(stats_skip "$STATS" below_min_bytes)" -ge 2 ]
  [ "$(stats_bytes "$STATS" passed_through)" -ge 65535 ]
}

@test "python http.server, 65537 bytes (threshold + 1): exact bytes, one sendfile of the 64 KiB chunk, the last byte plain" {
  download_sizes 65537
  [ "$WANT" -eq 65536 ]
  grep -qE '^[0-9]+ +sendfile\([0-9]+, [0-9]+, \[0\] => \[65536\], 65536\) += 65536$' "$T/log"
}

@test "python http.server, 1 MiB + 1: exact bytes, sendfile for the 16 chunks, the last byte plain" {
  download_sizes 1048577
  [ "$WANT" -eq 1048576 ]
  [ "$(grep -c 'sendfile(.* = 65536$' "$T/log")" -eq 16 ]
  [ "$(stats_skip "$STATS" below_min_bytes)" -ge 2 ]  # header, last byte
}

@test "python http.server, 64 MiB: exact bytes, all by sendfile" {
  download_sizes 67108864
  [ "$WANT" -eq 67108864 ]
}

@test "python http.server -p HTTP/1.1: two files on one keep-alive connection" {
  start_http HTTP/1.1
  # num_connects: 1 for the first transfer, 0 when the second reused it
  run curl -sS --fail --max-time 60 -w '%{num_connects}\n' \
    -o "$T/a" "$(url 1048577)" -o "$T/b" "$(url 65537)"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 1 ]
  [ "${lines[1]}" = 0 ]
  same_sha "$WWW/f1048577" "$T/a"
  same_sha "$WWW/f65537" "$T/b"
  stop_traced_server
  want=$((1048576 + 65536))  # the last byte of each file is plain
  expect_fast_bytes "$T/log" sendfile "$want" "strace"
  # both bodies went through one connection: one socket fd for all sendfiles
  [ "$(sed -nE 's/^[0-9]+ +sendfile\(([0-9]+),.*/\1/p' "$T/log" | sort -u | wc -l)" -eq 1 ]
}

@test "python http.server, 4 curls at once: each gets exact bytes, all by sendfile" {
  local sizes=(67108864 1048577 67108864 65537) pids=() i want=0
  start_http
  for i in 0 1 2 3; do
    curl -sS --fail --max-time 60 -o "$T/par$i" "$(url "${sizes[i]}")" 3>&- &
    pids+=($!)
  done
  for i in 0 1 2 3; do
    wait "${pids[i]}"
    same_sha "$WWW/f${sizes[i]}" "$T/par$i"
    want=$((want + $(expected_fast "${sizes[i]}" $CHUNK)))
  done
  stop_traced_server
  expect_fast_bytes "$T/log" sendfile "$want" "strace"
  # four handler threads made them
  [ "$(grep 'sendfile(' "$T/log" | awk '{ print $1 }' | sort -u | wc -l)" -eq 4 ]
}
