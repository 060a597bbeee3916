#!/usr/bin/env bats
# The copy patterns of issue 6, each with its own program in tests/progs:
#   vecsend    a writev/sendmsg mixing a header (plain memory) with a file body
#   mapwrite   write() straight from an mmap() of the file
#   maptrunc   the same while another process truncates the file
#   stdiocopy  fread() + fwrite()
# and the examples that show them in a server or tool (examples/writev-httpd,
# mmap-httpd, stdio-cat).  Every test compares the bytes (or the program's
# transcript) with a run without zcopy, and reads in strace whether the fast
# call ran where it may, or stayed away where it may not.

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/vecsend tests/progs/mapwrite \
    tests/progs/maptrunc tests/progs/stdiocopy examples/writev-httpd examples/mmap-httpd \
    examples/stdio-cat >&2
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  TRACER=
}

# A server test that failed half-way leaves its server and strace running.
teardown() {
  if [ -n "$TRACER" ] && kill -0 "$TRACER" 2>/dev/null; then
    kill -TERM $(pgrep -P "$TRACER") "$TRACER" 2>/dev/null || true
  fi
}

fail() {
  echo "$*" >&2
  return 1
}

# expect_bytes LOG CALL BYTES: the fast calls matching CALL in LOG carried BYTES.
expect_bytes() {
  local got
  got=$(fast_bytes "$1" "$2")
  [ "$got" -eq "$3" ] || fail "$2 carried $got bytes, expected $3"
}

# traced_per_process PREFIX CALLS CMD...: like `traced`, but records CALLS in
# one log per process (PREFIX.PID), so that a process's calls read in order.
traced_per_process() {
  local prefix=$1 calls=$2; shift 2
  strace -ff -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace="$calls" -o "$prefix" -- "${ZC_RUN[@]}" "$@"
}

# sender_log PREFIX CALL: the one per-process log that made CALL.
sender_log() {
  local logs
  logs=$(grep -l "^$2(" "$1".*) || fail "no process called $2"
  [ "$(wc -l <<<"$logs")" -eq 1 ] || fail "several processes called $2: $logs"
  echo "$logs"
}

