#!/usr/bin/env bats
# The exit summary (ZCOPY_STATS): it reaches the user whatever the program
# closes on its way out, its file is private, and a process with nothing to
# report stays quiet.

bats_require_minimum_version 1.5.0

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/dup2all tests/progs/closeall >&2
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  make_file src $((4 << 20))
}

# summary_total FILE EXE: bytes in all five method lines of EXE's summary
# in FILE ("missing" if FILE holds no summary of EXE).
summary_total() {
  awk -v exe="exe=$2" '
    $2 == "summary" { mine = 0; for (i = 3; i <= NF; i++) if ($i == exe) { mine = 1; seen = 1 } next }
    mine && $1 == "zcopy:" && $4 == "bytes" { sum += $3 }
    END { print seen ? sum : "missing" }' "$1"
}

@test "GNU cp, cat and dd close stderr at exit (gnulib close_stdout): their summary still reaches stderr" {
  size=$((4 << 20))
  ZCOPY_STATS=1 with_zcopy cp src cp.out 2> cp.err
  cmp src cp.out
  ZCOPY_STATS=1 with_zcopy cat src 2> cat.err | cat > cat.out
  cmp src cat.out
  ZCOPY_STATS=1 with_zcopy dd if=src of=dd.out bs=64k status=none 2> dd.err
  cmp src dd.out
  for prog in cp cat dd; do
    cat "$prog.err"
    grep -q "^zcopy: summary pid=[0-9]* exe=$prog " "$prog.err"
    # Whatever moved the bytes (the program's own copy_file_range, splice,
    # or the plain call), the summary accounts for every one.
    [ "$(summary_total "$prog.err" "$prog")" -eq "$size" ]
  done
  # Through the zcopy command, as README shows it.
  run --separate-stderr "$ZC_CMD" --stats -- cp src cp2.out
  [ "$status" -eq 0 ]
  cmp src cp2.out
  [[ "$stderr" == *"zcopy: summary pid="*" exe=cp "* ]]
}

@test "a program that dup2s over every fd, zcopy's copy of stderr too: the summary goes to fd 2, nothing into its file" {
  ZCOPY_STATS=1 with_zcopy "$PROGS/dup2all" -n src out1 out2 filler 2> err
  cmp src out1
  cmp src out2
  grep -q '^zcopy: summary pid=' err
  [ "$(grep -c zcopy filler)" -eq 0 ]
}

@test "a daemon that closes every fd, zcopy's copy of stderr too: the summary still goes to its fd 2" {
  ulimit -n 4096
  ZCOPY_STATS=1 with_zcopy "$PROGS/closeall" src 2> err > out
  cmp src out
  grep -q '^zcopy: summary pid=' err
}

@test "the summary's file is created 0600 and never through a symlink" {
  umask 022
  ZCOPY_STATS="$PWD/stats.%p" with_zcopy cp src out
  cmp src out
  files=(stats.*)
  [ "${#files[@]}" -eq 1 ]
  grep -q '^zcopy: summary pid=' "${files[0]}"
  [ "$(stat -c %a "${files[0]}")" = 600 ]

  echo "not zcopy's" > target
  ln -s target link
  run --separate-stderr env ZCOPY_STATS="$PWD/link" LD_PRELOAD="$ZC_PRELOAD" cp src out2
  [ "$status" -eq 0 ]
  cmp src out2
  [ "$(cat target)" = "not zcopy's" ]
  [[ "$stderr" == "zcopy: cannot write the summary to $PWD/link: "* ]]
}

@test "with ZCOPY_STATS=1 in the environment, only the processes that met something worth a summary print one" {
  # bash, its subshells and wc write a few bytes each; cat copies the file.
  ZCOPY_STATS=1 with_zcopy bash -c 'x=$(echo y); (echo a); echo "$x"; cat src | wc -c; true' 2> err > out
  cat err
  [ "$(cat out)" = "$(printf 'a\ny\n%d' $((4 << 20)))" ]
  [ "$(grep -c '^zcopy: summary' err)" -eq 1 ]
  grep -q '^zcopy: summary pid=[0-9]* exe=cat ' err
  # Small writes that add up to ZCOPY_MIN_BYTES are worth one: the
  # summary says why nothing was rewritten.
  ZCOPY_STATS=1 with_zcopy dd if=/dev/zero bs=8k count=20 status=none 2> err > out
  cat err
  [ "$(grep -c '^zcopy: summary pid=[0-9]* exe=dd ' err)" -eq 1 ]
  grep -q '^zcopy:   skip below_min_bytes ' err
  # diag always reports, and a file keeps every process's summary.
  ZCOPY_MODE=diag with_zcopy true 2> err
  grep -q '^zcopy: summary pid=[0-9]* exe=true ' err
  ZCOPY_STATS="$PWD/stats.%p" with_zcopy bash -c '(true); true' 2> err
  [ ! -s err ]
  files=(stats.*)
  [ "${#files[@]}" -ge 2 ]
}
