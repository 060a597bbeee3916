#!/usr/bin/env bats
# Fuzzing the ZCOPY_* settings: any bytes in any of them (no NUL: the
# environment cannot hold one) must leave the program running with its
# bytes intact, and zcopy may say at most one "zcopy:" line about it.
# ZCOPY_STATS and ZCOPY_LOG name destinations, so they are fuzzed apart:
# there a summary or log (on stderr or in a file) is also allowed, and any
# file must appear inside the run's own directory.  Variables the library
# does not know yet are simply ignored.
#
# Each case is drawn from a fixed seed (case number + SETTINGS_FUZZ_SEED,
# default 0); SETTINGS_FUZZ_CASES scales the number of cases (default 1 =
# 200 + 50 + 50 cases).  A failure prints the seed and the values (%q).

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so tests/progs/pipecopy
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  mkdir -p data run
  make_file data/src 200000
}

# Values worth mutating: every keyword, numbers at the edges of the parser.
DICT=(safe trust off diag clone always 0 1 stderr 16384 16k 65536 64k 1m 1M 0k 1K -1 +5 " 5" "5 " 0x10 1e3 k m
  18446744073709551615 18446744073709551616 18014398509481984k 17592186044416m
  99999999999999999999999m text json summary decisions debug 16 17 %p %p%p%p % %% - .)

# random_value SEED: 0-300 random bytes (1-255) half the time, otherwise a
# dictionary word with 0-3 random insertions, deletions or replacements.
random_value() {
  local seed=$1
  LC_ALL=C awk -v seed="$seed" -v dict="$(printf '%s\n' "${DICT[@]}")" '
    function byte() { return sprintf("%c", 1 + int(rand() * 255)) }
    BEGIN {
      srand(seed)
      if (rand() < 0.5) {
        n = int(rand() * 301)
        for (i = 0; i < n; i++) printf "%s", byte()
        exit
      }
      nd = split(dict, words, "\n")
      v = words[1 + int(rand() * nd)]
      for (m = int(rand() * 4); m > 0; m--) {
        p = int(rand() * (length(v) + 1))
        r = rand()
        if (r < 0.4) v = substr(v, 1, p) byte() substr(v, p + 1)
        else if (r < 0.7) v = substr(v, 1, p) substr(v, p + 2)
        else v = substr(v, 1, p) byte() substr(v, p + 2)
      }
      printf "%s", v
    }'
}

