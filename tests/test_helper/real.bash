# Helpers for tests/real_*.bats: Debian's own programs, unmodified, run
# under zcopy against peers on 127.0.0.1.  Load after test_helper/common.

PYTHON=/usr/bin/python3  # Debian's, not a pyenv shim earlier in PATH
NC=/bin/nc.openbsd       # "nc" may be netcat-traditional

# Every program copies these sizes: empty, one byte, the threshold these
# tests set (ZCOPY_MIN_BYTES=65536) minus and plus one, a little over 1 MiB,
# and 64 MiB.  The threshold is pinned, not the default (8 KiB, which
# settings.bats tests), so that a program's chunks fall on both sides.
REAL_SIZES="0 1 65535 65537 1048577 67108864"
MIN_BYTES=65536
export ZCOPY_MIN_BYTES=$MIN_BYTES

fail() {
  echo "$*" >&2
  return 1
}

# need_real_programs PATH...: for setup_file.
need_real_programs() {
  local p
  for p in "$@"; do
    [ -x "$p" ] || fail "$p is missing: run tests/install-deps as root"
    if [ "$p" = "$NC" ]; then
      "$NC" -h 2>&1 | grep -q OpenBSD || fail "$NC is not OpenBSD netcat"
    fi
  done
}

# make_data DIR: DIR/f<SIZE> for every size of REAL_SIZES (for setup_file).
make_data() {
  local s
  mkdir -p "$1"
  for s in $REAL_SIZES; do make_file "$1/f$s" "$s"; done
}

# expected_fast SIZE CHUNK: the bytes a program that reads CHUNK bytes at a
# time should have zcopy carry for a SIZE-byte file: every full chunk, and
# the last piece only if it reaches the threshold.
expected_fast() {
  local full=$(($1 / $2 * $2)) rest=$(($1 % $2))
  echo $((full + (rest >= MIN_BYTES ? rest : 0)))
}

# same_sha SRC RECEIVED: the receiver got exactly SRC.
same_sha() {
  local a b
  a=$(sha256sum <"$1" | cut -d' ' -f1)
  b=$(sha256sum <"$2" | cut -d' ' -f1)
  [ "$a" = "$b" ] || fail "sha256 of $2 ($(stat -c %s "$2") bytes) differs from $1 ($(stat -c %s "$1") bytes)"
}

# expect_fast_bytes LOG CALL BYTES [WHAT]: the successful CALLs in LOG carried BYTES.
expect_fast_bytes() {
  local got
  got=$(fast_bytes "$1" "$2")
  [ "$got" -eq "$3" ] || {
    grep -E "$2" "$1" | head -n 5 >&2
    fail "${4:-}: $2 carried $got bytes, expected $3"
  }
}

# stats_skip FILE REASON: the count of a "skip REASON" summary line, or 0.
stats_skip() {
  awk -v r="$2" '$2 == "skip" && $3 == r { n = $4 } END { print n + 0 }' "$1"
}

# one_summary GLOB: the one summary file a process wrote (ZCOPY_STATS=...%p).
one_summary() {
  local files=($1)
  [ ${#files[@]} -eq 1 ] && [ -s "${files[0]}" ] ||
    fail "expected one summary, found: ${files[*]}"
  cat "${files[0]}" >&2  # shown when the test fails
  echo "${files[0]}"
}

# ---- servers ----------------------------------------------------------------

# free_port: a port on 127.0.0.1 the kernel considers free right now.
free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# listening PORT: something listens on 127.0.0.1:PORT.  Read from
# /proc/net/tcp: a probe connection would use up nc -l's only connection.
listening() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" '$4 == "0A" && ($2 == "0100007F" p || $2 == "00000000" p) { f = 1 }
    END { exit !f }' /proc/net/tcp
}

# serve CMD...: starts CMD in the background, every argument "@PORT@" replaced
# by a free port, and waits (at most 10 s) until it listens.  If CMD dies
# first (another process took the port), tries again with another port.
# Sets PORT and SERVER_PID; teardown_servers kills what is left.
serve() {
  local try i
  for try in 1 2 3 4 5; do
    PORT=$(free_port)
    "${@//@PORT@/$PORT}" </dev/null >>"$BATS_TEST_TMPDIR/server.out" 2>&1 3>&- &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for ((i = 0; i < 200; i++)); do
      listening "$PORT" && return 0
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  done
  cat "$BATS_TEST_TMPDIR/server.out" >&2
  fail "could not start: $*"
}

# wait_exit PID [SECONDS]: waits for a background PID to end (default 30 s)
# and returns its status; kills it and fails if it is still running.
wait_exit() {
  local i
  for ((i = 0; i < ${2:-30} * 20; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$1" 2>/dev/null; then
    kill_tree "$1"
    fail "process $1 did not exit"
    return 1
  fi
  wait "$1"
}

# kill_tree PID: PID and its children (strace's tracee), with SIGKILL.
kill_tree() {
  local c
  for c in $(pgrep -P "$1"); do kill -KILL "$c" 2>/dev/null; done
  kill -KILL "$1" 2>/dev/null
}

# stop_traced_server: SIGINT to the program strace runs (SERVER_PID is
# strace), so that it exits normally and writes its summary; then waits.
stop_traced_server() {
  local child
  child=$(pgrep -P "$SERVER_PID") || fail "no program under strace $SERVER_PID"
  kill -INT $child
  wait_exit "$SERVER_PID" 10
}

teardown_servers() {
  local p
  for p in "${SERVER_PIDS[@]}"; do
    kill -0 "$p" 2>/dev/null && kill_tree "$p"
  done
  SERVER_PIDS=()
}

# zc_traced LOG: sets ZC_TRACED, a command prefix that runs a program
# preloaded under strace like `traced` (fast calls into LOG) with its summary
# in LOG.stats.<pid>.  A prefix, not a function, so that in the background
# $! is strace itself (env execs it) and the program is its child.
zc_traced() {
  ZC_TRACED=(env ZCOPY_STATS="$1.stats.%p" strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD"
    -e trace=sendfile,splice,copy_file_range -o "$1" --)
}
