#!/usr/bin/env bats
# Fast calls that fail, stop short or return 0, injected with a seccomp
# filter (tests/progs/faultinject), and what zcopy does about each:
#   EINVAL, ENOSYS, EXDEV, EOPNOTSUPP, 0 bytes: the plain call sends the rest
#     from the program's buffer ("skip fast_call_fallback" in the summary);
#   a short count: zcopy calls again from where it stopped;
#   EINTR, EAGAIN: the program gets them (or the short count done so far),
#     as from a plain write interrupted there, and copyloop retries.
# Every test compares the output and the final offsets with a run without
# zcopy and without faults, and reads the sender's strace log: each faulted
# call is in it, followed by what must come next.

setup_file() {
  load test_helper/common
  load test_helper/copyloop
  build_copyloop
  make -s -C "$ZC_ROOT" tests/progs/faultinject >&2 || fail "cannot build faultinject"
  [ -x "$PROGS/faultinject" ] || fail "$PROGS/faultinject is missing"
}

setup() {
  load test_helper/common
  load test_helper/copyloop
  T=$BATS_TEST_TMPDIR
  make_file "$T/src" "$SIZE"
  CHUNK=65536
  CHUNKS=$((SIZE / CHUNK))
}

# fault_run "FAULTINJECT OPTIONS" COPYLOOP OPTIONS...: copyloop plainly, then
# preloaded, under strace, under faultinject.  Requires the same output and
# the same offsets line; leaves the sender's log table in $T/calls (see
# calls_table), the summary in $T/stats and faultinject's log in $T/fi.log.
fault_run() {
  local -a fi
  read -ra fi <<<"$1"
  shift
  "$PROGS/copyloop" -P "$@" "$T/src" "$T/plain" 2>"$T/plain.err" ||
    fail "plain run failed: $(cat "$T/plain.err")"
  "$PROGS/faultinject" -l "$T/fi.log" "${fi[@]}" -- \
    strace -ff -qq -s 0 -E LD_PRELOAD="$ZC_PRELOAD" -E ZCOPY_STATS="$T/stats" \
    -e trace=sendfile,splice,copy_file_range,write,pwrite64,sendto,writev,sendmsg \
    -o "$T/log" -- "${ZC_RUN[@]}" "$PROGS/copyloop" -P "$@" "$T/src" "$T/zc" 2>"$T/zc.err" ||
    fail "faulted run failed: $(cat "$T/zc.err")"
  cmp "$T/plain" "$T/zc" || fail "output differs from the plain run"
  cmp "$T/src" "$T/zc" || fail "output differs from the source"
  diff "$T/plain.err" "$T/zc.err" || fail "offsets differ from the plain run"
  local sender
  # (zcopy's probe of the filter, in a child of its own, calls them on fd -1)
  sender=$(grep -lE '^(sendfile|splice|copy_file_range)\([0-9]' "$T"/log.*) ||
    fail "no process made a fast call"
  [ "$(echo "$sender" | wc -l)" -eq 1 ] || fail "fast calls in several processes: $sender"
  calls_table "$sender" >"$T/calls"
}

# calls_table LOG: one line per fast call and plain write in an strace log:
#   F DEST_FD SRC_OFF COUNT RESULT     (sendfile, splice, copy_file_range)
#   P FD      -       COUNT RESULT     (write, pwrite64, sendto)
# RESULT is the count returned or the errno name.
calls_table() {
  local res='+= (-1 ([A-Z]+).*|([0-9]+))$'
  sed -nE \
    -e "s/^sendfile\(([0-9]+), [0-9]+, \[([0-9]+)\][^,]*, ([0-9]+)\) $res/F \1 \2 \3 \5\6/p" \
    -e "s/^splice\([0-9]+, \[([0-9]+)\], ([0-9]+), [^,]+, ([0-9]+), [0-9]+\) $res/F \2 \1 \3 \5\6/p" \
    -e "s/^copy_file_range\([0-9]+, \[([0-9]+)\], ([0-9]+), [^,]+, ([0-9]+), [0-9]+\) $res/F \2 \1 \3 \5\6/p" \
    -e "s/^write\(([0-9]+), [^,]*, ([0-9]+)\) $res/P \1 - \2 \4\5/p" \
    -e "s/^pwrite64\(([0-9]+), [^,]*, ([0-9]+), [0-9]+\) $res/P \1 - \2 \4\5/p" \
    -e "s/^sendto\(([0-9]+), [^,]*, ([0-9]+), .*\) $res/P \1 - \2 \4\5/p" \
    "$1"
}