# A destination value may name a file: keep it inside run/ (no absolute
# path, no ".." to climb out).  Any other '/' names a directory that does
# not exist, which zcopy must report, not crash on.
confine() {
  local v=$1
  v=${v//../._}
  [ "${v:0:1}" = / ] && v=_${v:1}
  printf '%s' "$v"
}

# run_case SEED VAR=VALUE...: pipecopy data/src, preloaded, in run/ (stdout to
# a file or, for odd seeds, a pipe).  Sets STATUS; stderr in ../err.
run_case() {
  local seed=$1
  shift
  touch ../marker
  if [ $((seed % 2)) -eq 0 ]; then
    env -u ZCOPY_MODE -u ZCOPY_MIN_BYTES -u ZCOPY_STATS -u ZCOPY_LOG -u ZCOPY_LOG_FORMAT \
      -u ZCOPY_LOG_LEVEL -u ZCOPY_BACKTRACE -u ZCOPY_NO_CHILDREN -u ZCOPY_FILE_TO_FILE \
      "$@" LD_PRELOAD="${ZC_PRELOAD:-$ZC_LIB}" "${ZC_RUN[@]}" "$PROGS/pipecopy" ../data/src > ../out 2> ../err
    STATUS=$?
  else
    env -u ZCOPY_MODE -u ZCOPY_MIN_BYTES -u ZCOPY_STATS -u ZCOPY_LOG -u ZCOPY_LOG_FORMAT \
      -u ZCOPY_LOG_LEVEL -u ZCOPY_BACKTRACE -u ZCOPY_NO_CHILDREN -u ZCOPY_FILE_TO_FILE \
      "$@" LD_PRELOAD="${ZC_PRELOAD:-$ZC_LIB}" "${ZC_RUN[@]}" "$PROGS/pipecopy" ../data/src 2> ../err | cat > ../out
    STATUS=${PIPESTATUS[0]}
  fi
}

# fail_case SEED WHY VAR=VALUE...: says which case failed and how to see it.
fail_case() {
  local seed=$1 why=$2
  shift 2
  echo "case seed $seed: $why" >&2
  local kv
  for kv in "$@"; do
    printf '  %s=%q\n' "${kv%%=*}" "${kv#*=}" >&2
  done
  echo "  stderr:" >&2
  head -c 2000 ../err | cat -v | sed 's/^/    /' >&2
  return 1
}

# The checks every case shares: no crash, the bytes copied, nothing written
# anywhere but run/.
common_checks() {
  local seed=$1
  shift
  if [ "$STATUS" -ne 0 ]; then
    fail_case "$seed" "exit status $STATUS" "$@"
    return 1
  fi
  if ! cmp -s ../data/src ../out; then
    fail_case "$seed" "output differs from the source" "$@"
    return 1
  fi
  local stray
  stray=$(cd .. && find . -mindepth 1 -newer marker ! -path ./run ! -path './run/*' ! -name out ! -name err)
  if [ -n "$stray" ]; then
    fail_case "$seed" "files written outside run/: $(cat -v <<< "$stray")" "$@"
    return 1
  fi
}

cases() {
  echo $(( $1 * ${SETTINGS_FUZZ_CASES:-1} ))
}

# other_case SEED: one to all of the non-destination variables, each with
# its own value.
other_case() {
  local seed=$1 v kv mode
  local vars=(ZCOPY_MODE ZCOPY_MIN_BYTES ZCOPY_LOG_FORMAT ZCOPY_LOG_LEVEL ZCOPY_BACKTRACE ZCOPY_NO_CHILDREN ZCOPY_FILE_TO_FILE)
  local set=()
  for ((v = 0; v < ${#vars[@]}; v++)); do
    if [ $(( (seed * 7 + v * 13) % 3 )) -eq 0 ] || [ $v -eq $((seed % ${#vars[@]})) ]; then
      set+=("${vars[v]}=$(random_value $((seed * 16 + v)))")
    fi
  done
  run_case "$seed" "${set[@]}"
  common_checks "$seed" "${set[@]}" || return 1
  mode=
  for kv in "${set[@]}"; do
    [ "${kv%%=*}" = ZCOPY_MODE ] && mode=${kv#*=}
  done
  if grep -qv '^zcopy:' ../err; then
    fail_case "$seed" "a stderr line without zcopy:" "${set[@]}"
    return 1
  fi
  # diag mode prints its report: many lines, all ours.
  if [ "$mode" != diag ] && [ "$(wc -l < ../err)" -gt 1 ]; then
    fail_case "$seed" "more than one zcopy: line" "${set[@]}"
    return 1
  fi
  if [ -n "$(ls -A .)" ]; then
    fail_case "$seed" "files created: $(ls -A . | head -3 | cat -v)" "${set[@]}"
    return 1
  fi
}

# fuzz_cases FIRST N FUNCTION: runs FUNCTION SEED for N seeds; shows the
# first five failures and fails if there was any.
fuzz_cases() {
  local first=$1 n=$2 fn=$3 i failed=0
  for ((i = 0; i < n; i++)); do
    if ! "$fn" $((first + i + ${SETTINGS_FUZZ_SEED:-0})) 2> ../why; then
      failed=$((failed + 1))
      [ $failed -le 5 ] && cat ../why >&2
    fi
  done
  echo "$failed of $n cases failed" >&2
  [ $failed -eq 0 ]
}

@test "random ZCOPY_MODE, MIN_BYTES, LOG_FORMAT, LOG_LEVEL, BACKTRACE, NO_CHILDREN, FILE_TO_FILE: no crash, at most one zcopy: line" {
  cd run
  fuzz_cases 0 "$(cases 200)" other_case
}

# dest_case VAR SEED: VAR fuzzed alone; a summary or log on stderr or in a
# file of run/ is fine, or one "zcopy:" error line; nothing else.
dest_case() {
  local var=$1 seed=$2 value
  value=$(confine "$(random_value $((seed * 16 + 9)))")
  rm -rf ./* ./.[!.]* 2>/dev/null
  run_case "$seed" "$var=$value"
  common_checks "$seed" "$var=$value" || return 1
  if grep -qv '^zcopy:' ../err; then
    fail_case "$seed" "a stderr line without zcopy:" "$var=$value"
    return 1
  fi
  local f
  while IFS= read -r -d '' f; do
    # A summary or a log: text lines start with zcopy:, JSON lines with {.
    if [ -s "$f" ] && grep -qv -e '^zcopy:' -e '^{' "$f"; then
      fail_case "$seed" "file $(printf %q "$f") holds other lines: $(head -c 300 "$f" | cat -v)" "$var=$value"
      return 1
    fi
  done < <(find . -type f -print0)
}

stats_case() { dest_case ZCOPY_STATS "$1"; }
log_case() { dest_case ZCOPY_LOG "$1"; }

@test "random ZCOPY_STATS: no crash; a summary on stderr or in a file of the run's directory, or one zcopy: line" {
  cd run
  fuzz_cases 1000 "$(cases 50)" stats_case
}

@test "random ZCOPY_LOG: no crash; a log on stderr or in a file of the run's directory, or one zcopy: line" {
  cd run
  fuzz_cases 2000 "$(cases 50)" log_case
}
