#!/usr/bin/env bats
# Calibration: per call site, zcopy measures what the fast call and the
# plain call cost, and keeps the cheaper.  The measured costs differ from
# machine to machine, so these tests fix them (ZCOPY_CALIBRATE_COSTS=FAST,PLAIN,
# in ns per KiB): each verdict below is then the same everywhere.  While
# learning, a site alternates: 7 calls measured on each path, or only 3
# when the fast call already costs over 1.5 times the plain one.

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/pipecopy tests/progs/copyloop examples/writev-httpd
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  export ZCOPY_CALIBRATE=on
  make_file src $((4 * 1048576))  # 64 chunks of 64 KiB
}

teardown() {
  [ -z "${TRACER:-}" ] || kill "$TRACER" 2>/dev/null || true
}

fail() {
  echo "$*" >&2
  return 1
}

CHUNK=65536
LEARN=7        # fast calls measured before a verdict
LEARN_EARLY=3  # before a plain verdict, when the fast call costs over 1.5 times the plain one

# copy COSTS: pipecopy under strace with those costs, to a pipe; its
# summary in stats, its decision log in log.
copy() {
  ZCOPY_CALIBRATE_COSTS=$1 ZCOPY_STATS="$PWD/stats" ZCOPY_LOG="$PWD/log" \
    traced trace "$PROGS/pipecopy" src | cat >out
  cmp src out
}

@test "the plain call measured nine times cheaper: after $LEARN_EARLY measured splices the site stays plain, and the summary and log say why" {
  copy 900,100
  [ "$(fast_bytes trace splice)" -eq $((LEARN_EARLY * CHUNK)) ]
  cat stats
  grep -q '^zcopy: summary .* calibrate=on$' stats
  grep -Eq '^zcopy:   calibrated .*pipecopy.* writes of 64 KiB or more: splice 57\.6 us, plain 6\.4 us per 64 KiB: left plain$' stats
  grep -Eq '^zcopy:   skip calibrated_plain [0-9]+$' stats
  grep -q 'calibrated_plain' log
}

@test "the plain call measured cheaper, but not by half: all $LEARN of each are measured before the site stays plain" {
  copy 130,100
  [ "$(fast_bytes trace splice)" -eq $((LEARN * CHUNK)) ]
  grep -Eq '^zcopy:   calibrated .* splice 8\.3 us, plain 6\.4 us per 64 KiB: left plain$' stats
}

@test "the fast call measured cheaper: every call but the $LEARN measured plain ones is rewritten" {
  copy 100,900
  [ "$(fast_bytes trace splice)" -eq $(((64 - LEARN) * CHUNK)) ]
  grep -Eq '^zcopy:   calibrated .* splice 6\.4 us, plain 57\.6 us per 64 KiB: rewritten$' stats
}

# Learning measures the two paths side by side; a fast call can cost more
# in a run of fast calls (safe mode's proof faults on the file's mapping
# in some parts of a file and not others).  The third cost is what a fast
# call costs once chosen: one in 32 is measured, and when the last 5 of
# those no longer beat the plain call, the site goes plain.
WATCH_EVERY=32
WATCH_SAMPLES=5

@test "the fast call chosen, then dearer than the plain call in a run of fast calls: its watch turns the site plain" {
  make_file src $((16 * 1048576))  # 256 chunks
  copy 100,900,2000
  # 7 learning, then fast until the 5th watched call, number 4 * 32 of the run.
  [ "$(fast_bytes trace splice)" -eq $(((LEARN + (WATCH_SAMPLES - 1) * WATCH_EVERY + 1) * CHUNK)) ]
  grep -Eq '^zcopy:   calibrated .* splice 128\.0 us, plain 57\.6 us per 64 KiB: left plain$' stats
}

@test "the fast call chosen, and dearer once chosen but still 5% cheaper than the plain call: it stays" {
  make_file src $((16 * 1048576))
  copy 100,900,850
  [ "$(fast_bytes trace splice)" -eq $(((256 - LEARN) * CHUNK)) ]
  grep -Eq '^zcopy:   calibrated .* splice 6\.4 us, plain 57\.6 us per 64 KiB: rewritten$' stats
}

@test "ZCOPY_CALIBRATE=off: every eligible write is rewritten, nothing measured" {
  ZCOPY_CALIBRATE=off copy 900,100
  [ "$(fast_bytes trace splice)" -eq $((64 * CHUNK)) ]
  grep -q '^zcopy: summary .* calibrate=off$' stats
  ! grep -q 'calibrated' stats
}

@test "zcopy --calibrate=off and --calibrate=on set it; --calibrate=maybe is a usage error" {
  ZCOPY_CALIBRATE_COSTS=900,100 "$ZC_CMD" --calibrate=off --stats="$PWD/stats" -- "$PROGS/pipecopy" src | cat >out
  cmp src out
  grep -q 'calibrate=off' stats
  rm stats
  ZCOPY_CALIBRATE_COSTS=900,100 "$ZC_CMD" --calibrate=on --stats="$PWD/stats" -- "$PROGS/pipecopy" src | cat >out
  grep -q 'calibrate=on' stats
  run "$ZC_CMD" --calibrate=maybe -- true
  [ "$status" -eq 2 ]
  [[ "$output" == zcopy:* ]]
}