# check_calls: reads $T/calls for the destination fd and prints
#   fast=B plain=B fallbacks=N retries=N shorts=N bad=N
# fallbacks: calls failing with EINVAL/ENOSYS/EXDEV/EOPNOTSUPP or returning
#   0; each must be followed at once by a plain write of exactly the bytes
#   that call was asked for.
# retries: calls failing with EINTR/EAGAIN; the next call must be a fast call
#   for the same source offset and count (the program's retry).
# shorts: calls moving fewer bytes than asked; the next call must be a fast
#   call for the rest.  A splice into a pipe that is partly full, or anything
#   slowed down by valgrind, stops short by itself too: the tests count the
#   injected ones in faultinject's log, not here.
# bad: how many of these rules were broken (the lines go to stderr).
check_calls() {
  awk '
    $1 == "P" && $2 == 2 { exit }  # the offsets line: later fds are others
    dest == "" && $1 == "F" { dest = $2 }
    $2 != dest { next }
    want != "" {
      got = $1 " " $3 " " $4 " " $5
      if (substr(got, 1, length(want)) != want) {
        bad++
        print "after: " prev "\n  want: " want "...\n  got: " $0 > "/dev/stderr"
      }
      want = ""
    }
    $1 == "F" && $5 ~ /^(EINVAL|ENOSYS|EXDEV|EOPNOTSUPP)$/ || $1 == "F" && $5 == "0" {
      fallbacks++; want = "P - " $4 " " $4
    }
    $1 == "F" && $5 ~ /^(EINTR|EAGAIN)$/ { retries++; want = "F " $3 " " $4 " " }
    $1 == "F" && $5 ~ /^[0-9]+$/ && $5 + 0 > 0 {
      fast += $5
      if ($5 + 0 < $4 + 0) { shorts++; want = "F " ($3 + $5) " " ($4 - $5) " " }
    }
    $1 == "P" && $5 ~ /^[0-9]+$/ { plain += $5 }
    { prev = $0 }
    END {
      if (want != "") { bad++; print "log ends before: " want > "/dev/stderr" }
      printf "fast=%d plain=%d fallbacks=%d retries=%d shorts=%d bad=%d\n",
        fast, plain, fallbacks, retries, shorts, bad
    }' "$T/calls"
}

# expect_calls PATTERN: check_calls matches PATTERN (an extended regex).
expect_calls() {
  local got
  got=$(check_calls)
  [[ $got =~ $1 ]] || fail "calls: $got; expected: $1"
}

# injected_shorts N: faultinject cut at least N calls short.
injected_shorts() {
  local got
  got=$(grep -c ': short [1-9]' "$T/fi.log")
  [ "$got" -ge "$1" ] || fail "faultinject cut $got calls short, expected at least $1"
}

# skip_count NAME: the count of a "skip NAME" line of the summary, or 0.
skip_count() {
  awk -v name="$1" '$2 == "skip" && $3 == name { n = $4 } END { print n + 0 }' "$T/stats"
}

# expect_fallbacks N: the summary counts N fast_call_fallback skips.
expect_fallbacks() {
  local got
  got=$(skip_count fast_call_fallback)
  [ "$got" -eq "$1" ] || { cat "$T/stats" >&2; fail "fast_call_fallback: $got, expected $1"; }
}

# injected N: faultinject acted (did not pass) on N calls.
injected() {
  local got
  got=$(grep -cv ': pass ' "$T/fi.log")
  [ "$got" -eq "$1" ] || { head "$T/fi.log" >&2; fail "faultinject acted on $got calls, expected $1"; }
}

