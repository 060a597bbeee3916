#!/usr/bin/env bats
# Copy loops zcopy must rewrite.  Each test runs tests/progs/copyloop without
# the library and preloaded under strace (copy_pair), requires identical
# output and offsets, compares the output with what the loop is meant to
# produce, and counts the bytes the fast call carried in the strace log.

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

# ---- destinations -----------------------------------------------------------

@test "file to TCP socket: read+write becomes sendfile" {
  copy_pair "$T/src" -d tcp
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

@test "file to unix stream socket: read+write becomes sendfile" {
  copy_pair "$T/src" -d unix
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

@test "file to pipe: read+write becomes splice" {
  copy_pair "$T/src" -d pipe
  cmp "$T/zc" "$T/src"
  expect_fast splice "$SIZE"
}

@test "file to regular file: read+write becomes copy_file_range, dest offset advances" {
  copy_pair "$T/src" -d file
  cmp "$T/zc" "$T/src"
  grep -qx "offsets src=$SIZE dst=$SIZE" "$T/zc.err"
  expect_fast copy_file_range "$SIZE"
}

@test "file to stdout redirected to a file (fd 1): becomes copy_file_range" {
  "$PROGS/copyloop" -d stdout "$T/src" - >"$T/plain"
  traced "$T/log" "$PROGS/copyloop" -d stdout "$T/src" - >"$T/zc"
  cmp "$T/plain" "$T/zc"
  cmp "$T/zc" "$T/src"
  expect_fast copy_file_range "$SIZE"
}

# ---- source calls -----------------------------------------------------------

@test "pread source at explicit offsets to TCP: sendfile, source offset stays 0" {
  copy_pair "$T/src" -d tcp -r pread
  cmp "$T/zc" "$T/src"
  grep -qx "offsets src=0 dst=-1" "$T/zc.err"
  expect_fast sendfile "$SIZE"
}

@test "pread source to regular file: copy_file_range" {
  copy_pair "$T/src" -d file -r pread
  cmp "$T/zc" "$T/src"
  expect_fast copy_file_range "$SIZE"
}

@test "readv source (two iovecs per buffer) to TCP: sendfile" {
  copy_pair "$T/src" -d tcp -r readv
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

@test "readv source (two iovecs per buffer) to pipe: splice" {
  copy_pair "$T/src" -d pipe -r readv
  cmp "$T/zc" "$T/src"
  expect_fast splice "$SIZE"
}

# ---- sink calls -------------------------------------------------------------

@test "send (flags 0) to TCP: sendfile" {
  copy_pair "$T/src" -d tcp -w send
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

@test "send with MSG_NOSIGNAL to TCP: sendfile" {
  copy_pair "$T/src" -d tcp -w sendnosig
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

@test "send to unix stream socket: sendfile" {
  copy_pair "$T/src" -d unix -w send
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

@test "writev of one buffer to TCP: sendfile" {
  copy_pair "$T/src" -d tcp -w writev
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

@test "writev of one buffer to pipe: splice" {
  copy_pair "$T/src" -d pipe -w writev
  cmp "$T/zc" "$T/src"
  expect_fast splice "$SIZE"
}

@test "writev of one buffer to regular file: copy_file_range" {
  copy_pair "$T/src" -d file -w writev
  cmp "$T/zc" "$T/src"
  expect_fast copy_file_range "$SIZE"
}

@test "sendmsg of one buffer to TCP: sendfile" {
  copy_pair "$T/src" -d tcp -w sendmsg
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

@test "pwrite at explicit dest offsets to regular file: copy_file_range, dest offset stays 0" {
  copy_pair "$T/src" -d file -w pwrite
  cmp "$T/zc" "$T/src"
  grep -qx "offsets src=$SIZE dst=0" "$T/zc.err"
  expect_fast copy_file_range "$SIZE"
}

# ---- buffer patterns --------------------------------------------------------

@test "sub-range of the buffer (-k 100) to TCP: sendfile carries only the written part" {
  copy_pair "$T/src" -d tcp -k 100
  drop_heads "$T/src" 65536 100 >"$T/expected"
  cmp "$T/zc" "$T/expected"
  expect_fast sendfile $((SIZE / 65536 * (65536 - 100)))
}

@test "sub-range of the buffer (-k 100) to regular file: copy_file_range of the written part" {
  copy_pair "$T/src" -d file -k 100
  drop_heads "$T/src" 65536 100 >"$T/expected"
  cmp "$T/zc" "$T/expected"
  expect_fast copy_file_range $((SIZE / 65536 * (65536 - 100)))
}

@test "double buffers, reading ahead into the other one (-2) to TCP: sendfile" {
  copy_pair "$T/src" -d tcp -2
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

@test "double buffers with pread (-2 -r pread) to pipe: splice" {
  copy_pair "$T/src" -d pipe -2 -r pread
  cmp "$T/zc" "$T/src"
  expect_fast splice "$SIZE"
}

@test "one writev gathering 9 buffers of 16 KiB (-g 9) to TCP: sendfile" {
  copy_pair "$T/src" -d tcp -w writev -g 9 -c 16384
  cmp "$T/zc" "$T/src"
  expect_fast sendfile "$SIZE"
}

# A short sendfile can leave a remainder below ZCOPY_MIN_BYTES, which the
# program then writes plainly, so the sendfile total varies from run to run.
# What must hold: sendfile + those plain writes = the file, and no plain
# write was big enough to be rewritten.
@test "non-blocking TCP, SO_SNDBUF 4096, slow reader: sendfile with short counts, bytes intact" {
  "$PROGS/copyloop" -d tcp -N -S 4096 -z 200 "$T/src" "$T/plain"
  traced_ff "$T/log" "$PROGS/copyloop" -d tcp -N -S 4096 -z 200 "$T/src" "$T/zc"
  cmp "$T/plain" "$T/zc"
  cmp "$T/zc" "$T/src"
  logs=$(grep -l '^sendfile(' "$T"/log.*) || fail "no process called sendfile"
  [ "$(echo "$logs" | wc -l)" -eq 1 ] || fail "several processes called sendfile: $logs"
  read -r fast plain big short < <(sender_summary "$logs")
  echo "sendfile $fast, plain writes $plain (largest asked $big), EAGAIN/short sendfiles $short" >&2
  [ $((fast + plain)) -eq "$SIZE" ] || fail "sendfile $fast + plain write $plain != $SIZE"
  [ "$big" -lt 16384 ] || fail "a plain write of $big bytes was not rewritten"
  [ "$fast" -ge $((SIZE / 2)) ] || fail "sendfile carried only $fast bytes"
  [ "$short" -gt 0 ] || fail "no sendfile returned EAGAIN or a short count"
}

# DESIGN.md rule 7: after sendfile/splice the receiver holds page-cache pages
# until it reads them, where the plain write had sent a copy.  copyloop -A
# overwrites its whole source right after the copy, while the receiver has
# not read it all: zcopy must wait until the destination has drained.
# 1 MiB, not 4: loopback TCP takes in nearly all of a file at once, and the
# receiver (5 ms a 64 KiB read, under strace) then needs 64 reads for 4 MiB,
# 0.35-0.8 s with a load of 10-13 on 2 cores, against zcopy's one-second
# limit (README, "Bytes in flight"); 1 MiB drains in about 0.1 s.  With 1 MiB
# a library that does not wait also fails more often on pipe and unix.
@test "the program overwrites its source right after sending it (-A), slow receiver: receivers get the old bytes" {
  head -c 1048576 "$T/src" > "$T/mid"
  for dest in tcp unix pipe; do
    cp "$T/mid" "$T/a"
    "$PROGS/copyloop" -d "$dest" -z 5000 -A "$T/a" "$T/plain"
    cp "$T/mid" "$T/b"
    traced "$T/log" "$PROGS/copyloop" -d "$dest" -z 5000 -A "$T/b" "$T/zc"
    differ "$T/b" "$T/mid"  # the source really was overwritten
    cmp "$T/plain" "$T/mid"
    cmp "$T/zc" "$T/mid" || fail "$dest: the receiver got the overwritten bytes"
    expect_fast 'sendfile|splice' 1048576
  done
}

# Over loopback TCP the peer socket acknowledges what it queues, so SIOCOUTQ
# reads 0 while the receiving socket still holds our page-cache pages: the
# wait asks sock_diag for the peer's receive queue.  One 64 KiB chunk, and a
# receiver that starts reading only after 300 ms (-Z).
@test "the program overwrites its source right after sending it (-A), receiver not reading yet: old bytes" {
  head -c 65536 "$T/src" > "$T/small"
  for dest in tcp unix pipe; do
    cp "$T/small" "$T/a"
    "$PROGS/copyloop" -d "$dest" -Z 300000 -A "$T/a" "$T/plain"
    cp "$T/small" "$T/b"
    traced "$T/log" "$PROGS/copyloop" -d "$dest" -Z 300000 -A "$T/b" "$T/zc"
    differ "$T/b" "$T/small"
    cmp "$T/plain" "$T/small"
    cmp "$T/zc" "$T/small" || fail "$dest: the receiver got the overwritten bytes"
    expect_fast 'sendfile|splice' 65536
  done
}

# Where a netlink socket cannot be made (systemd's RestrictAddressFamilies=
# without AF_NETLINK; tests/progs/nonetlink does it with seccomp), zcopy
# cannot ask sock_diag and waits on the socket's SIOCOUTQ instead: the bytes
# not yet acknowledged.  On loopback the peer's receive queue is not covered
# then (README), so only the first half is required to be the old bytes;
# without any wait, almost all of the output is the overwritten bytes.
@test "no netlink (RestrictAddressFamilies): the program overwrites its source after sending it over TCP: waits on SIOCOUTQ" {
  make -s -C "$ZC_ROOT" tests/progs/nonetlink
  cp "$T/src" "$T/b"
  "$PROGS/nonetlink" strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=sendfile,socket -o "$T/log" -- \
    "${ZC_RUN[@]}" "$PROGS/copyloop" -d tcp -z 5000 -A "$T/b" "$T/zc"
  differ "$T/b" "$T/src"
  grep -q 'socket(AF_NETLINK.* = -1 EAFNOSUPPORT' "$T/log" || fail "zcopy did not try sock_diag"
  half=$((SIZE / 2))
  cmp -n "$half" "$T/zc" "$T/src" || fail "the receiver got overwritten bytes in the first half"
  expect_fast sendfile "$SIZE"
}

# The table of bytes in flight is shared with forked children: a child sends
# the file and exits, its parent then overwrites the file while the receiver
# still holds the pages (a fork-per-connection server whose parent updates
# its files).  Without the shared table the parent does not wait.
@test "a forked child sends the file (-X), then its parent overwrites it (-A), receiver not reading yet: old bytes" {
  head -c 65536 "$T/src" > "$T/small"
  for dest in tcp unix pipe; do
    cp "$T/small" "$T/a"
    "$PROGS/copyloop" -d "$dest" -X -Z 300000 -A "$T/a" "$T/plain"
    cp "$T/small" "$T/b"
    traced "$T/log" "$PROGS/copyloop" -d "$dest" -X -Z 300000 -A "$T/b" "$T/zc"
    differ "$T/b" "$T/small"
    cmp "$T/plain" "$T/small"
    cmp "$T/zc" "$T/small" || fail "$dest: the receiver got the bytes the parent wrote"
    expect_fast 'sendfile|splice' 65536
  done
}

# Every way the program can change its own file waits for the bytes in
# flight, not only write, pwrite and ftruncate: pwritev, pwritev2,
# fallocate, open(O_TRUNC) and fwrite (whose write glibc makes itself).
@test "the source is changed after the copy by pwritev, pwritev2, fallocate, open(O_TRUNC) or fwrite (-H), receiver not reading yet: old bytes" {
  head -c 65536 "$T/src" > "$T/small"
  for how in pwritev pwritev2 fallocate otrunc fwrite; do
    for dest in tcp pipe; do
      cp "$T/small" "$T/b"
      traced "$T/log" "$PROGS/copyloop" -d "$dest" -Z 300000 -A -H "$how" "$T/b" "$T/zc"
      differ "$T/b" "$T/small"
      cmp "$T/zc" "$T/small" || fail "$dest, $how: the receiver got the changed bytes"
      expect_fast 'sendfile|splice' 65536
    done
  done
}

# One change waits one second at most in all, however many destinations
# still hold its bytes: three pipes whose readers never read.  The wait
# sleeps 1 ms at a time; waiting per destination took 3,000 sleeps.
@test "three stalled destinations of one source: the change that follows waits one second in all, not one per destination" {
  make -s -C "$ZC_ROOT" tests/progs/stalled3
  head -c 65536 "$T/src" > "$T/small"
  strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=nanosleep,clock_nanosleep,splice -o "$T/log" -- \
    "${ZC_RUN[@]}" "$PROGS/stalled3" "$T/small"
  sleeps=$(grep -cE 'nanosleep' "$T/log")
  echo "sleeps: $sleeps"
  [ "$sleeps" -gt 100 ]   # it did wait
  [ "$sleeps" -le 1100 ]
  expect_fast splice $((3 * 65536))
}

# Once what zcopy sent has drained, its entry leaves the table: a later
# write to an unrelated file (a server's access log) costs no fstat.
@test "after the bytes in flight drained, writes to another file make no fstat" {
  make -s -C "$ZC_ROOT" tests/progs/drainlog
  strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=getppid,fstat,newfstatat,splice -o "$T/log" -- \
    "${ZC_RUN[@]}" "$PROGS/drainlog" "$T/src" "$T/access.log" | cat > "$T/out"
  head -c 262144 "$T/src" | cmp - "$T/out"
  expect_fast splice 262144
  # Between the second and the third getppid: two writes to the log.
  after=$(awk '/getppid/ { marks++; next } marks == 2 && /fstat/ { n++ } END { print n + 0 }' "$T/log")
  [ "$after" -eq 0 ] || { cat "$T/log" >&2; fail "$after fstat calls after the table emptied"; }
}

# A fork-per-connection server: each child sendfiles its response and exits
# once the client has closed.  Its connection is then gone, and sock_diag,
# asked for those four ends, answers with the listening socket, whose
# wqueue is its backlog: taken as bytes still queued, every entry stayed
# for ever and every later child asked the kernel about each of them again
# (up to 16 asks of 4 syscalls per connection).  Now each entry is asked
# about once or twice, then leaves the table.
@test "fork-per-connection server, closed connections: each dead child's entry is asked about at most twice, then freed" {
  mkdir "$T/www"
  head -c 65536 "$T/src" > "$T/www/f.bin"
  strace -f -qq -xx -E LD_PRELOAD="$ZC_PRELOAD" -e trace=sendto,sendfile -o "$T/log" -- \
    "$EXAMPLES/writev-httpd" -p 0 -P "$T/port" "$T/www" 2>/dev/null 3>&- &
  local server=$!
  for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
  for i in $(seq 12); do
    curl -sS -o "$T/got.$i" "http://127.0.0.1:$(cat "$T/port")/f.bin"
    sleep 0.15  # past the 100 ms between two sweeps of the table
  done
  pkill -TERM -P "$server"
  wait "$server" || true
  for i in $(seq 12); do cmp "$T/got.$i" "$T/www/f.bin"; done
  expect_fast sendfile $((12 * 65536))
  # The same request (the same four ends), by any process: how many times.
  most=$(grep 'NETLINK\|nl_pid' "$T/log" | grep -o '\[{nlmsg_len.*' | sort | uniq -c | sort -rn | awk 'NR == 1 { print $1 + 0 }')
  echo "most asks of one request: ${most:-0}"
  [ "$(grep -c 'NETLINK\|nl_pid' "$T/log")" -gt 0 ] || fail "no sock_diag request: nothing was swept"
  [ "${most:-0}" -le 2 ] || fail "an entry was asked about $most times"
}

# The program closes the destination (here dup2 /dev/null over it, as fuzz
# seeds 48442 and 88069 did) before it overwrites the file.  The receiver
# still holds the pages: TCP is found by its addresses, a unix socket's peer
# by its inode (unix_diag); a pipe cannot be asked once its fd is gone, so
# one closed with bytes unread counts as drained a second after the close.
@test "the destination is dup2'd over (-Y) or closed (-C), then the source overwritten (-A), receiver not reading yet: old bytes" {
  head -c 65536 "$T/src" > "$T/small"
  for how in -Y -C; do
    for dest in tcp unix pipe; do
      cp "$T/small" "$T/b"
      traced "$T/log" "$PROGS/copyloop" -d "$dest" "$how" -Z 300000 -A "$T/b" "$T/zc"
      differ "$T/b" "$T/small"
      cmp "$T/zc" "$T/small" || fail "$dest, $how: the receiver got the overwritten bytes"
      expect_fast 'sendfile|splice' 65536
    done
  done
}
