#!/usr/bin/env bats
# What the program sees: return values, errno, file offsets, signals, and
# the bytes, with zcopy preloaded, under threads, fork, signal handlers, fd
# closing daemons and calls from another library's constructor.  Each test
# compares a transcript (or the output bytes) with a plain run, and checks
# with strace that the fast path really ran where it could, or the
# comparison would prove nothing.
# Out of scope: a program whose stdout is a tty (no tty in CI).

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/badfd tests/progs/offsets \
    tests/progs/nosignal tests/progs/threads tests/progs/forkcopy tests/progs/forkclose \
    tests/progs/sigalrm tests/progs/closeall tests/progs/ctor_main
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
}

# to_pipe OUT CMD...: runs CMD with stdout on a pipe whose reader (cat, not
# preloaded) saves it in OUT.  Returns CMD's status.
to_pipe() {
  local out=$1; shift
  "$@" | cat > "$out"
  return "${PIPESTATUS[0]}"
}

# same_text PLAIN GOT: the two transcripts are equal; shows the diff if not.
same_text() {
  diff <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

# at_least WHAT GOT MIN: GOT >= MIN, saying what was short if not.
at_least() {
  if [ "$2" -lt "$3" ]; then
    echo "$1: got $2, expected at least $3" >&2
    return 1
  fi
}

# ---------------------------------------------------------------- errno ----

@test "a write to a closed, unknown, read-only or shut-down fd fails as the plain call does" {
  make_file src 200000
  run "$PROGS/badfd" src plain1 plain2
  [ "$status" -eq 0 ]
  plain=$output
  # The plain run is what the test expects it to be.
  grep -Eq '^write\(dst\) +ret=65536 errno=EDOM$' <<<"$plain"
  grep -Eq '^write\(closed fd\) +ret=-1 errno=EBADF$' <<<"$plain"
  grep -Eq '^write\(9999\) +ret=-1 errno=EBADF$' <<<"$plain"
  grep -Eq '^send\(regular file\) +ret=-1 errno=ENOTSOCK$' <<<"$plain"
  grep -Eq '^write\(shut-down socket\) +ret=-1 errno=EPIPE$' <<<"$plain"

  run with_zcopy "$PROGS/badfd" src zc1 zc2
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"
  cmp plain1 zc1
  cmp plain2 zc2

  # The library was active: the good write went through copy_file_range.
  traced trace "$PROGS/badfd" src tr1 tr2
  cmp plain1 tr1
  at_least "copy_file_range bytes" "$(fast_bytes trace copy_file_range)" 65536
}

# -------------------------------------------------------------- offsets ----

# check_offsets MODE END: runs `offsets MODE` over a 1 MiB + 12345-byte file
# plain, preloaded and traced.  END is the last line the plain run prints.
check_offsets() {
  local mode=$1 end=$2 expect=src
  make_file src $((1048576 + 12345))
  if [ "$mode" = rw-hdr ]; then
    { printf 'HDR\n'; cat src; } > expect
    expect=expect
  fi
  run "$PROGS/offsets" "$mode" src plain
  [ "$status" -eq 0 ]
  plain=$output
  [ "${plain##*$'\n'}" = "$end" ]
  cmp "$expect" plain

  run with_zcopy "$PROGS/offsets" "$mode" src zc
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"
  cmp "$expect" zc

  traced trace "$PROGS/offsets" "$mode" src tr
  cmp "$expect" tr
  # The 16 full chunks, at least; the 12345-byte tail is below the threshold.
  at_least "copy_file_range bytes" "$(fast_bytes trace copy_file_range)" 1048576
}

@test "read/write loop: every write's result and both offsets are the plain ones" {
  check_offsets rw "end 0 src=1060921 dst=1060921"
}

@test "read/write loop after a header: destination offsets are the plain ones" {
  check_offsets rw-hdr "end 0 src=1060921 dst=1060925"
}

@test "pread/write loop: the source offset stays 0" {
  check_offsets pread "end 0 src=0 dst=1060921"
}

@test "read/pwrite loop: the destination offset stays 0" {
  check_offsets pwrite "end 0 src=1060921 dst=0"
}

# -------------------------------------------------------------- SIGPIPE ----

# check_nosignal unix|tcp: send(MSG_NOSIGNAL) to a closed peer gives EPIPE
# and no SIGPIPE, after a first send the library turned into sendfile.
check_nosignal() {
  make_file src 1048576
  run "$PROGS/nosignal" "$1" send src
  [ "$status" -eq 0 ]
  plain=$output
  grep -qx 'first: 65536, peer read 65536 and closed' <<<"$plain"
  grep -qx 'then: -1 EPIPE' <<<"$plain"

  # Default SIGPIPE disposition: a stray signal kills the process (141).
  run with_zcopy "$PROGS/nosignal" "$1" send src
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"

  run traced trace "$PROGS/nosignal" "$1" send src
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"
  [ "$(grep -c SIGPIPE trace)" -eq 0 ]
  at_least "sendfile bytes" "$(fast_bytes trace sendfile)" 65536
}

@test "send(MSG_NOSIGNAL) to a closed unix stream peer: EPIPE and no SIGPIPE" {
  check_nosignal unix
}

@test "send(MSG_NOSIGNAL) to a closed TCP peer: EPIPE and no SIGPIPE" {
  check_nosignal tcp
}

@test "send(MSG_NOSIGNAL) leaves alone a SIGPIPE the program's own write left pending" {
  make_file src 1048576
  run "$PROGS/nosignal" unix pending src
  [ "$status" -eq 0 ]
  plain=$output
  grep -qx 'send: -1 EPIPE, SIGPIPE pending' <<<"$plain"

  run with_zcopy "$PROGS/nosignal" unix pending src
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"

  run traced trace "$PROGS/nosignal" unix pending src
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"
  at_least "sendfile bytes" "$(fast_bytes trace sendfile)" 65536
}

@test "write() to a closed peer still dies of SIGPIPE, as the plain call does" {
  make_file src 1048576
  run "$PROGS/nosignal" unix write src
  [ "$status" -eq 141 ]
  plain=$output
  grep -qx 'first: 65536, peer read 65536 and closed' <<<"$plain"

  run with_zcopy "$PROGS/nosignal" unix write src
  [ "$status" -eq 141 ]
  same_text "$plain" "$output"

  run traced trace "$PROGS/nosignal" unix write src
  grep -q 'SIGPIPE' trace
  at_least "sendfile bytes" "$(fast_bytes trace sendfile)" 65536
}

# -------------------------------------------------------------- threads ----

# fifo_run OUT... -- CMD...: makes a FIFO OUT.fifo per OUT, drains each into
# OUT with a cat that is not preloaded, runs CMD and waits for the cats.
fifo_run() {
  local outs=() pids=() o status=0
  while [ "$1" != -- ]; do outs+=("$1"); shift; done
  shift
  for o in "${outs[@]}"; do
    rm -f "$o.fifo"
    mkfifo "$o.fifo"
    timeout 120 cat "$o.fifo" > "$o" 3>&- &
    pids+=($!)
  done
  "$@" || status=$?
  for o in "${pids[@]}"; do
    wait "$o" || [ "$status" -ne 0 ] || status=1
  done
  return "$status"
}

@test "two threads copying their own files to their own pipes at once" {
  make_file s1 4194304
  make_file s2 4194304
  fifo_run o1 o2 -- with_zcopy "$PROGS/threads" own s1 o1.fifo s2 o2.fifo
  cmp s1 o1
  cmp s2 o2

  fifo_run t1 t2 -- traced trace "$PROGS/threads" own s1 t1.fifo s2 t2.fifo
  cmp s1 t1
  cmp s2 t2
  # ~all of the 8 MiB (at least 90%) went through splice, from both threads.
  at_least "splice bytes" "$(fast_bytes trace splice)" $((8388608 * 9 / 10))
  [ "$(awk '/splice\(/ { print $1 }' trace | sort -u | wc -l)" -ge 2 ]
}

@test "worker pool: one thread reads each chunk, another writes it" {
  make_file src 4194304
  fifo_run out -- with_zcopy "$PROGS/threads" handoff src out.fifo
  cmp src out

  fifo_run tr -- traced trace "$PROGS/threads" handoff src tr.fifo
  cmp src tr
  at_least "splice bytes" "$(fast_bytes trace splice)" 1
}

# Python's http.server: a handler thread that has read a chunk waits for
# the GIL while the others read on (a CI run once missed one such chunk).
@test "a chunk held in its buffer while another thread reads and writes 100 more: still spliced" {
  make_file src $((4 * 65536))
  fifo_run out -- with_zcopy "$PROGS/threads" wait src out.fifo
  cmp src out

  fifo_run tr -- traced trace "$PROGS/threads" wait src tr.fifo
  cmp src tr
  # Every chunk, the held one first: its splice starts at offset 0.
  [ "$(fast_bytes trace splice)" -eq $((4 * 65536)) ]
  grep -Eq 'splice\([0-9]+, \[0\], ' trace || { cat trace >&2; false; }
}

# ----------------------------------------------------------------- fork ----

@test "fork in the middle of a file-to-file copy: the whole file, once" {
  make_file src $((1048576 + 12345))
  run "$PROGS/forkcopy" src plain
  [ "$status" -eq 0 ]
  plain=$output
  grep -qx 'parent: child exit status 0' <<<"$plain"
  grep -qx 'parent: copied 0 chunks after the child' <<<"$plain"
  cmp src plain

  run with_zcopy "$PROGS/forkcopy" src zc
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"
  cmp src zc

  run traced trace "$PROGS/forkcopy" src tr
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"
  cmp src tr
  # At least the parent's half before the fork went through the fast path.
  at_least "copy_file_range bytes" "$(fast_bytes trace copy_file_range)" $((8 * 65536))
}

@test "fork in the middle of a copy to a pipe: the whole file, once" {
  make_file src $((1048576 + 12345))
  run to_pipe plain "$PROGS/forkcopy" src -
  [ "$status" -eq 0 ]
  plain=$output
  grep -qx 'parent: child exit status 0' <<<"$plain"
  cmp src plain

  run to_pipe zc with_zcopy "$PROGS/forkcopy" src -
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"
  cmp src zc

  run to_pipe tr traced trace "$PROGS/forkcopy" src -
  [ "$status" -eq 0 ]
  same_text "$plain" "$output"
  cmp src tr
  at_least "splice bytes" "$(fast_bytes trace splice)" $((8 * 65536))
}

# A fork-per-connection server closes each connection in its accepting
# process right after the fork: a store zcopy made there would copy a page
# the child still shares (2 µs a connection here).  forkclose counts the
# page faults of that close, after a rewrite that leaves bytes in flight.
# bats test_tags=counts-page-faults
@test "the accepting process closes a connection right after forking: zcopy copies no page there, in either mode" {
  make_file src 100000
  run "$PROGS/forkclose" src
  [ "$status" -eq 0 ]
  plain=$output
  grep -qx 'close faults [0-9]*' <<<"$plain"
  for mode in safe trust; do
    export ZCOPY_MODE=$mode
    run with_zcopy "$PROGS/forkclose" src
    [ "$status" -eq 0 ]
    same_text "$plain" "$output"
  done
  unset ZCOPY_MODE
  run env ZCOPY_MODE=trust strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=sendfile -o trace "$PROGS/forkclose" src
  [ "$status" -eq 0 ]
  [ "$(fast_bytes trace sendfile)" -eq 65536 ]
}

# -------------------------------------------------------------- signals ----
# The timer fires every 200us rather than every 1 ms: a rewritten 64 MiB copy
# can take only a few milliseconds, and the point is that many ticks land
# while the main loop is inside a hook.  `timeout 60` turns a deadlock into
# a failure.

# field_of NAME OUTPUT: a count from sigalrm's "ticks=N copies=N failed=0"
# line (empty if the line is missing or the handler saw a failure).
field_of() {
  sed -n "s/^ticks=\([0-9]*\) copies=\([0-9]*\) failed=0\$/\\$1/p" <<<"$2"
}

# Under strace and valgrind together, 5000 signals a second take longer
# than the timeout: make check-valgrind leaves this one out.
# bats test_tags=slow-under-valgrind
@test "a SIGALRM handler writing one byte every 200us while the main loop copies 64 MiB to a pipe" {
  make_file src 67108864
  run to_pipe zc timeout 60 env LD_PRELOAD="$ZC_PRELOAD" "${ZC_RUN[@]}" "$PROGS/sigalrm" small src ticks 200
  [ "$status" -eq 0 ]
  cmp src zc
  n=$(field_of 1 "$output")
  at_least "handler runs" "${n:-0}" 10
  [ "$(field_of 2 "$output")" -eq "$n" ]
  [ "$(stat -c %s ticks)" -eq "$n" ]

  # Under strace every tick stops the process twice: a smaller file keeps
  # the traced run well inside its timeout.
  head -c 8388608 src > src8
  run to_pipe tr traced trace timeout 60 "$PROGS/sigalrm" small src8 ticks 200
  [ "$status" -eq 0 ]
  cmp src8 tr
  n=$(field_of 1 "$output")
  at_least "handler runs" "${n:-0}" 10
  [ "$(stat -c %s ticks)" -eq "$n" ]
  at_least "splice bytes" "$(fast_bytes trace splice)" 1
}

# check_big_ticks OUTPUT: TICKS holds "copies" copies of the first 64 KiB.
check_big_ticks() {
  local copies
  copies=$(field_of 2 "$1")
  at_least "handler copies" "${copies:-0}" 10
  for ((i = 0; i < copies; i++)); do cat chunk; done | cmp - ticks
}

# bats test_tags=slow-under-valgrind
@test "a SIGALRM handler copying 64 KiB (pread+write) every 200us while the main loop copies 64 MiB to a file" {
  make_file src 67108864
  head -c 65536 src > chunk
  timeout 60 env LD_PRELOAD="$ZC_PRELOAD" "${ZC_RUN[@]}" "$PROGS/sigalrm" big src ticks 200 > zc 2> err
  cmp src zc
  check_big_ticks "$(cat err)"

  traced trace timeout 60 "$PROGS/sigalrm" big src ticks 200 > tr 2> err
  cmp src tr
  check_big_ticks "$(cat err)"
  at_least "copy_file_range bytes" "$(fast_bytes trace copy_file_range)" 1
}

# -------------------------------------------------------------- daemons ----

@test "a daemon that closes every fd (close_range and a close loop) before copying to a pipe" {
  ulimit -n 4096
  make_file src 1048576
  to_pipe zc with_zcopy "$PROGS/closeall" src
  cmp src zc

  to_pipe tr traced trace "$PROGS/closeall" src
  cmp src tr
  at_least "splice bytes" "$(fast_bytes trace splice)" 1
}

@test "a daemon that closes every fd still gets the ZCOPY_STATS summary on stderr" {
  ulimit -n 4096
  make_file src 1048576
  ZCOPY_STATS=1 to_pipe zc with_zcopy "$PROGS/closeall" src 2> err
  cmp src zc
  grep -q '^zcopy: summary pid=' err
  [ "$(stats_bytes err splice)" = 1048576 ]
}

# ---------------------------------------------------------- constructors ----

@test "another library's constructor copies to stdout before main: same output" {
  make_file src 262144
  { printf 'ctor: before main\n'; cat src
    printf 'main: constructor copied 262144 bytes\n'; cat src; } > expect
  CTOR_SRC=src "$PROGS/ctor_main" > plain
  cmp expect plain

  CTOR_SRC=src with_zcopy "$PROGS/ctor_main" > zc
  cmp expect zc
  CTOR_SRC=src to_pipe zcp with_zcopy "$PROGS/ctor_main"
  cmp expect zcp

  # main()'s copy, at least, went through the fast path.
  CTOR_SRC=src traced trace "$PROGS/ctor_main" > tr
  cmp expect tr
  at_least "copy_file_range bytes" "$(fast_bytes trace copy_file_range)" 262144
}