# logged REGEX: a line of the strace logs matches ^REGEX (a basic regex in
# which FD stands for any fd number: bats holds fds of its own).
logged() {
  grep -q "^${1//FD/[0-9]*}" "$T"/log.* || {
    grep -hE '^(sendfile|splice|copy_file_range)' "$T"/log.* | head -n 5 >&2
    fail "no line of the strace log matches: $1"
  }
}

# ---- EINVAL, ENOSYS, EXDEV, EOPNOTSUPP: the plain call takes over ----------

@test "EINVAL from every sendfile (TCP): each chunk goes with the plain send, none lost" {
  fault_run "-f einval" -d tcp
  logged 'sendfile(.* = -1 EINVAL'
  expect_calls "^fast=0 plain=$SIZE fallbacks=$CHUNKS retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks "$CHUNKS"
}

@test "EINVAL from every splice (pipe): each chunk goes with the plain write" {
  fault_run "-f einval" -d pipe
  logged 'splice(.* = -1 EINVAL'
  expect_calls "^fast=0 plain=$SIZE fallbacks=$CHUNKS retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks "$CHUNKS"
}

@test "EINVAL from every copy_file_range (file): each chunk goes with the plain write, offset as plain" {
  fault_run "-f einval" -d file
  logged 'copy_file_range(.* = -1 EINVAL'
  grep -qx "offsets src=$SIZE dst=$SIZE" "$T/zc.err"
  expect_calls "^fast=0 plain=$SIZE fallbacks=$CHUNKS retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks "$CHUNKS"
}

@test "ENOSYS from the 3rd sendfile only (TCP): that chunk plain, the others fast" {
  fault_run "-f enosys@3" -d tcp
  injected 1
  logged 'sendfile(FD, FD, \[131072\], 65536) *= -1 ENOSYS'
  expect_calls "^fast=$((SIZE - CHUNK)) plain=$CHUNK fallbacks=1 retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks 1
}

@test "ENOSYS from the 3rd splice only (pipe): that chunk plain, the others fast" {
  fault_run "-f enosys@3" -d pipe
  injected 1
  logged 'splice(FD, \[131072\], FD, NULL, 65536, 0) *= -1 ENOSYS'
  expect_calls "^fast=$((SIZE - CHUNK)) plain=$CHUNK fallbacks=1 retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks 1
}

@test "ENOSYS from the 3rd copy_file_range only (file): that chunk plain, the others fast" {
  fault_run "-f enosys@3" -d file
  injected 1
  logged 'copy_file_range(FD, \[131072\], FD, NULL, 65536, 0) *= -1 ENOSYS'
  expect_calls "^fast=$((SIZE - CHUNK)) plain=$CHUNK fallbacks=1 retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks 1
}

@test "EXDEV and EOPNOTSUPP from every call, each destination: all bytes plain" {
  local d e
  for d in tcp pipe file; do
    for e in exdev eopnotsupp; do
      fault_run "-f $e" -d "$d"
      grep -qi "= -1 $e " "$T/log".*
      expect_calls "^fast=0 plain=$SIZE fallbacks=$CHUNKS retries=0 shorts=[0-9]+ bad=0$"
      expect_fallbacks "$CHUNKS"
      rm -f "$T"/log.* "$T/stats" "$T/fi.log"
    done
  done
}

@test "EINVAL from copy_file_range under pwrite: the plain pwrite writes at the same offset" {
  fault_run "-f einval@2-3" -d file -w pwrite
  logged 'copy_file_range(FD, \[65536\], FD, \[65536\], 65536, 0) *= -1 EINVAL'
  logged 'pwrite64(FD, ""\.\.\., 65536, 65536) *= 65536'
  logged 'pwrite64(FD, ""\.\.\., 65536, 131072) *= 65536'
  expect_calls "^fast=$((SIZE - 2 * CHUNK)) plain=$((2 * CHUNK)) fallbacks=2 retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks 2
}

