# Helpers for tests/real_servers.bats and tests/works_with.bats: Debian's
# own servers, started from configs the tests write, on 127.0.0.1 only,
# under zcopy and strace; and the check of README's "Works with" table.
# Load after test_helper/common and test_helper/real.

# Until calibration decides per machine, a threshold below every program's
# chunk (nginx 32 KiB, lighttpd 16 KiB, apache 8000-byte reads gathered
# into one writev, socat 8 KiB): what the table's figures are measured at.
WORKS_MIN_BYTES=8192

# server_dir: SRV, a directory every user can read (servers drop root for
# their workers: nginx to nobody, apache to www-data, vsftpd to ftp), with
# the files in SRV/www and logs that those users can write in SRV/log.
# BATS_FILE_TMPDIR is private to root.  For setup_file.
make_server_dir() {
  SRV=$(mktemp -d /tmp/zcopy-servers.XXXXXX)
  chmod 755 "$SRV"
  mkdir -p "$SRV/www" "$SRV/empty" "$SRV/log"
  chmod 1777 "$SRV/log"
  local s
  for s in "$@"; do make_file "$SRV/www/f$s" "$s"; done
  chmod 644 "$SRV/www/"*
  echo "$SRV" >"$BATS_FILE_TMPDIR/srv"
}

load_server_dir() {
  SRV=$(cat "$BATS_FILE_TMPDIR/srv")
}

# remove_server_dir: for teardown_file; only the directory make_server_dir made.
remove_server_dir() {
  local d
  d=$(cat "$BATS_FILE_TMPDIR/srv" 2>/dev/null) || return 0
  case $d in /tmp/zcopy-servers.*) rm -rf "$d" ;; esac
}

# start_server CONF_WRITER CMD...: picks a free port, has CONF_WRITER PORT
# write the server's config (":" for none), starts CMD (already prefixed
# with ZC_TRACED or not; "@PORT@" in an argument becomes the port) and
# waits, at most 10 s, until something listens on the port.
# If the server dies first (another process took the port), tries again.
# Sets PORT and SERVER_PID (strace's pid under ZC_TRACED); teardown_servers
# kills what is left.
start_server() {
  local writer=$1 try i
  shift
  for try in 1 2 3 4 5; do
    PORT=$(free_port)
    "$writer" "$PORT"
    "${@//@PORT@/$PORT}" </dev/null >>"$BATS_TEST_TMPDIR/server.out" 2>&1 3>&- &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    for ((i = 0; i < 200; i++)); do
      listening "$PORT" && return 0
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill_tree "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
  done
  cat "$BATS_TEST_TMPDIR/server.out" >&2
  fail "could not start: $*"
}

# descendants PID: PID's children, theirs, and so on, one a line.
descendants() {
  local c
  for c in $(pgrep -P "$1"); do
    echo "$c"
    descendants "$c"
  done
}

