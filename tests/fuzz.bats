#!/usr/bin/env bats
# Differential fuzzing, a fixed set of seeds: for each seed tests/progs/difftest
# runs a random list of reads, writes, fd changes, signals, forks and peer
# closes without zcopy, in safe mode and in trust mode, and every transcript
# (return values, errno, offsets, signals, the bytes every peer received)
# must be the same.  One seed in four runs its safe run under strace: the
# summary says in how many of those a fast call moved bytes, so that a
# zcopy which never rewrites cannot pass unnoticed.
# A difference is reported with its replay command, not shrunk (that takes
# minutes): `tests/fuzz/run SEED..SEED` shrinks it to the shortest op list.
# Every difference fails, also one that goes away on a rerun (the report
# says how often it came back in three): an intermittent difference is what
# a race looks like (issue 16).  `make fuzz` counts every difference too.
# `make fuzz SEEDS=N` runs more seeds; FUZZ_SEEDS changes this set and
# FUZZ_EXCLUDE leaves op classes out (tests/fuzz/run --help).

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/difftest
}

setup() {
  load test_helper/common
}

@test "fuzz: seeds ${FUZZ_SEEDS:-1..300} give the same transcript without zcopy, in safe mode and in trust mode" {
  run "$ZC_ROOT/tests/fuzz/run" -j 2 --no-minimize ${FUZZ_EXCLUDE:+--exclude "$FUZZ_EXCLUDE"} "${FUZZ_SEEDS:-1..300}"
  echo "$output" | grep -v '^fuzz: [0-9]'
  [ "$status" -eq 0 ]
  # A tester under which zcopy never rewrites proves nothing.
  sampled=$(sed -n 's/^fast calls moved bytes in \([0-9]*\) of \([0-9]*\) seeds.*/\1 \2/p' <<< "$output")
  [ -n "$sampled" ]
  set -- $sampled
  [ "$1" -ge $(( $2 / 3 )) ]
}