@test "EINVAL on the 2nd piece of a sendmsg of 4 buffers (TCP): that piece plain, the next ones fast" {
  fault_run "-f einval@2" -d tcp -w sendmsg -g 4
  injected 1
  logged 'sendfile(FD, FD, \[65536\], 65536) *= -1 EINVAL'
  expect_calls "^fast=$((SIZE - CHUNK)) plain=$CHUNK fallbacks=1 retries=0 shorts=[0-9]+ bad=0$"
  # the piece right after the plain one is still a fast call
  logged 'sendfile(FD, FD, \[131072\] => \[196608\], 65536) *= 65536$'
  expect_fallbacks 1
}

@test "EINVAL from every sendfile, non-blocking TCP with a small send buffer: partial plain sends, exact bytes" {
  fault_run "-f einval" -d tcp -N -S 4096 -z 200
  # the plain sends stop short and hit EAGAIN: the program polls and goes
  # on from inside its buffer, where zcopy tries (and fails) again
  expect_calls "^fast=0 plain=$SIZE fallbacks=[1-9][0-9]* retries=0 shorts=0 bad=[0-9]+$"
  [ "$(skip_count fast_call_fallback)" -gt "$CHUNKS" ]
}

# ---- EAGAIN and EINTR: the program sees them and retries ---------------------

@test "EAGAIN from the 2nd sendfile (non-blocking TCP): the program polls and retries, no fallback" {
  fault_run "-f eagain@2" -d tcp -N
  injected 1
  logged 'sendfile(FD, FD, \[65536\], 65536) *= -1 EAGAIN'
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=[1-9][0-9]* shorts=[0-9]+ bad=0$"
  expect_fallbacks 0
}

@test "EAGAIN from the 2nd splice (non-blocking pipe): the program polls and retries, no fallback" {
  fault_run "-f eagain@2" -d pipe -N
  injected 1
  logged 'splice(FD, \[65536\], FD, NULL, 65536, 0) *= -1 EAGAIN'
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=[1-9][0-9]* shorts=[0-9]+ bad=0$"
  expect_fallbacks 0
}

@test "EAGAIN from the 2nd copy_file_range (O_NONBLOCK file): the program retries, no fallback" {
  fault_run "-f eagain@2" -d file -N
  injected 1
  logged 'copy_file_range(FD, \[65536\], FD, NULL, 65536, 0) *= -1 EAGAIN'
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=1 shorts=[0-9]+ bad=0$"
  expect_fallbacks 0
}

@test "EINTR from the 2nd and 5th sendfile (TCP): the program retries, no fallback" {
  fault_run "-f eintr@2 -f eintr@5" -d tcp
  injected 2
  logged 'sendfile(FD, FD, \[65536\], 65536) *= -1 EINTR'
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=2 shorts=[0-9]+ bad=0$"
  expect_fallbacks 0
}

@test "EINTR from the 2nd and 5th splice (pipe): the program retries, no fallback" {
  fault_run "-f eintr@2 -f eintr@5" -d pipe
  injected 2
  logged 'splice(FD, \[65536\], FD, NULL, 65536, 0) *= -1 EINTR'
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=2 shorts=[0-9]+ bad=0$"
  expect_fallbacks 0
}

@test "EINTR from the 2nd and 5th copy_file_range (file): the program retries, no fallback" {
  fault_run "-f eintr@2 -f eintr@5" -d file
  injected 2
  logged 'copy_file_range(FD, \[65536\], FD, NULL, 65536, 0) *= -1 EINTR'
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=2 shorts=[0-9]+ bad=0$"
  expect_fallbacks 0
}

@test "EINTR after a short count (TCP): the program sees the short count and resumes inside its buffer" {
  fault_run "-f short:1000@1 -f eintr@2" -d tcp
  injected 2
  # zcopy's own second call, for the rest, is interrupted: it returns 1000
  # and the program's next write starts 1000 bytes into its buffer.
  logged 'sendfile(FD, FD, \[0\] => \[1000\], 65536) *= 1000$'
  logged 'sendfile(FD, FD, \[1000\], 64536) *= -1 EINTR'
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=1 shorts=[0-9]+ bad=0$"
  expect_fallbacks 0
}

