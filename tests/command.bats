#!/usr/bin/env bats
# The zcopy command: options become ZCOPY_* variables, LD_PRELOAD gets the
# library once, exit statuses follow the usual wrapper conventions.

bats_require_minimum_version 1.5.0

setup() {
  load test_helper/common
}

@test "zcopy sets LD_PRELOAD and ZCOPY_* for the command" {
  run "$ZC_CMD" --mode trust --min-bytes 32k --stats -- env
  [ "$status" -eq 0 ]
  [[ "$output" == *"LD_PRELOAD=$ZC_LIB"* ]]
  [[ "$output" == *"ZCOPY_MODE=trust"* ]]
  [[ "$output" == *"ZCOPY_MIN_BYTES=32k"* ]]
  [[ "$output" == *"ZCOPY_STATS=1"* ]]
}

@test "zcopy keeps an existing LD_PRELOAD and never adds itself twice" {
  run env LD_PRELOAD="libfoo.so" "$ZC_CMD" "$ZC_CMD" -- sh -c 'echo "$LD_PRELOAD"'
  [ "$status" -eq 0 ]
  [ "${lines[-1]}" = "$ZC_LIB:libfoo.so" ]
}

@test "zcopy passes the command's own options through" {
  run "$ZC_CMD" sh -c 'echo "$0 $1"' -x --mode
  [ "$status" -eq 0 ]
  [ "$output" = "-x --mode" ]
}

@test "zcopy exit status: usage error 2, missing command 127, else the child's" {
  run "$ZC_CMD" --bogus -- true
  [ "$status" -eq 2 ]
  run "$ZC_CMD"
  [ "$status" -eq 2 ]
  run -127 "$ZC_CMD" -- /nonexistent/command
  [ "$status" -eq 127 ]
  [[ "$output" == zcopy:* ]]
  run "$ZC_CMD" -- sh -c 'exit 7'
  [ "$status" -eq 7 ]
}

@test "the command refuses exactly the values the library refuses (one validator, common.h)" {
  local checked=0
  check() {  # OPTION VARIABLE VALUE
    local cmd lib
    "$ZC_CMD" "--$1=$3" -- true 2> /dev/null && cmd=ok || cmd=bad
    env "$2=$3" LD_PRELOAD="$ZC_LIB" true 2>&1 | grep -q "^zcopy: bad $2=" && lib=bad || lib=ok
    [ "$cmd" = "$lib" ] || { echo "--$1=$3: the command says $cmd, the library $lib"; return 1; }
    checked=$((checked + 1))
  }
  # 2^54 KiB wraps round to 0 bytes in 64 bits; 2^64 does not fit at all.
  for v in 0 65536 64k 1m 1M 17592186044415k 18014398509481984k 18446744073709551616 -1 +1 " 1" 1g 1kk k; do
    check min-bytes ZCOPY_MIN_BYTES "$v"
  done
  for v in 0 8 16 17 0k 1k -0 x; do check backtrace ZCOPY_BACKTRACE "$v"; done
  for v in safe trust off diag Safe bogus; do check mode ZCOPY_MODE "$v"; done
  for v in summary decisions debug verbose; do check log-level ZCOPY_LOG_LEVEL "$v"; done
  for v in clone always never; do check file-to-file ZCOPY_FILE_TO_FILE "$v"; done
  for v in on off yes; do check calibrate ZCOPY_CALIBRATE "$v"; done
  [ "$checked" -eq 38 ]
  # Both refuse a value whose suffix would wrap it round.
  run "$ZC_CMD" --min-bytes 18014398509481984k -- true
  [ "$status" -eq 2 ]
}

@test "zcopy --version, -V and --help" {
  run "$ZC_CMD" --version
  [ "$status" -eq 0 ]
  [[ "$output" == "zcopy "[0-9]* ]]
  version=$output
  run "$ZC_CMD" -V
  [ "$status" -eq 0 ]
  [ "$output" = "$version" ]
  run "$ZC_CMD" --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"--mode"* ]]
}

# ---- zcopy run: fork, wait, forward signals ----