# call_shape LOG: the sender's calls on its destination fd (the one its first
# sendfile or splice wrote to) as letters, repeats of F squeezed: C cork on,
# c cork off (TCP_CORK), P plain write/sendto, M sendto with MSG_MORE,
# F sendfile/splice, V a writev/sendmsg that reached the kernel whole (zcopy
# did not split it).
call_shape() {
  local fd
  fd=$(awk -F'[(,]' '/^sendfile\(/ { print $2; exit } /^splice\(/ { print $4; exit }' "$1" | tr -d ' ')
  awk -v fd="$fd" '
    { call = $0; sub(/\(.*/, "", call); arg = $0; sub(/^[a-z0-9_]+\(/, "", arg); sub(/,.*/, "", arg) }
    call == "splice" { split($0, a, /, /); arg = a[3] }
    arg != fd { next }
    /TCP_CORK, \[1\]/ { printf "C"; next }
    /TCP_CORK, \[0\]/ { printf "c"; next }
    call == "sendto" && /MSG_MORE/ { printf "M"; next }
    call == "sendto" || call == "write" { printf "P"; next }
    call == "sendfile" || call == "splice" { printf "F"; next }
    call == "writev" || call == "sendmsg" { printf "V"; next }
  ' "$1" | tr -s F
}

# repeat TEXT N: TEXT N times.
repeat() {
  local i out=
  for ((i = 0; i < $2; i++)); do out+=$1; done
  echo "$out"
}

# ============================================================== vectors ====

VSIZE=$((4 << 20))   # 64 bodies of 64 KiB

# vec_pair OPTION...: vecsend plainly into plain, then preloaded under strace
# (one log per process, trace.PID) into zc; the two must be identical, and
# equal to the same chunks written to a file without zcopy.
vec_pair() {
  make_file src "$VSIZE"
  "$PROGS/vecsend" "$@" src plain 2>plain.err || fail "plain run: $(cat plain.err)"
  traced_per_process trace setsockopt,sendfile,splice,copy_file_range,sendto,write,writev,sendmsg \
    "$PROGS/vecsend" "$@" src zc 2>zc.err || fail "run with zcopy: $(cat zc.err)"
  cmp plain zc
}

@test "writev(header, body) to TCP: header sent plainly with MSG_MORE, body by sendfile" {
  vec_pair -d tcp -w writev
  "$PROGS/vecsend" -d file src expected 2>/dev/null
  cmp expected zc
  log=$(sender_log trace sendfile)
  expect_bytes "$log" sendfile "$VSIZE"
  # Each writev became the header with send(MSG_MORE), then sendfile, which
  # pushes at its end: no TCP_CORK calls.
  shape=$(call_shape "$log")
  [ "$shape" = "$(repeat MF 64)" ] || fail "calls were $shape"
  grep -m1 '^sendto(' "$log" | grep -q '"chunk 0 offset 0 length 65536\\r\\n", 31, MSG_MORE,'
}

@test "sendmsg(header, body, trailer) to TCP: header and trailer plain, body by sendfile, in order, corked around" {
  vec_pair -d tcp -w sendmsg -t
  "$PROGS/vecsend" -d file -t src expected 2>/dev/null
  cmp expected zc
  log=$(sender_log trace sendfile)
  expect_bytes "$log" sendfile "$VSIZE"
  shape=$(call_shape "$log")
  [ "$shape" = "$(repeat CPFPc 64)" ] || fail "calls were $shape"
}

@test "writev(header, body) to TCP the program corked itself: zcopy leaves TCP_CORK alone" {
  vec_pair -d tcp -w writev -C
  log=$(sender_log trace sendfile)
  expect_bytes "$log" sendfile "$VSIZE"
  # Only the program's own cork and uncork.
  shape=$(call_shape "$log")
  [ "$shape" = "C$(repeat MF 64)c" ] || fail "calls were $shape"
}

@test "writev(header, body) to a unix stream socket and to a pipe: split, and no TCP_CORK" {
  vec_pair -d unix -w writev
  log=$(sender_log trace sendfile)
  expect_bytes "$log" sendfile "$VSIZE"
  [ "$(call_shape "$log")" = "$(repeat PF 64)" ] || fail "calls were $(call_shape "$log")"

  rm -f trace.*
  vec_pair -d pipe -w writev
  log=$(sender_log trace splice)
  expect_bytes "$log" splice "$VSIZE"
  [ "$(call_shape "$log")" = "$(repeat PF 64)" ] || fail "calls were $(call_shape "$log")"
}

@test "writev(header, body, trailer) to a regular file: header and trailer written, body by copy_file_range" {
  vec_pair -d file -w writev -t
  log=$(sender_log trace copy_file_range)
  expect_bytes "$log" copy_file_range "$VSIZE"
  [ "$(grep -c '^write(' "$log")" -eq $((2 * 64 + 1)) ]  # and the chunks= line on stderr
  if grep -q '^writev(' "$log"; then fail "a writev reached the kernel whole"; fi
}

# The kernel decides where each call stops, so the fast total varies; what
# must hold is the byte stream, and that short counts really happened.
@test "partial writev on non-blocking TCP (SO_SNDBUF 4096, slow reader): the program resends the rest, bytes exact" {
  vec_pair -d tcp -w writev -t -N -S 4096 -z 200
  "$PROGS/vecsend" -d file -t src expected 2>/dev/null
  cmp expected zc
  read -r short eagain < <(sed -n 's/^chunks=64 short=\([0-9]*\) eagain=\([0-9]*\)$/\1 \2/p' zc.err)
  [ $((short + eagain)) -gt 0 ] || fail "no writev came back short or EAGAIN: $(cat zc.err)"
  log=$(sender_log trace sendfile)
  awk '/^sendfile\(/ && match($0, /, [0-9]+\) += [0-9]+$/) {
         split(substr($0, RSTART + 2), a, /\) += /); if (a[2] + 0 < a[1] + 0) short++ }
       /^sendfile\(.*= -1 EAGAIN/ { short++ }
       END { exit !(short > 0) }' "$log" || fail "no sendfile stopped early"
  fast=$(fast_bytes "$log" sendfile)
  [ "$fast" -ge $((VSIZE / 2)) ] || fail "sendfile carried only $fast bytes"
  # Cork and uncork still pair up around every split call.
  shape=$(call_shape "$log")
  [[ "$shape" =~ ^(C[^Cc]*c|[^Cc])*$ ]] || fail "unbalanced TCP_CORK: $shape"
  [[ "$shape" == *CP* ]] || fail "no writev was split under a cork: $shape"
}

@test "partial writev(header, body) on non-blocking TCP: a header held by MSG_MORE is pushed when the body stops short" {
  vec_pair -d tcp -w writev -N -S 4096 -z 200
  "$PROGS/vecsend" -d file src expected 2>/dev/null
  cmp expected zc
  log=$(sender_log trace sendfile)
  fast=$(fast_bytes "$log" sendfile)
  [ "$fast" -ge $((VSIZE / 2)) ] || fail "sendfile carried only $fast bytes"
  fd=$(awk -F'[(,]' '/^sendfile\(/ { print $2; exit }' "$log" | tr -d ' ')
  # After each send(MSG_MORE) come the sendfile calls of its body.  Where
  # the last of them stopped short (or failed), the writev returned short,
  # and the next call on the socket must be the push: TCP_CORK set to 0.
  # Where the socket was full after the header, the body is not begun: the
  # push follows the header at once.
  awk -v fd="$fd" '
    { arg = $0; sub(/^[a-z0-9_]+\(/, "", arg); sub(/,.*/, "", arg) }
    arg != fd { next }
    held == 1 && /TCP_CORK, \[0\]/ { held = 0; pushed++; next }
    held && /^sendfile\(/ {
      want = $0; sub(/.*, /, "", want); sub(/\).*/, "", want)
      got = $0; sub(/.*= /, "", got); sub(/ .*/, "", got)
      held = (got + 0 != want + 0) ? 2 : 0; next
    }
    held == 2 && /TCP_CORK, \[0\]/ { held = 0; pushed++; next }
    held == 2 { print "not pushed before: " $0; bad = 1; exit }
    /^sendto\(.*MSG_MORE/ { held = 1; more++; next }
    END { printf "more=%d pushed=%d\n", more, pushed; exit bad || more < 64 || pushed == 0 }
  ' "$log" >push.out || fail "$(cat push.out)"
}

@test "writev(header, body, unreadable trailer): the plain call's result and bytes on unix, TCP, pipe and file" {
  make_file src 65536
  for d in unix tcp pipe file; do
    "$PROGS/vecsend" -d "$d" -B src "plain.$d" 2>"plain.$d.err" || fail "plain $d: $(cat "plain.$d.err")"
    ZCOPY_FILE_TO_FILE=always ZCOPY_STATS="$PWD/stats.$d" traced "log.$d" "$PROGS/vecsend" -d "$d" -B src "zc.$d" 2>"zc.$d.err" ||
      fail "$d with zcopy: $(cat "zc.$d.err")"
    # A unix socket sends nothing of a call that faults; the others stop
    # where the kernel chose.  Sending the body first would change both.
    diff "plain.$d.err" "zc.$d.err" || fail "$d: the program saw another result"
    cmp "plain.$d" "zc.$d"
    grep -qx 'zcopy:   skip plain_piece_unreadable 1' "stats.$d" || fail "$d: $(cat "stats.$d")"
    [ "$(fast_bytes "log.$d")" -eq 0 ] || fail "$d: a fast call ran"
  done
  # The unix socket's plain result falls short of header and body (31 +
  # 65536 bytes): the body sent first would have given more.
  r=$(sed -n 's/^bad trailer: r=\(-*[0-9]*\) .*/\1/p' plain.unix.err)
  [ "$r" -lt 65567 ] || fail "unix: $(cat plain.unix.err)"
}

# ============================================================= mappings ====

# A mapping from file offset 65536, written from byte 100 on: 16 chunks of
# 64 KiB and a last one of 20000 bytes, all above ZCOPY_MIN_BYTES.
MAP_OFF=65536
MAP_SKIP=100
MAP_LEN=$((16 * 65536 + 20000))
# The fast calls stop at the last whole page of the file: past it a plain
# write from the mapping sends the page's zero fill (or fails), so zcopy
# sends that partial page plainly.
MAP_FAST=$(( ((MAP_OFF + MAP_SKIP + MAP_LEN) & ~4095) - MAP_OFF - MAP_SKIP ))

# map_pair OPTION...: mapwrite plainly into plain, then preloaded under strace
# into zc, both from the same file src; the outputs must be identical.
map_pair() {
  [ -e src ] || make_file src $((MAP_OFF + MAP_SKIP + MAP_LEN))
  "$PROGS/mapwrite" -o "$MAP_OFF" -s "$MAP_SKIP" "$@" src plain || fail "plain run failed"
  ZCOPY_STATS="$PWD/stats" traced log "$PROGS/mapwrite" -o "$MAP_OFF" -s "$MAP_SKIP" "$@" src zc ||
    fail "run with zcopy failed"
  cmp plain zc
}

# The bytes the mapping holds from MAP_SKIP on: the file from MAP_OFF+MAP_SKIP.
map_expected() {
  tail -c +$((MAP_OFF + MAP_SKIP + 1)) src
}

@test "write() from a MAP_SHARED mapping: splice, sendfile, copy_file_range at the mapping's file offset" {
  local d call
  for d in pipe:splice tcp:sendfile file:copy_file_range; do
    call=${d#*:}
    map_pair -m shared -d "${d%:*}"
    cmp zc <(map_expected)
    expect_bytes log "$call" "$MAP_FAST"
  done
}

@test "write() from a MAP_PRIVATE mapping that was never writable: rewritten without a proof" {
  local d call
  for d in file:copy_file_range unix:sendfile; do
    call=${d#*:}
    map_pair -m private -d "${d%:*}"
    cmp zc <(map_expected)
    expect_bytes log "$call" "$MAP_FAST"
  done
}

@test "a private mapping made writable but unchanged is proven equal to the file and rewritten" {
  map_pair -m private-rw -d pipe
  cmp zc <(map_expected)
  expect_bytes log splice "$MAP_FAST"
  map_pair -m mprotect -d tcp
  cmp zc <(map_expected)
  expect_bytes log sendfile "$MAP_FAST"
}

# The byte at mapping offset 200000 lies in the chunk written from
# 100 + 3 * 65536: that chunk must go out plainly, the others need not.
@test "a private mapping changed in one byte (PROT_WRITE at mmap, or mprotect): that chunk stays plain" {
  local m
  for m in private-rw mprotect; do
    map_pair -m "$m" -x 200000 -d pipe
    [ "$(cmp -l zc <(map_expected) | wc -l)" -eq 1 ] || fail "$m: not exactly the flipped byte differs"
    expect_bytes log splice $((MAP_FAST - 65536))
    grep -qx 'zcopy:   skip private_map_changed 1' stats || fail "$m: $(cat stats)"
    rm -f stats
  done
}

@test "a private mapping changed in one byte is refused in trust mode too" {
  ZCOPY_MODE=trust map_pair -m mprotect -x 200000 -d tcp
  [ "$(cmp -l zc <(map_expected) | wc -l)" -eq 1 ]
  expect_bytes log sendfile $((MAP_FAST - 65536))
  grep -qx 'zcopy:   skip private_map_changed 1' stats
}

@test "the mapping's fd closed right after mmap: the source is gone, every write stays plain" {
  map_pair -m shared -C -d pipe
  cmp zc <(map_expected)
  expect_bytes log 'sendfile|splice|copy_file_range' 0
  grep -q '^zcopy:   skip source_fd_changed 17$' stats || fail "$(cat stats)"
}

# Library bug (reported): pkey_mprotect() is not hooked, so a private mapping
# made writable through it still counts as never writable, and zcopy sends
# the file's bytes instead of the changed buffer.
@test "a private mapping made writable with pkey_mprotect and changed in one byte: that chunk stays plain" {
  map_pair -m pkey -x 200000 -d file
  [ "$(cmp -l zc <(map_expected) | wc -l)" -eq 1 ]
  expect_bytes log copy_file_range $((MAP_FAST - 65536))
}

# Library bug (reported): after splice/sendfile the receiver still holds the
# page-cache pages, and stores through a writable MAP_SHARED mapping reach
# them without passing any hook.  The plain write delivered a snapshot.
@test "a writable MAP_SHARED mapping overwritten after each write(): the reader gets the bytes as written" {
  make_file orig $((MAP_OFF + MAP_SKIP + MAP_LEN))
  cp orig src
  "$PROGS/mapwrite" -o "$MAP_OFF" -s "$MAP_SKIP" -m shared-rw -W -d pipe src plain
  cp orig src
  with_zcopy "$PROGS/mapwrite" -o "$MAP_OFF" -s "$MAP_SKIP" -m shared-rw -W -d pipe src zc
  cmp plain zc
  cp orig src
  cmp plain <(map_expected)
}

# ========================================================== truncation ====

# The file is 1 MiB, written in 64 KiB chunks from a MAP_SHARED mapping;
# after chunk 3 (bytes up to 262144) a child truncates it.  The receiver is
# slow, so chunk 3 is still in the pipe or socket when that happens: only
# bytes past the new end are ever missing from the file.

# trunc_pair DEST SIZE: runs maptrunc plainly and preloaded under strace, each
# on a fresh copy of orig; leaves the transcripts in plain.out and zc.out, the
# received bytes in plain and zc, the exit statuses in plain_status and
# zc_status.
trunc_pair() {
  [ -e orig ] || make_file orig 1048576
  cp orig src
  plain_status=0
  "$PROGS/maptrunc" -d "$1" -t "$2" src plain >plain.out || plain_status=$?
  cp orig src
  zc_status=0
  traced log "$PROGS/maptrunc" -d "$1" -t "$2" src zc >zc.out || zc_status=$?
  [ "$(stat -c %s src)" -eq "$2" ] || fail "the file was not truncated"
}

# same_outcome: the program reports the same calls, results and exit status,
# and the receiver got the same bytes, which the file held before.
same_outcome() {
  diff plain.out zc.out || fail "the program saw different results"
  [ "$plain_status" -eq "$zc_status" ] || fail "exit status $plain_status without zcopy, $zc_status with"
  cmp plain zc
  cmp zc <(head -c "$(stat -c %s zc)" orig)
}

@test "mapping truncated at the end of the chunk just sent, pipe: same results, same bytes, no crash" {
  trunc_pair pipe 262144
  same_outcome
  [ "$zc_status" -eq 3 ]
  grep -qx 'write 262144 65536 = -1 EFAULT' zc.out
  [ "$(stat -c %s zc)" -eq 262144 ]
  expect_bytes log splice 262144
}

@test "mapping truncated at the end of the chunk just sent, TCP and unix: same results, same bytes" {
  local d
  for d in tcp unix; do
    trunc_pair "$d" 262144
    same_outcome
    [ "$zc_status" -eq 3 ]
    expect_bytes log sendfile 262144
  done
}

@test "mapping truncated inside the next chunk at a page boundary, pipe: the same short write, then EFAULT" {
  trunc_pair pipe 299008
  same_outcome
  grep -qx 'write 262144 65536 = 36864' zc.out
  grep -qx 'write 299008 28672 = -1 EFAULT' zc.out
  [ "$(stat -c %s zc)" -eq 299008 ]
  # The chunks before the truncation were spliced.  The write that meets it
  # was the plain call: past the new end of file its memory cannot be read
  # (plain_piece_unreadable), so the kernel decides where it stops.
  expect_bytes log splice 262144
}

# The plain write() copies the whole last page of the file, zero-filled past
# the new end (303104 bytes in all), then faults.  zcopy leaves that write
# plain, as above.
@test "mapping truncated inside a page, pipe: the same short write, then EFAULT" {
  trunc_pair pipe 300000
  diff plain.out zc.out
  [ "$plain_status" -eq "$zc_status" ]
  cmp plain zc
  [ "$(stat -c %s zc)" -eq 303104 ]
  cmp <(head -c 300000 zc) <(head -c 300000 orig)
  cmp <(tail -c +300001 zc) <(head -c 3104 /dev/zero)
  expect_bytes log splice 262144
}

# On a socket the plain write() stops where the kernel's copy into socket
# buffers faults, which depends on how it sized them and on what the reader
# has taken (TCP at 294858 for a new size of 299008, unix at 298688, seen
# here).  zcopy leaves the write that meets the truncation plain, as above.
# Both runs report a short write then EFAULT, and both delivered only bytes
# the file held.
@test "mapping truncated inside the next chunk, TCP and unix: short write then EFAULT, no byte past EOF" {
  local d size
  for d in tcp unix; do
    for size in 299008 300000 400000; do
      trunc_pair "$d" "$size"
      [ "$plain_status" -eq 3 ] && [ "$zc_status" -eq 3 ] || fail "$d $size: status $plain_status, $zc_status"
      for which in plain zc; do
        sent=$(sed -n 's/^sent //p' "$which.out")
        grep -Eq '= -1 EFAULT$' "$which.out" || fail "$d $size $which: no EFAULT"
        [ "$(stat -c %s "$which")" -eq "$sent" ] || fail "$d $size $which: received != sent $sent"
        cmp "$which" <(head -c "$sent" orig)
        [ "$sent" -ge 262144 ] || fail "$d $size $which: lost chunks already sent"
      done
      # Up to the truncation both runs saw the same, and zcopy sent it fast.
      diff <(sed '/^truncated/q' plain.out) <(sed '/^truncated/q' zc.out)
      # Every whole chunk before the new end went fast; the one meeting it not.
      [ "$(fast_bytes log sendfile)" -eq $((size / 65536 * 65536)) ] || fail "$d $size: sendfile carried $(fast_bytes log sendfile)"
      [ "$(sed -n 's/^sent //p' zc.out)" -le "$size" ] || fail "$d $size: zcopy sent past EOF"
    done
  done
}

# ================================================================ stdio ====

SSIZE=$((4 * 1048576 + 12345))   # 64 chunks of 64 KiB, and a 12345-byte tail

# The 64 full chunks go fast; the tail is below ZCOPY_MIN_BYTES.
@test "fread/fwrite 64 KiB to stdout on a pipe: splice" {
  make_file src "$SSIZE"
  "$PROGS/stdiocopy" src | cat >plain
  traced log "$PROGS/stdiocopy" src | cat >zc
  cmp plain zc
  cmp src zc
  expect_bytes log splice $((64 * 65536))
}

@test "fread/fwrite 64 KiB to stdout on a file: copy_file_range" {
  make_file src "$SSIZE"
  "$PROGS/stdiocopy" src >plain
  traced log "$PROGS/stdiocopy" src >zc
  cmp plain zc
  cmp src zc
  expect_bytes log copy_file_range $((64 * 65536))
}

@test "fread/fwrite 64 KiB to stdout on a TCP socket and a unix socket: sendfile" {
  local d
  make_file src "$SSIZE"
  for d in tcp unix; do
    "$PROGS/stdiocopy" -s "$d" src plain
    traced log "$PROGS/stdiocopy" -s "$d" src zc
    cmp plain zc
    cmp src zc
    expect_bytes log sendfile $((64 * 65536))
  done
}

# -S: an fseek first makes stdio cache the file offset in the stream, which
# must then count what zcopy wrote behind its back.
@test "fread/fwrite with an fprintf before each chunk, stdout a file: bytes and every ftell as without zcopy" {
  local seek
  make_file src "$SSIZE"
  for seek in "" -S; do
    "$PROGS/stdiocopy" -p -t $seek src >plain 2>plain.err
    traced log "$PROGS/stdiocopy" -p -t $seek src >zc 2>zc.err
    cmp plain zc
    diff plain.err zc.err
    [ "$(grep -c '^ftell chunk' zc.err)" -eq 65 ]
    grep -qx "ftell end $(stat -c %s zc)" zc.err
    [ "$(grep -ao -- '-- chunk [0-9]*, [0-9]* bytes --' zc | wc -l)" -eq 65 ]
    expect_bytes log copy_file_range $((64 * 65536))
  done
}

@test "fread/fwrite with an fprintf before each chunk, stdout a pipe: bytes in order" {
  make_file src "$SSIZE"
  "$PROGS/stdiocopy" -p src | cat >plain
  traced log "$PROGS/stdiocopy" -p src | cat >zc
  cmp plain zc
  expect_bytes log splice $((64 * 65536))
}

@test "fwrite smaller than the stream's buffer (setvbuf 1 MiB, 64 KiB fwrites): plain, logged as stdio_buffered" {
  make_file src "$SSIZE"
  "$PROGS/stdiocopy" -b 1048576 src | cat >plain
  ZCOPY_LOG=stderr traced log "$PROGS/stdiocopy" -b 1048576 src 2>err | cat >zc
  cmp plain zc
  cmp src zc
  expect_bytes log 'sendfile|splice|copy_file_range' 0
  grep -q 'action=skip .*reason=stdio_buffered' err || fail "$(cat err)"
  if grep -q 'action=rewrite' err; then fail "a rewrite was logged"; fi
}

@test "fwrite to a stream also open for reading (fopen w+): plain, logged as stdio_stream" {
  make_file src "$SSIZE"
  "$PROGS/stdiocopy" -o plain -m w+ src
  ZCOPY_LOG=stderr traced log "$PROGS/stdiocopy" -o zc -m w+ src 2>err
  cmp plain zc
  expect_bytes log 'sendfile|splice|copy_file_range' 0
  grep -q 'action=skip .*reason=stdio_stream' err || fail "$(cat err)"
}

@test "fwrite to a pipe nobody reads: the same short count, error indicator and errno" {
  make_file src "$SSIZE"
  run "$PROGS/stdiocopy" -s closed src
  [ "$status" -eq 3 ]
  plain=$(grep -v '^SIGPIPE' <<<"$output")
  grep -qx 'fwrite 65536 = 0 ferror=1 errno=EPIPE' <<<"$plain"
  run traced log "$PROGS/stdiocopy" -s closed src
  [ "$status" -eq 3 ]
  diff <(echo "$plain") <(grep -v '^SIGPIPE' <<<"$output")
  grep -Eq '^[0-9]* *splice\(.* = -1 EPIPE' log   # zcopy did try
}

# Library bug (reported): the splice fails with EPIPE and raises SIGPIPE, and
# then glibc's fwrite, handed the remainder, raises a second one.  With text
# buffered first, zcopy's fflush fails (one SIGPIPE) and discards it, and
# glibc's fwrite then takes a whole buffer (4096) where the plain fwrite took
# what was left of it (4069) and raised one SIGPIPE.
@test "fwrite to a pipe nobody reads, with and without an fprintf first: the same count, one SIGPIPE" {
  local p
  make_file src "$SSIZE"
  for p in "" -p; do
    run "$PROGS/stdiocopy" $p -s closed src
    [ "$status" -eq 3 ]
    plain=$output
    grep -qx 'SIGPIPE 1' <<<"$plain"
    run with_zcopy "$PROGS/stdiocopy" $p -s closed src
    diff <(echo "$plain") <(echo "$output")
  done
}

# ============================================================= examples ====

# start_traced LOG CALLS PORTFILE CMD...: starts a server preloaded under
# strace -f in the background and waits for PORTFILE; sets PORT and TRACER.
start_traced() {
  local log=$1 calls=$2 portfile=$3 i; shift 3
  rm -f "$portfile"
  # fd 3 closed: bats waits for whoever holds it.
  strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace="$calls" -o "$log" -- "${ZC_RUN[@]}" "$@" 2>server.err 3>&- &
  TRACER=$!
  for ((i = 0; i < 100; i++)); do
    [ -s "$portfile" ] && break
    sleep 0.1
  done
  [ -s "$portfile" ] || fail "server did not start: $(cat server.err)"
  PORT=$(cat "$portfile")
}

# stop_traced: SIGTERM to the server (strace's child); its exit status.
stop_traced() {
  local server
  server=$(pgrep -P "$TRACER") || fail "server is gone"
  kill -TERM "$server"
  timeout 20 tail --pid="$TRACER" -f /dev/null || fail "server did not stop"
  wait "$TRACER"
}

# docroot: a 32 MiB - 1 file (its last chunk is not a full one) and an index.
make_docroot() {
  mkdir -p www
  make_file www/big.bin $((32 * 1048576 - 1))
  echo '<h1>it works</h1>' >www/index.html
}

@test "example writev-httpd: curl downloads the file intact, the body goes by sendfile, its head sent with MSG_MORE" {
  make_docroot
  start_traced log setsockopt,sendfile,sendto,writev "$PWD/port" "$EXAMPLES/writev-httpd" -p 0 -P "$PWD/port" www
  curl -sS --max-time 60 -o got "http://127.0.0.1:$PORT/big.bin" -o index "http://127.0.0.1:$PORT/"
  curl -sS --max-time 60 -o missing -w '%{http_code}\n' "http://127.0.0.1:$PORT/nope" >code
  stop_traced
  [ "$(sha256sum <got | cut -d' ' -f1)" = "$(sha256sum <www/big.bin | cut -d' ' -f1)" ]
  cmp www/index.html index
  grep -qx 404 code
  grep -qx 'GET /big.bin 200 33554431' server.err
  grep -qx 'writev-httpd: shutting down' server.err
  expect_bytes log sendfile $((32 * 1048576 - 1))
  # The first writev (head + first chunk) was split: the head with
  # MSG_MORE, so that it leaves in one segment with the chunk's start.
  awk '/sendto\(.*"HTTP\/1.1 200 OK.*MSG_MORE/ { c = 1; next }
       c == 1 && /sendfile\(/ { ok = 1; exit }
       c == 1 { exit }
       END { exit !ok }' log || fail "no head with MSG_MORE, then sendfile"
}

@test "example writev-httpd: a connection process pays no fcntl and no TCP_CORK calls for its head + body writev" {
  mkdir -p www
  make_file www/one.bin 65536  # one chunk: one writev of head and body
  start_traced log fcntl,getsockopt,setsockopt,sendto,sendfile "$PWD/port" "$EXAMPLES/writev-httpd" -p 0 -P "$PWD/port" www
  curl -sS --max-time 60 -o got "http://127.0.0.1:$PORT/one.bin"
  stop_traced
  cmp www/one.bin got
  pid=$(awk '/ sendfile\(/ { print $1; exit }' log)
  [ -n "$pid" ] || fail "no sendfile: $(cat log)"
  grep "^$pid " log >conn
  expect_bytes conn sendfile 65536
  grep -q 'sendto(.*MSG_MORE' conn || fail "head not sent with MSG_MORE: $(cat conn)"
  # A socket is never O_RDONLY or O_DIRECT; MSG_MORE replaced the cork.
  if grep -E 'fcntl\(|TCP_CORK' conn; then fail "calls zcopy no longer needs"; fi
  # What is left on the socket: its type and domain, asked once.
  [ "$(grep -c 'getsockopt(' conn)" -eq 2 ] || fail "getsockopt calls: $(grep getsockopt conn)"
}

# The memory checkers' builds are bound lazily, and libasan intercepts calls.
# bats test_tags=release-build-only
@test "example writev-httpd: a connection process rewrites without binding any of zcopy's libc calls itself (bound at load)" {
  # Bound lazily, every forked process looked each one up again (5% of the
  # server's CPU at 64 KiB).  ld.so logs each binding with the binder's pid.
  make_docroot
  LD_DEBUG=bindings LD_DEBUG_OUTPUT="$PWD/ld" \
    start_traced log sendfile "$PWD/port" "$EXAMPLES/writev-httpd" -p 0 -P "$PWD/port" www
  curl -sS --max-time 60 -o got "http://127.0.0.1:$PORT/big.bin"
  stop_traced
  cmp www/big.bin got
  expect_bytes log sendfile $((32 * 1048576 - 1))
  local child lib_bindings
  child=$(awk '/sendfile\(/ { print $1; exit }' log)
  lib_bindings="binding file $ZC_LIB \\[0\\] to "
  # The accepting process bound the library's calls, at load ...
  grep -qE "^ *[0-9]+:[[:space:]]+$lib_bindings" ld.* || fail "ld.so logged no binding of $ZC_LIB"
  # ... and the connection process that sent the file bound its own, none of them.
  grep -q "^ *$child:" ld.* || fail "ld.so logged nothing for the connection process $child"
  if grep -E "^ *$child:[[:space:]]+$lib_bindings" ld.*; then
    fail "the connection process $child bound calls of zcopy's (above)"
  fi
}

@test "example mmap-httpd: curl downloads the file intact, each mapped segment goes by sendfile" {
  make_docroot
  start_traced log sendfile,mmap "$PWD/port" "$EXAMPLES/mmap-httpd" -p 0 -s 1048576 -P "$PWD/port" www
  curl -sS --max-time 60 -o got "http://127.0.0.1:$PORT/big.bin" -o index "http://127.0.0.1:$PORT/"
  stop_traced
  [ "$(sha256sum <got | cut -d' ' -f1)" = "$(sha256sum <www/big.bin | cut -d' ' -f1)" ]
  cmp www/index.html index
  grep -qx 'GET /big.bin 200 33554431' server.err
  grep -qx 'mmap-httpd: shutting down' server.err
  expect_bytes log sendfile $(( (32 * 1048576 - 1) & ~4095 ))
  # 32 segments of 1 MiB, each mapped, the last at offset 31 MiB.
  [ "$(grep -Ec 'mmap\(NULL, 104857[56], PROT_READ, MAP_SHARED' log)" -eq 32 ]
  grep -q 'sendfile([0-9]*, [0-9]*, \[32505856\]' log
}

# stdio-cat as a CGI behind an inetd-style launcher: socat accepts the
# connection and execs a script on it, whose stdout is the TCP socket.
@test "example stdio-cat: as a CGI behind socat, curl downloads the file intact, fwrite went by sendfile" {
  make_file src $((5 * 1048576 + 20000))
  cat >cgi <<EOF
#!/bin/bash
# bash reads a socket a byte at a time: the request head, and nothing more.
while IFS= read -r line && [ "\$line" != \$'\r' ]; do :; done
exec "$EXAMPLES/stdio-cat" -H 'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n' "\$1"
EOF
  chmod +x cgi
  strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=sendfile,write -o log -- \
    socat -d -d TCP-LISTEN:0,bind=127.0.0.1,reuseaddr EXEC:"$PWD/cgi $PWD/src",nofork 2>socat.err 3>&- &
  TRACER=$!
  for ((i = 0; i < 100; i++)); do
    grep -q 'listening on' socat.err && break
    sleep 0.1
  done
  port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' socat.err)
  [ -n "$port" ] || fail "socat did not listen: $(cat socat.err)"
  curl -sS --max-time 60 -o got "http://127.0.0.1:$port/download"
  timeout 20 tail --pid="$TRACER" -f /dev/null
  wait "$TRACER"
  [ "$(sha256sum <got | cut -d' ' -f1)" = "$(sha256sum <src | cut -d' ' -f1)" ]
  expect_bytes log sendfile $((5 * 1048576 + 20000))
  # The header printed before the first fwrite went out first, plainly.
  [ "$(grep -m1 -E 'write\(1, |sendfile\(1, ' log | grep -c 'write(1, "HTTP/1.0 200 OK')" -eq 1 ]
}

@test "example stdio-cat: two files concatenated into a pipe, by splice" {
  make_file a $((1048576 + 100))
  make_file b 1048576
  "$EXAMPLES/stdio-cat" a b | cat >plain
  traced log "$EXAMPLES/stdio-cat" a b | cat >zc
  cmp plain zc
  cmp <(cat a b) zc
  # Every 64 KiB fread is at a file's start or a chunk boundary; the 100-byte
  # tail of a stays plain.
  expect_bytes log splice $((2 * 1048576))
}
