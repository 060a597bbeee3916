#!/usr/bin/env bats
# examples/zcopy.conf (a systemd drop-in) and examples/zcopy-wrapper.sh:
# their syntax, the environment they give the server, and a real download
# from examples/legacy-httpd started through each.

bats_require_minimum_version 1.5.0

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so examples/legacy-httpd >&2
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  mkdir www
  make_file www/file $((8 << 20))
}

# dropin_env CONF: the Environment= assignments of CONF's [Service] section,
# one VAR=VALUE a line, as systemd reads them: words split at blanks, quotes
# removed, "%%" made "%".  Any other specifier is an error: the example
# must not depend on the unit it is dropped into.
dropin_env() {
  python3 - "$1" <<'EOF'
import re, shlex, sys
section = None
for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.strip()
    if not line or line[0] in "#;":
        continue
    if line.startswith("["):
        section = line
        continue
    key, eq, value = line.partition("=")
    assert eq, "line %d: not key=value" % n
    assert section == "[Service]", "line %d: %s outside [Service]" % (n, key)
    if key.strip() != "Environment":
        continue
    assert not re.search(r"%[^%]", value.replace("%%", "")), "line %d: a unit specifier" % n
    for word in shlex.split(value):
        var, eq, val = word.partition("=")
        assert eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var), "line %d: bad assignment %r" % (n, word)
        print(var + "=" + val.replace("%%", "%"))
EOF
}

# serve_and_fetch CMD...: starts CMD (a legacy-httpd command line lacking
# its "-p 0 -P portfile www" arguments), downloads www/file with curl into
# got, stops the server with SIGTERM and checks its exit status and the
# bytes.  SERVER_PID: the pid of CMD.
serve_and_fetch() {
  rm -f port got
  "$@" -p 0 -P port www 2> server.err &
  SERVER_PID=$!
  local pid=$SERVER_PID
  for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
  [ -s port ] || { cat server.err >&2; kill "$pid"; false; }
  curl -sf -o got "http://127.0.0.1:$(cat port)/file"
  kill -TERM "$pid"
  wait "$pid"
  cmp www/file got
}

@test "zcopy.conf: systemd accepts the drop-in" {
  command -v systemd-analyze > /dev/null || skip "no systemd-analyze (the next test parses it)"
  mkdir -p units/legacy-httpd.service.d
  printf '[Unit]\nDescription=legacy\n[Service]\nExecStart=%s -p 8080 /srv/www\n' \
    "$EXAMPLES/legacy-httpd" > units/legacy-httpd.service
  cp "$EXAMPLES/zcopy.conf" units/legacy-httpd.service.d/
  # Control: a bad assignment in the drop-in is reported.
  sed 's/^Environment=ZCOPY_MODE=safe$/& not-an-assignment/' "$EXAMPLES/zcopy.conf" > bad.conf
  grep -q not-an-assignment bad.conf
  mkdir -p bad/legacy-httpd.service.d
  cp units/legacy-httpd.service bad/
  cp bad.conf bad/legacy-httpd.service.d/zcopy.conf
  run -0 env SYSTEMD_UNIT_PATH="$PWD/bad:" systemd-analyze verify --man=no "$PWD/bad/legacy-httpd.service"
  [[ "$output" == *"zcopy.conf"*"Invalid environment assignment"* ]]

  run -0 env SYSTEMD_UNIT_PATH="$PWD/units:" systemd-analyze verify --man=no "$PWD/units/legacy-httpd.service"
  [ -z "$output" ]
}

@test "zcopy.conf: the environment it gives the service" {
  run -0 dropin_env "$EXAMPLES/zcopy.conf"
  echo "$output"
  # The path `make install` uses by default, and %p for zcopy, not systemd.
  grep -qx 'LD_PRELOAD=/usr/local/lib/zcopy/libzcopy.so' <<< "$output"
  grep -q '^PREFIX *?= */usr/local$' "$ZC_ROOT/Makefile"
  grep -qx 'LIBDIR *?= *$(PREFIX)/lib/zcopy' "$ZC_ROOT/Makefile"
  grep -qx 'ZCOPY_MODE=safe' <<< "$output"
  grep -qx 'ZCOPY_STATS=/var/tmp/zcopy-stats.%p.txt' <<< "$output"
  grep -qx 'ZCOPY_LOG=/var/tmp/zcopy-log.%p.txt' <<< "$output"
  grep -qx 'ZCOPY_LOG_FORMAT=json' <<< "$output"
  [ "$(wc -l <<< "$output")" -eq 5 ]
}