@test "zcopy run sets LD_PRELOAD and a ZCOPY_* variable per option" {
  unset ZCOPY_CALIBRATE  # test_helper/common's
  run "$ZC_CMD" run --mode diag --min-bytes 1m --stats=/tmp/s.%p --log /tmp/l.%p --json \
    --log-level debug --backtrace 4 --file-to-file clone --calibrate off -- env
  [ "$status" -eq 0 ]
  for want in "LD_PRELOAD=$ZC_LIB" ZCOPY_MODE=diag ZCOPY_MIN_BYTES=1m ZCOPY_STATS=/tmp/s.%p \
    ZCOPY_LOG=/tmp/l.%p ZCOPY_LOG_FORMAT=json ZCOPY_LOG_LEVEL=debug ZCOPY_BACKTRACE=4 \
    ZCOPY_FILE_TO_FILE=clone ZCOPY_CALIBRATE=off; do
    grep -qx -- "$want" <<< "$output" || { echo "missing $want" >&2; false; }
  done
  [ "$(grep -c '^ZCOPY_' <<< "$output")" -eq 9 ]
  # Relative paths become absolute: the program may chdir before it logs.
  cd "$BATS_TEST_TMPDIR"
  run "$ZC_CMD" run --log rel.%p --stats=stats -- sh -c 'cd / && printenv ZCOPY_LOG ZCOPY_STATS'
  [ "$output" = "$(printf '%s\n%s' "$PWD/rel.%p" "$PWD/stats")" ]
  # The short forms, and the shorthand without `run`.
  run "$ZC_CMD" -m trust -b 32k -s -l stderr -j -n -- printenv ZCOPY_MODE ZCOPY_LOG ZCOPY_LOG_FORMAT ZCOPY_NO_CHILDREN
  [ "$output" = "$(printf 'trust\nstderr\njson\n1')" ]
}

@test "zcopy run --no-children: the command is preloaded, what it starts is not" {
  local probe='grep -q libzcopy.so /proc/$$/maps && echo "sh: zcopy"
grep -q libzcopy.so /proc/self/maps && echo "child: zcopy"
echo "LD_PRELOAD=$LD_PRELOAD"'
  # Control: without the option, the child has it too.
  run env LD_PRELOAD=libc.so.6 "$ZC_CMD" run -- sh -c "$probe"
  [ "$output" = "$(printf 'sh: zcopy\nchild: zcopy\nLD_PRELOAD=%s:libc.so.6' "$ZC_LIB")" ]
  run env LD_PRELOAD=libc.so.6 "$ZC_CMD" run --no-children -- sh -c "$probe"
  echo "$output"
  [ "$output" = "$(printf 'sh: zcopy\nLD_PRELOAD=libc.so.6')" ]
  run "$ZC_CMD" run --no-children -- sh -c "$probe"
  [ "$output" = "$(printf 'sh: zcopy\nLD_PRELOAD=')" ]
}

@test "zcopy run never adds the library twice, from any path" {
  run "$ZC_CMD" run -- "$ZC_CMD" run -- "$ZC_CMD" -- printenv LD_PRELOAD
  [ "$output" = "$ZC_LIB" ]
  mkdir "$BATS_TEST_TMPDIR/other"
  cp "$ZC_LIB" "$BATS_TEST_TMPDIR/other/"
  run env LD_PRELOAD="libc.so.6 $BATS_TEST_TMPDIR/other/libzcopy.so" "$ZC_CMD" run -- printenv LD_PRELOAD
  [ "$output" = "libc.so.6 $BATS_TEST_TMPDIR/other/libzcopy.so" ]
}

@test "zcopy run exit status: usage error 2, missing command 127, else the child's" {
  for bad in --bogus "--mode fast" "--min-bytes lots" "--backtrace 17" "--log-level loud"; do
    # shellcheck disable=SC2086 # $bad is an option and its value
    run "$ZC_CMD" run $bad -- true
    [ "$status" -eq 2 ] || { echo "'$bad': status $status" >&2; false; }
    [[ "${lines[0]}" == zcopy:* ]]
  done
  run "$ZC_CMD" run
  [ "$status" -eq 2 ]
  run -127 "$ZC_CMD" run -- /nonexistent/command
  [ "$output" = "zcopy: /nonexistent/command: No such file or directory" ]
  run -126 "$ZC_CMD" run -- /etc/passwd
  run "$ZC_CMD" run -- sh -c 'exit 7'
  [ "$status" -eq 7 ]
  run "$ZC_CMD" run -- true
  [ "$status" -eq 0 ]
}

