#!/usr/bin/env bats
# The path of a write too small to rewrite, which every program under zcopy
# pays on every such write (make bench's W5).  On a VM whose syscalls flush
# the TLB, what it costs is mostly how many pages it touches and whether any
# of it runs after the real call returns (zcopy.h's ZC_HOT, io_hooks.c).
# These tests check that shape; the bench measures the nanoseconds.

bats_require_minimum_version 1.5.0

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
}

@test "the small write's code is on one page, and the data it reads is one page of .bss that a forked child gets wiped" {
  # write() is whole within one page.
  read -r addr size < <(nm -S "$ZC_LIB" | awk '$4 == "write" { print $1, $2 }')
  [ -n "$addr" ]
  [ $(( 0x$addr / 4096 )) -eq $(( (0x$addr + 0x$size - 1) / 4096 )) ]
  # hot.c's page: page-aligned, one page.
  read -r hot hot_size < <(nm -S "$ZC_LIB" | awk '$4 == "zc_hot" { print $1, $2 }')
  [ $(( 0x$hot % 4096 )) -eq 0 ] && [ $(( 0x$hot_size )) -eq 4096 ]
  # In a running process, that page is marked wipe-on-fork ("wf").
  env LD_PRELOAD="$ZC_LIB" sleep 30 &
  pid=$!
  for _ in $(seq 100); do grep -q libzcopy "/proc/$pid/maps" 2>/dev/null && break; sleep 0.05; done
  base=$(awk '/libzcopy/ { split($1, r, "-"); print r[1]; exit }' "/proc/$pid/maps")
  page=$(( 0x$base + 0x$hot ))
  # The VmFlags of the smaps entry holding that page (bash arithmetic:
  # Debian's awk, mawk, has no strtonum).
  flags= inside=
  while read -r first rest; do
    if [[ $first =~ ^([0-9a-f]+)-([0-9a-f]+)$ ]]; then
      inside=
      (( 0x${BASH_REMATCH[1]} <= page && page < 0x${BASH_REMATCH[2]} )) && inside=1
    elif [ -n "$inside" ] && [ "$first" = VmFlags: ]; then
      flags=$rest
      break
    fi
  done < "/proc/$pid/smaps"
  kill "$pid"
  echo "$flags"
  grep -qw wf <<<"$flags"
}

@test "a write too small to rewrite: libc's write returns straight to the program (the hook's last act is the call)" {
  printf 'hello' > small
  run -0 gdb -batch -nx -ex "set environment LD_PRELOAD=$ZC_LIB" -ex 'set breakpoint pending on' \
    -ex 'break __write' -ex run -ex 'bt 2' --args "$EXAMPLES/legacy-cat" small
  grep '^#' <<<"$output"
  # Frame 1 is the program's own code, not the library's write().
  grep -E '^#1 .* in write_all .*legacy-cat\.c' <<<"$output"
  ! grep -E '^#1 .*shim/io_hooks\.c' <<<"$output"
}
