#!/usr/bin/env bats
# A signal during a blocked write (issue 16, section 1).  tests/progs/stallwrite
# reads a file into a buffer with one read(), arms a SIGALRM and writes the
# buffer in ONE call to a peer that reads nothing yet.  Without zcopy the call
# returns a short count when the signal lands, with or without SA_RESTART:
# old servers time out a stuck client this way.  Under zcopy it must return
# too, and:
#   - with a short positive count (0 < n < total), not the same count: the
#     fast call may fill the pipe or socket to another point;
#   - errno untouched (stallwrite sets 1234 before the call);
#   - the peer then holds exactly the stream's first n bytes, nothing more;
#   - the rest, sent with write() calls, arrives whole;
#   - strace shows the fast call carried bytes before the signal, so the test
#     cannot pass by zcopy doing nothing.
# Each case runs without zcopy, in safe mode under strace, and in trust mode.
# The signal comes 500 ms after it is armed (alarm: 1 s), just before the
# call, which blocks within microseconds: room for a loaded machine.
# stallwrite never waits forever: when the call has not returned 4 s after
# the signal, its peer prints HUNG and starts reading, and the run fails
# (`timeout 20` is a backstop).  TCP over loopback takes 8 MiB in one write
# before it blocks here, so TCP cases write 8 MiB; pipes and unix sockets 1 MiB.

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/stallwrite >&2
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
}

fail() {
  echo "$*" >&2
  return 1
}

# field LINE KEY: KEY's value in stallwrite's "LINE: ..." line.
field() {
  sed -n "s/^$1: .*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$output"
}

# check_run WHAT TOTAL: the stallwrite run in $status/$output returned a
# short count, left errno alone, and its peer got the first n bytes, then all.
check_run() {
  local what=$1 total=$2 ret
  [ "$status" -eq 0 ] || fail "$what: exit $status: $output"
  ret=$(field write ret)
  [ -n "$ret" ] && [ "$ret" -gt 0 ] && [ "$ret" -lt "$total" ] ||
    fail "$what: the write returned '$ret' of $total, not a short positive count: $output"
  [ "$(field write errno)" = 1234 ] || fail "$what: errno changed on success: $output"
  [ "$(field write signals)" -ge 1 ] || fail "$what: no signal landed during the write: $output"
  [ "$(field first got)" = "$ret" ] && [ "$(field first extra)" = 0 ] ||
    fail "$what: the peer did not hold exactly the first $ret bytes: $output"
  [ "$(stat -c %s out.first)" -eq "$ret" ] || fail "$what: out.first is not $ret bytes"
  head -c "$ret" expect | cmp - out.first || fail "$what: the first $ret bytes differ"
  cmp expect out || fail "$what: the whole stream differs"
  [ "$(field final received)" = "$total" ] || fail "$what: $output"
  WRITE_RET=$ret
}

# fast_before_signal LOG: bytes the fast calls in LOG carried before the
# first SIGALRM, i.e. inside the interrupted call (the rest comes after).
fast_before_signal() {
  awk '/--- SIGALRM/ { exit }
    /(sendfile|splice)/ && /= [0-9]+$/ { sum += $NF }
    END { print sum + 0 }' "$1"
}

# stall DEST CALL SOURCE FLAG: stallwrite -d DEST -c CALL -s SOURCE FLAG
# (-r: SA_RESTART, -R: without) without zcopy, in safe mode under strace and
# in trust mode, each checked by check_run.
stall() {
  local dest=$1 call=$2 source=$3 flag=$4 bytes=1048576 delay=500 total fast
  [ "$dest" = tcp ] && bytes=8388608
  [ "$source" = alarm ] && delay=1000
  make_file src "$bytes"
  : > expect
  [ "$call" = writev ] && printf 'X-Stallwrite: header\r\n\r\n' > expect
  cat src >> expect
  total=$(stat -c %s expect)
  local args=(-d "$dest" -c "$call" -s "$source" "$flag" -n "$bytes" -t "$delay" src out)

  run timeout 20 "$PROGS/stallwrite" "${args[@]}"
  check_run "plain" "$total"

  rm -f out out.first
  run timeout 20 strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=sendfile,splice -o trace \
    -- "${ZC_RUN[@]}" "$PROGS/stallwrite" "${args[@]}"
  check_run "safe (strace)" "$total"
  fast=$(fast_before_signal trace)
  [ "$fast" -gt 0 ] && [ "$fast" -le "$WRITE_RET" ] ||
    fail "safe: the fast calls carried $fast bytes before the signal (the write returned $WRITE_RET): $(head -20 trace)"

  rm -f out out.first
  run timeout 20 env ZCOPY_MODE=trust LD_PRELOAD="$ZC_PRELOAD" "${ZC_RUN[@]}" "$PROGS/stallwrite" "${args[@]}"
  check_run "trust" "$total"
}

# ----------------------------------------------------- alarm(1): the matrix ----

@test "alarm(1), SA_RESTART: a 1 MiB write() to a pipe nobody reads returns a short count" {
  stall pipe write alarm -r
}

@test "alarm(1), no SA_RESTART: a 1 MiB write() to a pipe nobody reads returns a short count" {
  stall pipe write alarm -R
}

@test "alarm(1), SA_RESTART: a 1 MiB write() to a unix stream socket nobody reads returns a short count" {
  stall unix write alarm -r
}

@test "alarm(1), no SA_RESTART: a 1 MiB write() to a unix stream socket nobody reads returns a short count" {
  stall unix write alarm -R
}

@test "alarm(1), SA_RESTART: an 8 MiB write() to a TCP peer nobody reads returns a short count" {
  stall tcp write alarm -r
}

@test "alarm(1), no SA_RESTART: an 8 MiB write() to a TCP peer nobody reads returns a short count" {
  stall tcp write alarm -R
}

# ---------------------------------------------- other sources, other calls ----

@test "setitimer(ITIMER_REAL), SA_RESTART: a write() to a unix stream socket nobody reads returns a short count" {
  stall unix write itimer -r
}

@test "timer_create(CLOCK_MONOTONIC), SA_RESTART: a write() to a pipe nobody reads returns a short count" {
  stall pipe write timer -r
}

@test "kill() from another process, SA_RESTART: a write() to a TCP peer nobody reads returns a short count" {
  stall tcp write kill -r
}

@test "kill() from another process, no SA_RESTART: a writev(header, body) to a unix stream socket returns a short count" {
  stall unix writev kill -R
}

@test "setitimer(ITIMER_REAL), no SA_RESTART: a send() to a TCP peer nobody reads returns a short count" {
  stall tcp send itimer -R
}
