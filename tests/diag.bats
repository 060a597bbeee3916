#!/usr/bin/env bats
# ZCOPY_MODE=diag changes nothing and reports every copy pattern per call
# site, at exit and through `zcopy report`.  tests/progs/twoloops has two
# sites: copy_file_to_pipe (a splice candidate) and copy_file_to_udp
# (a datagram socket: never rewritten).

bats_require_minimum_version 1.5.0

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so shim/zcopy tests/progs/twoloops >&2
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  make_file src $((4 << 20))
}

# Each site's line in the diag report at exit.
pipe_line() { grep 'copy_file_to_pipe' "$1"; }
udp_line() { grep 'copy_file_to_udp' "$1"; }

@test "diag makes no fast call where safe mode does" {
  # Control: the same program, in safe mode, splices the pipe copy.
  traced trace "$PROGS/twoloops" src
  [ "$(fast_bytes trace splice)" -eq $((4 << 20)) ]

  traced trace env ZCOPY_MODE=diag "$PROGS/twoloops" src 2> err
  [ "$(fast_bytes trace)" -eq 0 ]
  run grep -cE '(sendfile|splice|copy_file_range)\(' trace
  [ "$output" -eq 0 ]
  grep -q '^zcopy: diag report' err
}

@test "diag's exit report names both functions, what it would do and why not" {
  env ZCOPY_MODE=diag LD_PRELOAD="$ZC_LIB" "$PROGS/twoloops" src 2> err
  cat err
  # After the summary, largest first; one line per site.
  [ "$(grep -n '^zcopy: summary' err | cut -d: -f1)" -lt "$(grep -n '^zcopy: diag report' err | cut -d: -f1)" ]
  pipe_line err | grep -q "4194304 bytes in 64 calls through user space; would rewrite all with splice"
  udp_line err | grep -q "4194304 bytes in 128 calls through user space; would not rewrite: destination is a datagram or seqpacket socket (dest_not_stream)"
  [ "$(grep -c '^zcopy:   .*twoloops+0x' err)" -eq 2 ]
}

@test "zcopy report on a diag log names both functions, their lines, the reason and what to do" {
  env ZCOPY_MODE=diag ZCOPY_LOG="$PWD/log" LD_PRELOAD="$ZC_LIB" "$PROGS/twoloops" src 2> /dev/null
  run "$ZC_CMD" report log
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == "zcopy report: 1 log, 1 process, 2 call sites, 8388608 bytes" ]]
  # addr2line: each site's function and its line in twoloops.c (-g build).
  pipe_line=$(grep -n 'copy_file_to_pipe at .*twoloops.c:[0-9]' <<< "$output")
  udp_line=$(grep -n 'copy_file_to_udp at .*twoloops.c:[0-9]' <<< "$output")
  [[ "$pipe_line" == *"4194304       64  copy_file_to_pipe"* ]]
  [[ "$udp_line" == *"4194304      128  copy_file_to_udp"* ]]
  # The reported line is the write() call inside that function.
  local n
  n=$(grep -o 'copy_file_to_udp at [^ ,]*' <<< "$output" | sed 's/.*://')
  sed -n "${n}p" "$ZC_ROOT/tests/progs/twoloops.c" | grep -q 'write('
  [[ "$output" == *"decisions: would_rewrite splice: 64 calls, 4194304 bytes"* ]]
  [[ "$output" == *"suggest:   run with --mode safe: 4194304 bytes would go through splice"* ]]
  [[ "$output" == *"decisions: skip: 128 calls, 4194304 bytes"* ]]
  [[ "$output" == *"reasons:   destination is a datagram or seqpacket socket (dest_not_stream)"* ]]
  [[ "$output" == *"suggest:   nothing to gain: destination is a datagram socket"* ]]
}

@test "zcopy report --json: one object per site with the same numbers" {
  env ZCOPY_MODE=diag ZCOPY_LOG="$PWD/log" ZCOPY_LOG_FORMAT=json LD_PRELOAD="$ZC_LIB" "$PROGS/twoloops" src 2> /dev/null
  "$ZC_CMD" report --json log > report.json
  python3 - <<'EOF'
import json
rows = json.load(open("report.json"))
assert len(rows) == 2, rows
by = {r["function"]: r for r in rows}
pipe, udp = by["copy_file_to_pipe"], by["copy_file_to_udp"]
assert (pipe["bytes"], pipe["calls"]) == (4194304, 64), pipe
assert pipe["decisions"][0]["action"] == "would_rewrite" and pipe["decisions"][0]["method"] == "splice"
assert (udp["bytes"], udp["calls"]) == (4194304, 128), udp
assert udp["decisions"][0]["reason"] == "dest_not_stream"
assert udp["reasons"] == ["destination is a datagram or seqpacket socket"], udp
assert "datagram" in udp["suggestion"] and "splice" in pipe["suggestion"]
for r in rows:
    assert r["source"] and "twoloops.c:" in r["source"], r
    assert r["module"].endswith("/twoloops") and r["offset"].startswith("0x")
    assert len(r["frames"]) >= 2 and r["processes"] == 1
EOF
}

@test "diag with --mode diag through zcopy run: same report, same exit status" {
  run --separate-stderr "$ZC_CMD" run --mode diag --log "$PWD/log.%p" -- "$PROGS/twoloops" src
  [ "$status" -eq 0 ]
  [[ "$stderr" == *"would rewrite all with splice"* ]]
  run "$ZC_CMD" report log.*
  [[ "$output" == *"copy_file_to_pipe"* && "$output" == *"copy_file_to_udp"* ]]
}