@test "EINTR on the 2nd piece of a writev of 4 buffers (pipe): a short count, the rest resent" {
  fault_run "-f eintr@2" -d pipe -w writev -g 4
  logged 'splice(FD, \[65536\], FD, NULL, 65536, 0) *= -1 EINTR'
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=1 shorts=[0-9]+ bad=0$"
  expect_fallbacks 0
}

# ---- short counts: zcopy calls again ------------------------------------------

@test "every sendfile moves at most 1000 bytes (TCP): zcopy calls again until the chunk is sent" {
  fault_run "-f short:1000" -d tcp
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=0 shorts=[0-9]+ bad=0$"
  # 66 calls per 64 KiB chunk: 65 short ones of 1000 bytes, then 536.
  injected_shorts $((CHUNKS * 65))
  [ "$(grep -c '^F' "$T/calls")" -ge $((CHUNKS * 66)) ]
  expect_fallbacks 0
}

@test "every splice moves at most 1000 bytes (pipe): zcopy calls again until the chunk is sent" {
  fault_run "-f short:1000" -d pipe
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=0 shorts=[0-9]+ bad=0$"
  injected_shorts $((CHUNKS * 65))
  expect_fallbacks 0
}

@test "every copy_file_range moves at most 1000 bytes (file): zcopy calls again, offsets as plain" {
  fault_run "-f short:1000" -d file
  grep -qx "offsets src=$SIZE dst=$SIZE" "$T/zc.err"
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=0 shorts=[0-9]+ bad=0$"
  injected_shorts $((CHUNKS * 65))
  expect_fallbacks 0
}

@test "short copy_file_range under pwrite: the explicit destination offset follows" {
  fault_run "-f short:5000@1-20" -d file -w pwrite
  logged 'copy_file_range(FD, \[5000\], FD, \[5000\], 60536, 0) *= 5000$'
  expect_calls "^fast=$SIZE plain=0 fallbacks=0 retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks 0
}

# ---- 0 bytes: the plain call sends the rest ------------------------------------

@test "sendfile returns 0 on the 2nd call (TCP): the plain send carries that chunk" {
  fault_run "-f zero@2" -d tcp
  injected 1
  logged 'sendfile(FD, FD, \[65536\], 65536) *= 0$'
  expect_calls "^fast=$((SIZE - CHUNK)) plain=$CHUNK fallbacks=1 retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks 1
}

@test "splice returns 0 on the 2nd call (pipe): the plain write carries that chunk" {
  fault_run "-f zero@2" -d pipe
  injected 1
  logged 'splice(FD, \[65536\], FD, NULL, 65536, 0) *= 0$'
  expect_calls "^fast=$((SIZE - CHUNK)) plain=$CHUNK fallbacks=1 retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks 1
}

@test "copy_file_range returns 0 on the 2nd call (file): the plain write carries that chunk" {
  fault_run "-f zero@2" -d file
  injected 1
  logged 'copy_file_range(FD, \[65536\], FD, NULL, 65536, 0) *= 0$'
  expect_calls "^fast=$((SIZE - CHUNK)) plain=$CHUNK fallbacks=1 retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks 1
}

@test "a short count then 0, each destination: the plain call sends exactly the rest of the chunk" {
  local d
  for d in tcp pipe file; do
    fault_run "-f short:1000@1 -f zero@2" -d "$d"
    injected 2
    grep -qE '^(write|sendto)\([0-9]+, ""\.\.\., 64536' "$T/log".*
    expect_calls "^fast=$((SIZE - CHUNK + 1000)) plain=$((CHUNK - 1000)) fallbacks=1 retries=0 shorts=[0-9]+ bad=0$"
    expect_fallbacks 1
    rm -f "$T"/log.* "$T/stats" "$T/fi.log"
  done
}

@test "every call returns 0 (pipe): every chunk is plain, every fallback counted" {
  fault_run "-f zero" -d pipe
  expect_calls "^fast=0 plain=$SIZE fallbacks=$CHUNKS retries=0 shorts=[0-9]+ bad=0$"
  expect_fallbacks "$CHUNKS"
}
