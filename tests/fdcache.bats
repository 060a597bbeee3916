#!/usr/bin/env bats
# shim/fdcache.c: in a steady copy loop zcopy does not fstat the same fds
# at every chunk.  Trust mode adds two syscalls a chunk (an lseek at the
# read, an fstat of the source at the write), and what it learnt of an fd
# is dropped when a hook sees the fd closed, replaced or re-flagged,
# including by fclose, which closes inside libc.

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/fdswap examples/legacy-cat >&2
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
}

# checks_per_chunk MODE: legacy-cat copies 16 MiB in 64 KiB chunks into a
# pipe under strace -c; prints the syscalls other than the read and the
# fast call that the copy made, per chunk, after checking that the output
# is the file and that every chunk was spliced.
checks_per_chunk() {
  make_file src $((16 << 20))
  ZCOPY_MODE=$1 strace -f -c -o counts -E LD_PRELOAD="$ZC_PRELOAD" -- "${ZC_RUN[@]}" \
    "$EXAMPLES/legacy-cat" -b 65536 src | cat > out
  cmp src out >&2
  awk '$NF == "splice" { splices = $(NF-1) + 0 }
       $NF ~ /^(fstat|newfstatat|lseek|fcntl|getsockopt|fstatfs)$/ {
         n = ($(NF-1) ~ /^[0-9]+$/) ? $(NF-1) : $(NF-2); checks += n }
       END { if (splices < 256) { print "only " splices " splices" > "/dev/stderr"; exit 1 }
             printf "%.2f\n", checks / 256 }' counts
}

@test "trust adds at most two syscalls to a chunk of a steady copy loop into a pipe" {
  per_chunk=$(checks_per_chunk trust)
  echo "trust: $per_chunk checks per chunk" >&2
  awk -v n="$per_chunk" 'BEGIN { exit !(n <= 2.1) }'
}

@test "safe mode's checks per chunk: the read's fstat is the last write's" {
  per_chunk=$(checks_per_chunk safe)
  echo "safe: $per_chunk checks per chunk" >&2
  awk -v n="$per_chunk" 'BEGIN { exit !(n <= 4.1) }'
}

# The read "continues" where the last read on the fd ended, but the fd
# names another file: fdcache.c must not take it for the first file.
expected_swap() {
  { head -c 65536 A; tail -c +65537 B | head -c 65536; } > expected
}

@test "a source fd closed and reopened on another file (close, open) is not taken for the first file" {
  make_file A $((1 << 20)); make_file B $((1 << 20)); expected_swap
  ZCOPY_MODE=trust traced trace "$PROGS/fdswap" src A B | cat > out
  cmp expected out
  [ "$(fast_bytes trace splice)" -eq 65536 ]  # the first chunk, from A
}

@test "a source fd closed and reopened by fclose and fopen, inside libc, is not taken for the first file" {
  make_file A $((1 << 20)); make_file B $((1 << 20)); expected_swap
  ZCOPY_MODE=trust traced trace "$PROGS/fdswap" stdio A B | cat > out
  cmp expected out
  [ "$(fast_bytes trace splice)" -eq 65536 ]
}

@test "a stream socket replaced by a datagram socket with dup2: the next write stays one datagram" {
  make_file A $((1 << 20))
  ZCOPY_MODE=trust traced trace "$PROGS/fdswap" dgram A
  [ "$(fast_bytes trace sendfile)" -eq 65536 ]  # the stream chunk only
}

@test "a pipe made a packet pipe with fcntl(F_SETFL, O_DIRECT): the next write keeps its packets" {
  make_file A $((1 << 20))
  ZCOPY_MODE=trust traced trace "$PROGS/fdswap" packet A
  [ "$(fast_bytes trace splice)" -eq 65536 ]
}
