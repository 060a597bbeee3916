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

@test "zcopy --version and --help" {
  run "$ZC_CMD" --version
  [ "$status" -eq 0 ]
  [[ "$output" == "zcopy "[0-9]* ]]
  run "$ZC_CMD" --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"--mode"* ]]
}