@test "zcopy.conf: legacy-httpd with that environment sends the file with sendfile" {
  # The drop-in's environment, with this tree's library and files here.
  mapfile -t vars < <(dropin_env "$EXAMPLES/zcopy.conf" |
    sed -e "s|^LD_PRELOAD=.*|LD_PRELOAD=$ZC_LIB|" -e "s|/var/tmp/|$PWD/|")
  # Calibration off: the test checks the rewrite, whatever this machine measures.
  serve_and_fetch env -i PATH="$PATH" "${vars[@]}" ZCOPY_CALIBRATE=off "$EXAMPLES/legacy-httpd"
  local stats=(zcopy-stats.*.txt) logs=(zcopy-log.*.txt)
  [ "${#stats[@]}" -eq 1 ] && [ "${#logs[@]}" -eq 1 ]
  [ "$(stats_bytes "${stats[0]}" sendfile)" -eq $((8 << 20)) ]
  while IFS= read -r line; do python3 -c 'import json,sys; json.loads(sys.argv[1])' "$line"; done < "${logs[0]}"
  grep -q '"action":"rewrite","method":"sendfile"' "${logs[0]}"
}

@test "zcopy-wrapper.sh: shell syntax" {
  bash -n "$EXAMPLES/zcopy-wrapper.sh"
  sh -n "$EXAMPLES/zcopy-wrapper.sh"
  if command -v dash > /dev/null; then dash -n "$EXAMPLES/zcopy-wrapper.sh"; fi
  if command -v shellcheck > /dev/null; then shellcheck "$EXAMPLES/zcopy-wrapper.sh"; fi
  [ -x "$EXAMPLES/zcopy-wrapper.sh" ]
}

@test "zcopy-wrapper.sh: the environment it gives the server" {
  local wrapper=("$EXAMPLES/zcopy-wrapper.sh")
  local base=(env -i PATH="$PATH" LEGACY_SERVER=env LIBZCOPY="$ZC_LIB")
  run -0 "${base[@]}" "${wrapper[@]}"
  echo "$output"
  grep -qx "LD_PRELOAD=$ZC_LIB" <<< "$output"
  grep -qx 'ZCOPY_STATS=/var/tmp/zcopy-stats.%p.txt' <<< "$output"
  [ "$(grep -c '^ZCOPY_' <<< "$output")" -eq 1 ]
  # The caller's settings win; its LD_PRELOAD is kept, after the library.
  run -0 "${base[@]}" ZCOPY_MODE=diag ZCOPY_STATS= LD_PRELOAD=libc.so.6 "${wrapper[@]}"
  grep -qx "LD_PRELOAD=$ZC_LIB:libc.so.6" <<< "$output"
  grep -qx 'ZCOPY_MODE=diag' <<< "$output"
  grep -qx 'ZCOPY_STATS=' <<< "$output"
  # Never twice, at whatever path.
  run -0 "${base[@]}" LD_PRELOAD="libc.so.6:$ZC_LIB" "${wrapper[@]}"
  grep -qx "LD_PRELOAD=libc.so.6:$ZC_LIB" <<< "$output"
  # No library: the server still starts, without it, and says why.
  run -0 env -i PATH="$PATH" LEGACY_SERVER=env LIBZCOPY=/nonexistent/libzcopy.so "${wrapper[@]}"
  [[ "${lines[0]}" == "zcopy-wrapper: /nonexistent/libzcopy.so not found; starting env without zcopy" ]]
  ! grep -q '^LD_PRELOAD=' <<< "$output" || false
  # Arguments reach the server untouched.
  run -0 env LEGACY_SERVER=printf LIBZCOPY="$ZC_LIB" "${wrapper[@]}" '%s|' 'a b' -p
  [ "$output" = "a b|-p|" ]
}

@test "zcopy-wrapper.sh: legacy-httpd through the wrapper sends the file with sendfile" {
  serve_and_fetch env LIBZCOPY="$ZC_LIB" ZCOPY_STATS="$PWD/stats.%p" "$EXAMPLES/zcopy-wrapper.sh"
  local stats=(stats.*)
  [ "${#stats[@]}" -eq 1 ]
  [ "$(stats_bytes "${stats[0]}" sendfile)" -eq $((8 << 20)) ]
  # exec: the server is the process the caller started (its pid names the
  # file), and it got the SIGTERM itself.
  [ "${stats[0]}" = "stats.$SERVER_PID" ]
  grep -q 'exe=legacy-httpd' "${stats[0]}"
}
