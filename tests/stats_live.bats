#!/usr/bin/env bats
# The live stats file and `zcopy stats` (shim/live.c, shim/stats_cmd.c):
# while a process under zcopy runs, its counters sit in a shared-memory
# file that `zcopy stats` reads; the file goes when the process exits, and
# `zcopy stats` removes the file of one that was killed.  Each test sets
# XDG_RUNTIME_DIR to a directory of its own, where the files land unless
# /run/zcopy is writable.

bats_require_minimum_version 1.5.0

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so shim/zcopy examples/legacy-httpd tests/progs/livecount \
    tests/progs/pipecopy >&2
}

setup() {
  load test_helper/common
  T=$BATS_TEST_TMPDIR
  cd "$T"
  export XDG_RUNTIME_DIR=$T/xdg
  mkdir -m 0700 xdg
  SERVERS=()
}

teardown() {
  local pid
  for pid in "${SERVERS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # What a killed server left here is ours to clear, not the next test's.
  [ ${#SERVERS[@]} -eq 0 ] || "$ZC_CMD" stats "${SERVERS[@]}" >/dev/null 2>&1 || true
}

fail() {
  echo "$*" >&2
  return 1
}

# live_file PID: the live stats file of PID, wherever the library put it.
live_file() {
  local f
  for f in /run/zcopy/zcopy-stats."$1".* "$XDG_RUNTIME_DIR"/zcopy-stats."$1".* /dev/shm/zcopy-stats."$1".*; do
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

# field OUTPUT NAME: the bytes of one "zcopy:   NAME N bytes M calls" line.
field() {
  awk -v name="$2" '$1 == "zcopy:" && $2 == name { print $3; found = 1 } END { if (!found) print "missing" }' <<<"$1"
}

# start_server: legacy-httpd under zcopy in the background, serving www;
# SERVER is its pid, PORT its port.
start_server() {
  rm -f port
  env LD_PRELOAD="$ZC_PRELOAD" "$EXAMPLES/legacy-httpd" -p 0 -P port www 2>>server.err &
  SERVER=$!
  SERVERS+=("$SERVER")
  for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
  [ -s port ] || fail "legacy-httpd did not start: $(cat server.err)"
  PORT=$(cat port)
}

# download: www/file from the server, checked.
download() {
  rm -f got
  curl -sf -o got "http://127.0.0.1:$PORT/file"
  cmp www/file got
}

# 64 chunks of 64 KiB: every byte of the body goes by sendfile.
SIZE=$((64 * 65536))

serve_file() {
  mkdir -p www
  make_file www/file "$SIZE"
}

@test "legacy-httpd: while it runs zcopy stats PID shows its sendfile bytes, --json parses, and its file goes when it exits" {
  serve_file
  start_server
  download
  file=$(live_file "$SERVER") || fail "no live stats file for $SERVER"

  run -0 "$ZC_CMD" stats "$SERVER"
  echo "$output"
  grep -q "^zcopy: stats pid=$SERVER exe=legacy-httpd .* state=live" <<<"$output"
  [ "$(field "$output" sendfile)" -eq "$SIZE" ]
  grep -qE "^zcopy:   site legacy-httpd\+0x[0-9a-f]+ rewrite sendfile $SIZE bytes 64 calls$" <<<"$output"

  run -0 bash -c '"$1" stats --json "$2" | python3 -m json.tool' _ "$ZC_CMD" "$SERVER"
  "$ZC_CMD" stats --json "$SERVER" > stats.json
  python3 - "$SERVER" "$SIZE" <<'EOF'
import json, sys
p = json.load(open("stats.json"))
assert p["pid"] == int(sys.argv[1]) and p["state"] == "live", p
assert p["methods"]["sendfile"] == {"bytes": int(sys.argv[2]), "calls": 64}, p["methods"]
assert p["exe"].endswith("/legacy-httpd") and p["mode"] == "safe", p
site = p["sites"][0]
assert (site["action"], site["method"], site["bytes"]) == ("rewrite", "sendfile", int(sys.argv[2])), site
EOF

  # Mapped, with no fd left open: a daemon that closes every fd keeps it.
  grep -qF "$file" "/proc/$SERVER/maps"
  ! ls -l "/proc/$SERVER/fd" | grep -qF zcopy-stats

  kill -TERM "$SERVER"
  wait "$SERVER"
  [ ! -e "$file" ] || fail "$file left after a clean exit"
}

@test "zcopy stats --prometheus: node_exporter's textfile format, with pid and exe labels" {
  serve_file
  start_server
  download
  run -0 "$ZC_CMD" stats --prometheus "$SERVER"
  echo "$output"
  grep -qx "zcopy_bytes_total{pid=\"$SERVER\",exe=\"legacy-httpd\",method=\"sendfile\"} $SIZE" <<<"$output"
  grep -qx "zcopy_calls_total{pid=\"$SERVER\",exe=\"legacy-httpd\",method=\"sendfile\"} 64" <<<"$output"
  grep -qx "zcopy_skips_total{pid=\"$SERVER\",exe=\"legacy-httpd\",reason=\"below_min_bytes\"} [0-9]*" <<<"$output"
  for metric in zcopy_bytes_total zcopy_calls_total zcopy_skips_total; do
    [ "$(grep -c "^# TYPE $metric counter$" <<<"$output")" -eq 1 ]
    [ "$(grep -c "^# HELP $metric " <<<"$output")" -eq 1 ]
  done
  # Every other line is a sample; a metric's samples come together.
  bad=$(grep -vE '^# (HELP|TYPE) ' <<<"$output" |
    grep -vE '^zcopy_(bytes|calls|skips)_total\{pid="[0-9]+",exe="[^"]*",(method|reason)="[a-z_]+"\} [0-9]+$' || true)
  [ -z "$bad" ] || fail "not in the textfile format: $bad"
  [ "$(grep -v '^#' <<<"$output" | cut -d'{' -f1 | uniq | wc -l)" -eq 3 ]
}

@test "zcopy stats --watch 1 refreshes with bytes/s, and ends once the process has" {
  serve_file
  start_server
  "$ZC_CMD" stats --watch 1 "$SERVER" > watch.out 2> watch.err &
  watcher=$!
  download
  for _ in $(seq 100); do [ "$(grep -c 'state=live' watch.out)" -ge 2 ] && break; sleep 0.05; done
  kill -TERM "$SERVER"
  wait "$SERVER"
  wait "$watcher"  # ends at its next refresh, with status 0
  cat watch.out
  [ "$(grep -c "^zcopy: stats pid=$SERVER .* state=live" watch.out)" -ge 2 ]
  grep -qE '^zcopy:   sendfile [0-9]+ bytes [0-9]+ calls [0-9]+ bytes/s$' watch.out
  [ ! -s watch.err ]
}

@test "a server killed with SIGKILL leaves a file that zcopy stats shows as gone and removes; a live server's stays" {
  serve_file
  start_server
  download
  killed=$SERVER
  start_server
  alive=$SERVER
  killed_file=$(live_file "$killed")
  alive_file=$(live_file "$alive")
  kill -KILL "$killed"
  wait "$killed" || true
  [ -e "$killed_file" ]

  run -0 "$ZC_CMD" stats
  echo "$output"
  grep -q "^zcopy: stats pid=$killed exe=legacy-httpd .* state=gone" <<<"$output"
  grep -q "^zcopy: stats pid=$alive exe=legacy-httpd .* state=live" <<<"$output"
  # The last counts of the one gone.
  awk -v pid="pid=$killed" '$3 == pid { on = 1; next } /^zcopy: stats/ { on = 0 } on' <<<"$output" |
    grep -qx "zcopy:   sendfile $SIZE bytes 64 calls"
  [ ! -e "$killed_file" ] || fail "the dead server's file is still there"
  [ -e "$alive_file" ] || fail "the live server's file was removed"

  run -1 "$ZC_CMD" stats "$killed"
  grep -q "pid $killed: no such process" <<<"$output"
}

@test "a file left by an earlier process of the same pid is shown as gone and removed, never the live process's" {
  serve_file
  start_server
  download
  file=$(live_file "$SERVER")
  start=${file##*.}
  # The same file as an earlier process with this pid would have left it.
  stale=${file%.*}.$((start - 1))
  python3 - "$file" "$stale" $((start - 1)) <<'EOF'
import struct, sys, os
data = bytearray(open(sys.argv[1], "rb").read())
struct.pack_into("<Q", data, 24, int(sys.argv[3]))  # start_ticks (live_file.h)
open(sys.argv[2], "wb").write(data)
os.chmod(sys.argv[2], 0o600)
EOF
  run -0 "$ZC_CMD" stats "$SERVER"
  echo "$output"
  [ "$(grep -c "^zcopy: stats pid=$SERVER .* state=gone" <<<"$output")" -eq 1 ]
  [ "$(grep -c "^zcopy: stats pid=$SERVER .* state=live" <<<"$output")" -eq 1 ]
  [ ! -e "$stale" ]
  [ -e "$file" ]
}

@test "the file is mode 0600 and its process's user's; another user's process needs root" {
  command -v setpriv >/dev/null || skip "no setpriv"
  [ "$(id -u)" -eq 0 ] || skip "needs root, to run a process as another user"
  # Not in this test's XDG_RUNTIME_DIR, which only root may enter.
  setpriv --reuid=65534 --regid=65534 --clear-groups env -u XDG_RUNTIME_DIR LD_PRELOAD="$ZC_PRELOAD" sleep 30 &
  theirs=$!
  env LD_PRELOAD="$ZC_PRELOAD" sleep 30 &
  ours=$!
  SERVERS+=("$theirs" "$ours")
  for _ in $(seq 100); do live_file "$theirs" >/dev/null && live_file "$ours" >/dev/null && break; sleep 0.05; done
  [ "$(stat -c '%a %u' "$(live_file "$theirs")")" = "600 65534" ]
  [ "$(stat -c '%a %u' "$(live_file "$ours")")" = "600 0" ]

  run -0 setpriv --reuid=65534 --regid=65534 --clear-groups "$ZC_CMD" stats "$theirs"
  grep -q "^zcopy: stats pid=$theirs exe=sleep .* state=live" <<<"$output"
  run -1 setpriv --reuid=65533 --regid=65533 --clear-groups "$ZC_CMD" stats "$theirs"
  grep -q "pid $theirs: another user's process.*needs root" <<<"$output"
  run -0 "$ZC_CMD" stats "$theirs"
  grep -q "^zcopy: stats pid=$theirs exe=sleep .* state=live" <<<"$output"
}

@test "a process that ends with _exit, as dash does, leaves no file" {
  env LD_PRELOAD="$ZC_PRELOAD" sh -c 'echo $$ > pid; ls "$XDG_RUNTIME_DIR" /dev/shm /run/zcopy > seen 2>/dev/null; exit 0'
  grep -q "^zcopy-stats\.$(cat pid)\." seen  # while it ran
  ! live_file "$(cat pid)"
}

@test "a forked child counts into a file of its own once it has written a while for a second; a short one makes none" {
  env LD_PRELOAD="$ZC_PRELOAD" "$PROGS/livecount" fork "$T" &
  SERVERS+=($!)
  for _ in $(seq 200); do [ -e ready ] && break; sleep 0.05; done
  [ -e ready ] || fail "the long child never got ready"
  read -r parent short long < pids

  run -0 "$ZC_CMD" stats "$long"
  echo "$output"
  # Its 100 bytes from before it had a file, and the 7777 after.
  grep -qx "zcopy:   passed_through 7877 bytes 101 calls" <<<"$output"
  run -0 "$ZC_CMD" stats "$parent"
  echo "$output"
  grep -qx "zcopy:   passed_through $((1000 + $(stat -c %s pids))) bytes 11 calls" <<<"$output"
  ! live_file "$short"
  parent_file=$(live_file "$parent")
  long_file=$(live_file "$long")

  touch stop
  wait "${SERVERS[0]}"
  [ ! -e "$parent_file" ] && [ ! -e "$long_file" ]
  ! live_file "$short"
}

@test "small writes of a single-threaded process reach the live file by the next close, and the summary counts every one" {
  # Fewer writes than live.c moves at a time; making DIR/closed is a close().
  env LD_PRELOAD="$ZC_PRELOAD" ZCOPY_STATS="$T/summary" "$PROGS/livecount" small 10 "$T" &
  pid=$!
  SERVERS+=("$pid")
  for _ in $(seq 200); do [ -e closed ] && break; sleep 0.05; done
  [ -e closed ] || fail "livecount never closed"
  run -0 "$ZC_CMD" stats "$pid"
  echo "$output"
  grep -qx "zcopy:   passed_through 10 bytes 10 calls" <<<"$output"
  touch stop
  wait "$pid"
  grep -x "zcopy:   passed_through 10 bytes 10 calls" summary
}

@test "threads count exactly: 12 threads' one-byte writes add up, with or without the live file" {
  for live in 1 0; do
    ZCOPY_STATS_LIVE=$live ZCOPY_STATS=1 with_zcopy "$PROGS/livecount" threads 12 5000 2> err
    cat err
    grep -qx "zcopy:   passed_through 60000 bytes 60000 calls" err
  done
}

@test "ZCOPY_STATS_LIVE=0: no file; and where no file can be made, the program runs as before" {
  env ZCOPY_STATS_LIVE=0 LD_PRELOAD="$ZC_PRELOAD" sleep 30 &
  off=$!
  SERVERS+=("$off")
  env LD_PRELOAD="$ZC_PRELOAD" sleep 30 &
  on=$!
  SERVERS+=("$on")
  for _ in $(seq 100); do live_file "$on" >/dev/null && break; sleep 0.05; done
  live_file "$on"
  ! live_file "$off"
  run -1 "$ZC_CMD" stats "$off"
  grep -q "no live stats file" <<<"$output"

  # A read-only /dev/shm, and a full one (where a store into a file page
  # could have raised SIGBUS), with nowhere else to go.
  make_file src 1048576
  unshare -m true 2>/dev/null || skip "no mount namespace here"
  for opts in ro size=4k; do
    [ ! -w /run/zcopy ] || skip "/run/zcopy is writable here"
    run -0 unshare -m sh -c '
      mount -t tmpfs -o "$1" tmpfs /dev/shm && mount -t tmpfs -o ro tmpfs "$XDG_RUNTIME_DIR" || exit 99
      "$2" -f -qq -E LD_PRELOAD="$3" -E ZCOPY_STATS="$4/stats.$1" -e trace=splice -o "$4/trace.$1" -- \
        "$5" src 2> "$4/err.$1" | cat > "$4/out.$1"
      find /dev/shm "$XDG_RUNTIME_DIR" -mindepth 1' _ "$opts" "$(command -v strace)" "$ZC_PRELOAD" "$T" "$PROGS/pipecopy"
    [ -z "$output" ] || fail "files were made: $output"
    cmp src "out.$opts"
    [ ! -s "err.$opts" ]
    [ "$(stats_bytes "stats.$opts" splice)" -eq 1048576 ]
    [ "$(fast_bytes "trace.$opts" splice)" -eq 1048576 ]
  done
}