# teardown_server_trees: for teardown.  Every server this test started, with
# all its descendants (nginx's and apache's workers, vsftpd's sessions),
# gets SIGKILL; all are found before any is killed, so none is missed by
# being handed to init first.  A server stopped by its test is gone already:
# strace, its parent, ends only after the last process it traced.
teardown_server_trees() {
  local p all=()
  for p in "${SERVER_PIDS[@]}"; do
    kill -0 "$p" 2>/dev/null || continue
    all+=("$p" $(descendants "$p"))
  done
  [ ${#all[@]} -eq 0 ] || kill -KILL "${all[@]}" 2>/dev/null
  SERVER_PIDS=()
  return 0
}

# stop_server SIGNAL PIDFILE: SIGNAL to the pid in PIDFILE (the server's
# main process, strace's child), then waits for strace to end: its log is
# complete only then.  The server's exit status is not looked at (killed by
# SIGTERM, vsftpd and busybox report 143).
stop_server() {
  local pid
  pid=$(cat "$2") || fail "no pid file $2"
  kill -"$1" "$pid"
  wait_exit "$SERVER_PID" 20 || true
  ! kill -0 "$SERVER_PID" 2>/dev/null || fail "strace $SERVER_PID did not end"
}

# download URL...: one curl, one connection kept alive for all the URLs of
# one server; each URL's file is saved as $T/got.<basename>.  Prints curl's
# num_connects per transfer, one a line.
download() {
  local args=() u
  for u in "$@"; do args+=(-o "$T/got.${u##*/}" "$u"); done
  curl -sS --fail --max-time 120 -w '%{num_connects}\n' "${args[@]}"
}

# download_parallel URL...: a curl process each, all at once.
download_parallel() {
  local pids=() u p status=0 n=0
  for u in "$@"; do
    n=$((n + 1))
    curl -sS --fail --max-time 120 -o "$T/par$n.${u##*/}" "$u" 3>&- &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
  return $status
}

# same_sha_all: every file curl saved under $T matches its source in SRV/www.
same_sha_all() {
  local got name n=0
  for got in "$T"/got.* "$T"/par*.*; do
    [ -e "$got" ] || continue
    name=${got##*.}
    same_sha "$SRV/www/$name" "$got"
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || fail "no file downloaded"
}

# file_bytes NAME...: the bytes of SRV/www/NAME..., added up.
file_bytes() {
  local sum=0 f
  for f in "$@"; do sum=$((sum + $(stat -c %s "$SRV/www/$f"))); done
  echo "$sum"
}

# share_percent FAST TOTAL: FAST as a whole percentage of TOTAL, rounded down.
share_percent() {
  echo $(($1 * 100 / $2))
}

# ---- README's "Works with" table ------------------------------------------

# A row of README's "Works with" table is named by its first two cells:
# the program ("nginx 1.22.1", the package's upstream version) and the
# configuration.  Cells are compared with their backquotes taken out.

# readme_cells KEY CONF: the cells of the row whose first cell is KEY and a
# version, and whose second is CONF, one a line; nothing if there is none.
readme_cells() {
  awk -v key="$1" -v conf="$2" '
    /^## Works with/ { on = 1; next }
    on && /^## / { on = 0 }
    on && /^\| / {
      n = split($0, cell, "|")
      for (i = 2; i < n; i++) { gsub(/^ +| +$/, "", cell[i]); gsub(/`/, "", cell[i]) }
      if (index(cell[2], key " ") == 1 && cell[3] == conf) {
        rows++
        for (i = 2; i < n; i++) print cell[i]
      }
    }
    END { if (rows > 1) print "several rows" }' "$ZC_ROOT/README.md"
}

# upstream_version PACKAGE: the installed version without epoch, Debian
# revision or repack suffix (1:1.35.0-4+deb12u1 -> 1.35.0, 7.93+dfsg1-1 -> 7.93).
upstream_version() {
  local v
  v=$(dpkg-query -W -f='${Version}' "$1") || fail "package $1 is not installed"
  v=${v#*:}
  v=${v%%-*}
  echo "${v%%+dfsg*}"
}

# check_readme_row KEY CONF PACKAGE METHOD FAST TOTAL: README's row for KEY
# and CONF names PACKAGE's installed version, and what it says the fast
# calls do holds for this run: "METHOD, N%" where METHOD carried at least N%
# of TOTAL file bytes, or "plain, 0%" where no fast call carried any.
check_readme_row() {
  local key=$1 conf=$2 pkg=$3 method=$4 fast=$5 total=$6 cells got want
  mapfile -t cells < <(readme_cells "$key" "$conf")
  [ ${#cells[@]} -ge 5 ] || fail "README's Works with table has no row for '$key' with configuration '$conf'"
  [ "${cells[5]:-}" != "several rows" ] || fail "README's Works with table has several rows for '$key', '$conf'"
  want="$key $(upstream_version "$pkg")"
  [ "${cells[0]}" = "$want" ] ||
    fail "README says '${cells[0]}', installed: $pkg $(upstream_version "$pkg"): measure again, update the row"
  [[ ${cells[3]} =~ ^([a-z_]+),\ ([0-9]+)%$ ]] || fail "README's row for $key: '${cells[3]}' is not 'METHOD, N%'"
  got=$(share_percent "$fast" "$total")
  echo "# $key, $conf: $method carried $fast of $total bytes ($got%); README: ${cells[3]}" >&3
  if [ "${BASH_REMATCH[1]}" = plain ]; then
    [ "$fast" -eq 0 ] || fail "README says $key ($conf) stays plain; $method carried $fast of $total bytes"
  else
    [ "${BASH_REMATCH[1]}" = "$method" ] || fail "README says $key ($conf) uses ${BASH_REMATCH[1]}; measured $method"
    [ "$got" -ge "${BASH_REMATCH[2]}" ] ||
      fail "README says $method carries ${BASH_REMATCH[2]}% for $key ($conf); measured $got% ($fast of $total)"
  fi
}