@test "zcopy run: a child killed by signal N gives 128+N, and nothing more on stderr" {
  for sig in TERM KILL SEGV; do
    run --separate-stderr "$ZC_CMD" run -- sh -c "kill -$sig \$\$"
    [ "$status" -eq $((128 + $(kill -l "$sig"))) ]
    [ -z "$stderr" ]
  done
}

@test "zcopy run forwards SIGTERM, SIGHUP and SIGUSR1 to the command" {
  cd "$BATS_TEST_TMPDIR"
  for sig in TERM HUP USR1; do
    rm -f ready
    # --default-signal: under nohup SIGHUP arrives ignored, and stays so (next test).
    env --default-signal="$sig" "$ZC_CMD" run -- \
      sh -c "trap 'echo got $sig; exit 3' $sig; echo \$\$ > ready; while :; do sleep 0.05; done" > out 2>&1 &
    local zpid=$!
    for _ in $(seq 100); do [ -s ready ] && break; sleep 0.05; done
    [ -s ready ]
    kill -"$sig" "$zpid"
    # Not forwarded, the command would loop forever: give it 5 s.
    for _ in $(seq 100); do kill -0 "$zpid" 2> /dev/null || break; sleep 0.05; done
    if kill -0 "$zpid" 2> /dev/null; then
      kill -KILL "$(cat ready)" "$zpid"
      echo "SIG$sig was not forwarded" >&2
      false
    fi
    local status=0
    wait "$zpid" || status=$?
    [ "$status" -eq 3 ]
    [ "$(cat out)" = "got $sig" ]
  done
}

@test "zcopy run: killed by timeout, it takes the command with it" {
  cd "$BATS_TEST_TMPDIR"
  # --foreground: timeout signals zcopy alone, not its process group.
  # 124: zcopy ended on that SIGTERM (137 would be the -k SIGKILL).
  run timeout --foreground -k 5 1 "$ZC_CMD" run -- sh -c 'echo $$ > pid; exec sleep 30'
  [ "$status" -eq 124 ]
  sleep 0.2
  if kill -0 "$(cat pid)" 2> /dev/null; then
    kill "$(cat pid)"
    echo "the command outlived zcopy" >&2
    false
  fi
}

@test "zcopy run: an ignored signal stays ignored for the command (nohup)" {
  run bash -c "trap '' HUP; '$ZC_CMD' run -- sh -c 'kill -HUP \$\$; echo alive'"
  [ "$status" -eq 0 ]
  [ "$output" = alive ]
}

@test "zcopy --help names the subcommands; run, report and doctor have their own usage" {
  run "$ZC_CMD" --help
  [ "$status" -eq 0 ]
  for word in "zcopy run" "zcopy report" "zcopy doctor" "zcopy stats" --no-children --json --log --prometheus; do
    [[ "$output" == *"$word"* ]] || { echo "--help lacks $word" >&2; false; }
  done
  run "$ZC_CMD" run --help
  [ "$status" -eq 0 ]
  run "$ZC_CMD" report --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"--json"* ]]
  run "$ZC_CMD" run --version
  [[ "$output" == "zcopy "[0-9]* ]]
}

@test "make install into a PREFIX: run and report work from there; uninstall removes them" {
  cd "$BATS_TEST_TMPDIR"
  local prefix=$BATS_TEST_TMPDIR/prefix
  make -s -C "$ZC_ROOT" install PREFIX="$prefix" > /dev/null
  [ -x "$prefix/bin/zcopy" ]
  [ -x "$prefix/lib/zcopy/libzcopy.so" ]
  [ -x "$prefix/lib/zcopy/zcopy-report" ]
  run "$prefix/bin/zcopy" run -- printenv LD_PRELOAD
  [ "$output" = "$prefix/lib/zcopy/libzcopy.so" ]
  echo 'zcopy: pid=1 event=counters action=skip method=none reason=not_from_file calls=2 bytes=9 site=/x+0x1' > log
  run "$prefix/bin/zcopy" report log
  [ "$status" -eq 0 ]
  [[ "$output" == *"decisions: skip: 2 calls, 9 bytes"* ]]
  make -s -C "$ZC_ROOT" uninstall PREFIX="$prefix" > /dev/null
  [ -z "$(find "$prefix" -type f)" ]
}