@test "a verdict is measured again after a second: a copy that lasts three makes more measured splices" {
  # The reader sleeps 50 ms between reads of 64 KiB: 64 chunks take 3 s.
  ZCOPY_CALIBRATE_COSTS=900,100 ZCOPY_STATS="$PWD/stats" \
    traced trace "$PROGS/copyloop" -d pipe -z 50000 src out
  cmp src out
  got=$(fast_bytes trace splice)
  echo "splice carried $got bytes"
  [ "$got" -ge $((2 * LEARN_EARLY * CHUNK)) ]
  [ "$got" -lt $((64 * CHUNK)) ]
}

# A fork-per-connection server: the verdict learnt in one connection's
# process holds in the next ones (the table is shared with the children
# of the process that loaded zcopy), so they do not learn again.
@test "writev-httpd, three connections in turn: the verdict learnt in the first connection's process holds in the next two" {
  mkdir www
  make_file www/f.bin $((1048576))  # 16 chunks: one connection learns
  ZCOPY_CALIBRATE_COSTS=900,100 strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=sendfile -o log -- \
    "${ZC_RUN[@]}" "$EXAMPLES/writev-httpd" -p 0 -P "$PWD/port" www 2>server.err 3>&- &
  TRACER=$!
  for ((i = 0; i < 100; i++)); do [ -s port ] && break; sleep 0.1; done
  [ -s port ] || fail "server did not start: $(cat server.err)"
  for n in 1 2 3; do
    curl -sS --max-time 60 -o "got$n" "http://127.0.0.1:$(cat port)/f.bin"
    cmp www/f.bin "got$n"
  done
  kill -TERM "$(pgrep -P "$TRACER")"
  timeout 20 tail --pid="$TRACER" -f /dev/null
  [ "$(fast_bytes log sendfile)" -eq $((LEARN_EARLY * CHUNK)) ]
}

# While reads rest (every site chose plain), only one check in 16 reads the
# clock, across the process tree: a child that reads it faults in two
# pages of the vDSO, which a fork-per-connection server paid on every
# connection.  tests/progs/libclockcount.so notes each process that reads
# calibration's clock.  The first connection learns (16 chunks); each of
# the next 32 reads one chunk and writes it (two checks each): 4 read the
# clock, and up to 7 more for each second the run lasts, when the verdict
# is measured again.  Old code: all 33 children read the clock.
@test "writev-httpd, reads resting: of 32 one-chunk connections, at most 12 read the clock" {
  make -s -C "$ZC_ROOT" tests/progs/libclockcount.so
  mkdir www
  make_file www/f.bin $((1048576))
  make_file www/one.bin $CHUNK
  CLOCKCOUNT_OUT="$PWD/clocks" ZCOPY_CALIBRATE_COSTS=900,100 \
    LD_PRELOAD="$PROGS/libclockcount.so $ZC_PRELOAD" "${ZC_RUN[@]}" "$EXAMPLES/writev-httpd" -p 0 -P "$PWD/port" www \
    2>server.err 3>&- &
  local server=$!
  for ((i = 0; i < 100; i++)); do [ -s port ] && break; sleep 0.1; done
  [ -s port ] || fail "server did not start: $(cat server.err)"
  curl -sS --max-time 60 -o got "http://127.0.0.1:$(cat port)/f.bin"
  cmp www/f.bin got
  grep -qv "^$server\$" clocks || fail "the learning connection read no clock: nothing measured"
  learners=$(grep -cv "^$server\$" clocks)
  for n in $(seq 32); do
    curl -sS --max-time 60 -o "got$n" "http://127.0.0.1:$(cat port)/one.bin"
    cmp www/one.bin "got$n"
  done
  kill -TERM "$server"
  wait "$server" || true
  readers=$(($(grep -cv "^$server\$" clocks) - learners))
  echo "one-chunk connections whose process read the clock: $readers of 32"
  [ "$readers" -le 12 ]
}

# Calibration's table and the bytes in flight are shared with forked
# children, in one mapping (shim/shared.c): fork copies no page-table entry
# of a shared mapping, so a child faults once on each page of it that it
# touches, and each table's head on a page of its own cost every
# connection's child a fault more.  Old code: two mappings.
@test "the tables shared with forked children are one mapping" {
  maps=$(env LD_PRELOAD="$ZC_PRELOAD" cat /proc/self/maps)
  shared=$(grep -c ' rw-s .*/dev/zero (deleted)$' <<<"$maps")
  echo "shared anonymous mappings: $shared"
  [ "$shared" -eq 1 ]
}

# legacy-cp copies file to file on this ext4 or tmpfs, where zcopy leaves
# it plain (dest_fs_copies): with the fast call measured cheaper, only the
# refusal keeps the site plain.
@test "a destination that refuses (file to file on a filesystem that copies) rests the site: no fstat or lseek per chunk, and the reason stays dest_fs_copies" {
  make -s -C "$ZC_ROOT" examples/legacy-cp
  ZCOPY_FILE_TO_FILE= ZCOPY_CALIBRATE_COSTS=100,900 ZCOPY_STATS="$PWD/stats" \
    strace -f -c -o counts -E LD_PRELOAD="$ZC_PRELOAD" -- "${ZC_RUN[@]}" "$EXAMPLES/legacy-cp" -b $CHUNK src dst
  cmp src dst
  cat stats counts
  grep -Eq '^zcopy:   skip dest_fs_copies 64$' stats
  checks=$(awk '$NF ~ /^(fstat|lseek)$/ { n += (($(NF-1) ~ /^[0-9]+$/) ? $(NF-1) : $(NF-2)) } END { print n + 0 }' counts)
  [ "$checks" -le 16 ] || fail "$checks fstat and lseek calls for 64 chunks"
}
