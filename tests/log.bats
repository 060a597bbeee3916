#!/usr/bin/env bats
# The decision log (ZCOPY_LOG, ZCOPY_LOG_FORMAT) and `zcopy report`, which
# merges the logs of many processes: fields, formats, forked workers, a
# program that takes the log's fd, backtraces from a signal handler.

bats_require_minimum_version 1.5.0

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so shim/zcopy tests/progs/copyloop tests/progs/forkcopy \
    tests/progs/dup2all tests/progs/sigalrm tests/progs/twoloops >&2
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  make_file src $((4 << 20))
}

# check_log LOG FORMAT: every line of LOG is a zcopy record in FORMAT (json
# or text), and the decision and counters records hold all their fields.
# Prints one line per record: "event key key ..." (sorted keys).
check_log() {
  python3 - "$@" <<'EOF'
import json, sys
path, fmt = sys.argv[1], sys.argv[2]
decision = {"time", "pid", "tid", "mode", "event", "action", "method", "reason", "reason_text",
            "src_fd", "src_kind", "src_path", "src_offset", "dst_fd", "dst_kind", "dst_peer",
            "bytes", "site", "frames"}
counters = {"time", "pid", "tid", "mode", "event", "action", "method", "reason", "dst_kind",
            "calls", "bytes", "final", "site", "frames"}
lines = open(path).read().splitlines()
assert lines, "empty log"
for line in lines:
    if fmt == "json":
        r = json.loads(line)  # raises on any line that is not one JSON object
        assert isinstance(r, dict), line
    else:
        assert line.startswith("zcopy: "), line
        r = dict(w.split("=", 1) for w in line[len("zcopy: "):].split(" "))
    want = decision if r["event"] == "decision" else counters
    missing = want - set(r)
    assert not missing, "%s lacks %s" % (r["event"], sorted(missing))
    print(r["event"], " ".join(sorted(r)))
EOF
}

@test "a JSON log parses line by line and holds every field" {
  env ZCOPY_LOG="$PWD/log" ZCOPY_LOG_FORMAT=json ZCOPY_BACKTRACE=8 LD_PRELOAD="$ZC_LIB" \
    "$PROGS/copyloop" -d tcp src out
  cmp src out
  check_log log json
  # One way per line, the standard tool agrees.
  while IFS= read -r line; do python3 -m json.tool <<< "$line" > /dev/null; done < log
  python3 - <<'EOF'
import json, os
recs = [json.loads(l) for l in open("log")]
sender = [r for r in recs if r["event"] == "decision" and r["dst_kind"] == "tcp"]
assert len(sender) == 1, recs
d = sender[0]
assert d["action"] == "rewrite" and d["method"] == "sendfile" and d["reason"] == "none", d
assert d["src_kind"] == "file" and d["src_path"] == os.path.realpath("src") and d["src_offset"] == 0, d
assert d["dst_peer"].startswith("127.0.0.1:") and d["bytes"] == 65536, d
assert isinstance(d["pid"], int) and isinstance(d["frames"], list) and len(d["frames"]) >= 2, d
assert "copyloop+0x" in d["site"] and "(send_all+0x" in d["site"], d["site"]
final = [r for r in recs if r["event"] == "counters" and r["final"] == "yes" and r["site"] == d["site"]]
assert sum(r["calls"] for r in final) == 64 and sum(r["bytes"] for r in final) == 4 << 20, final
EOF
}

@test "text and JSON logs carry the same keys; text escapes spaces and '='" {
  cp src "my src=1"
  for format in text json; do
    env ZCOPY_MODE=diag ZCOPY_LOG="$PWD/log.$format" ZCOPY_LOG_FORMAT=$format LD_PRELOAD="$ZC_LIB" \
      "$PROGS/copyloop" -d udp -c 32768 "my src=1" out 2> /dev/null
    check_log "log.$format" "$format" | sort -u > "keys.$format"
  done
  diff keys.text keys.json
  grep -q 'src_path=[^ ]*/my%20src%3D1 ' log.text
  grep -q 'reason_text=destination%20is%20a%20datagram' log.text
  # The report decodes both alike.
  run "$ZC_CMD" report log.text
  [[ "$output" == *"destination is a datagram or seqpacket socket (dest_not_stream)"* ]]
  "$ZC_CMD" report --json log.text | sed 's/"pids": \[[^]]*\]//' > report.text
  "$ZC_CMD" report --json log.json | sed 's/"pids": \[[^]]*\]//' > report.json
  python3 -c 'import json,sys; a, b = (json.load(open(f)) for f in sys.argv[1:]); [x.pop("pids") for x in a + b]; assert a == b, (a, b)' report.text report.json
}

@test "the summary and every log line name the library's version, the one zcopy -V prints" {
  version=$("$ZC_CMD" -V | sed 's/^zcopy //')
  [ -n "$version" ]
  env ZCOPY_LOG="$PWD/log" ZCOPY_STATS="$PWD/stats" LD_PRELOAD="$ZC_LIB" "$PROGS/copyloop" -d pipe src out
  cmp src out
  grep -q "^zcopy: summary pid=[0-9]* .*version=$version " stats
  [ "$(grep -c . log)" -ge 2 ]
  [ "$(grep -c " version=$version " log)" -eq "$(grep -c . log)" ]
  env ZCOPY_LOG="$PWD/log.json" ZCOPY_LOG_FORMAT=json LD_PRELOAD="$ZC_LIB" "$PROGS/copyloop" -d pipe src out
  python3 -c 'import json, sys; assert all(json.loads(l)["version"] == sys.argv[1] for l in open("log.json")), sys.argv[1]' "$version"
}

@test "forked workers write separate %p logs, and the report adds their calls up" {
  run --separate-stderr env ZCOPY_MODE=diag ZCOPY_LOG="$PWD/log.%p" LD_PRELOAD="$ZC_LIB" \
    "$PROGS/forkcopy" src out
  [ "$status" -eq 0 ]
  cmp src out
  # Two processes, two files, each naming only its own pid.
  local logs=(log.*)
  [ "${#logs[@]}" -eq 2 ]
  for f in "${logs[@]}"; do
    [ "$(grep -o ' pid=[0-9]*' "$f" | sort -u)" = " pid=${f#log.}" ]
  done
  # 64 chunks in all, half before the fork and half in the child: each
  # process counts its own, so the sum is the whole file once.
  for f in "${logs[@]}"; do
    grep -q 'event=counters.* calls=32 bytes=2097152 final=yes' "$f"
  done
  run "$ZC_CMD" report "${logs[@]}"
  echo "$output"
  [[ "${lines[0]}" == "zcopy report: 2 logs, 2 processes, 1 call site, 4194304 bytes" ]]
  [[ "$output" == *"decisions: would_rewrite copy_file_range: 64 calls, 4194304 bytes"* ]]
  [[ "$output" == *"(2 processes)"* ]]
}

@test "report: last counters line per process, decision lines where none, summed over processes" {
  # pid 10: cumulative counters 10 then 30 (30 counts); pid 11: decision
  # lines only (debug level), 3 of them; pid 12, JSON: counters 5.  Noise:
  # program output, a summary, a broken JSON line.
  local site='/bin/prog+0x10(f+0x4)' other='/bin/prog+0x20(g+0x8)'
  cat > a.log <<EOF
hello from the program
zcopy: summary pid=10 exe=prog mode=diag min_bytes=16384
zcopy: pid=10 event=decision action=would_rewrite method=sendfile reason=none reason_text= bytes=100 site=$site
zcopy: pid=10 event=counters action=would_rewrite method=sendfile reason=none calls=10 bytes=1000 final=no site=$site
zcopy: pid=10 event=counters action=would_rewrite method=sendfile reason=none calls=30 bytes=3000 final=yes site=$site
zcopy: pid=10 event=decision action=skip method=none reason=below_min_bytes reason_text=below%20the%20ZCOPY_MIN_BYTES%20threshold bytes=512 site=$other
{"pid": 10, "event": "counters", "broken
EOF
  cat > b.log <<EOF
zcopy: pid=11 event=decision action=would_rewrite method=sendfile reason=none reason_text= bytes=100 site=$site
zcopy: pid=11 event=decision action=would_rewrite method=sendfile reason=none reason_text= bytes=100 site=$site
zcopy: pid=11 event=decision action=would_rewrite method=sendfile reason=none reason_text= bytes=50 site=$site
{"pid":12,"event":"counters","action":"would_rewrite","method":"sendfile","reason":"none","calls":5,"bytes":500,"final":"yes","site":"$site"}
EOF
  run "$ZC_CMD" report --json a.log b.log
  [ "$status" -eq 0 ]
  python3 -c '
import json, sys
rows = json.loads(sys.argv[1])
assert [r["site"] for r in rows] == ["/bin/prog+0x10(f+0x4)", "/bin/prog+0x20(g+0x8)"], rows
f, g = rows
assert (f["calls"], f["bytes"], f["processes"]) == (38, 3750, 3), f
assert (g["calls"], g["bytes"]) == (1, 512), g
assert g["reasons"] == ["below the ZCOPY_MIN_BYTES threshold"], g
assert "raise the chunk size above ZCOPY_MIN_BYTES (512 bytes per write now)" == g["suggestion"], g
' "$output"
  # The same log twice counts once; a missing log is an error.
  run "$ZC_CMD" report --json a.log a.log b.log
  [[ "$output" == *'"calls": 38'* ]]
  run "$ZC_CMD" report a.log missing.log
  [ "$status" -eq 1 ]
  [[ "$output" == "zcopy: report: missing.log: "* ]]
  run "$ZC_CMD" report
  [ "$status" -eq 2 ]
}

@test "report merges a text log and a JSON log of two runs of the same program" {
  env ZCOPY_MODE=diag ZCOPY_LOG="$PWD/one" LD_PRELOAD="$ZC_LIB" "$PROGS/twoloops" src 2> /dev/null
  env ZCOPY_MODE=diag ZCOPY_LOG=stderr ZCOPY_LOG_FORMAT=json LD_PRELOAD="$ZC_LIB" \
    "$PROGS/twoloops" src 2> two
  # two is the program's whole stderr: JSON lines, the summary, the report.
  grep -q '^zcopy: summary' two
  run "$ZC_CMD" report one two
  echo "$output"
  [[ "${lines[0]}" == "zcopy report: 2 logs, 2 processes, 2 call sites, 16777216 bytes" ]]
  [[ "$output" == *"decisions: would_rewrite splice: 128 calls, 8388608 bytes"* ]]
  [[ "$output" == *"decisions: skip: 256 calls, 8388608 bytes"* ]]
}

@test "the log survives close_range and dup2 over its fd" {
  for variant in close_range dup2_only; do
    rm -f log filler out1 out2
    local flag=()
    [ "$variant" = dup2_only ] && flag=(-n)
    env ZCOPY_MODE=diag ZCOPY_LOG="$PWD/log" LD_PRELOAD="$ZC_LIB" \
      "$PROGS/dup2all" "${flag[@]}" src out1 out2 filler 2> /dev/null
    cmp src out1
    cmp src out2
    # Both sites reached the log: the second after every fd was taken.
    grep -q 'event=decision .*site=[^ ]*(first_copy+0x' log
    grep -q 'event=decision .*site=[^ ]*(second_copy+0x' log
    grep -q 'event=counters .*calls=64 .*final=yes site=[^ ]*(second_copy+0x' log
    # No zcopy line went into the program's file.
    run grep -c zcopy filler
    [ "$output" -eq 0 ] || { echo "$variant: zcopy wrote into the program's fd" >&2; false; }
  done
}

@test "a log on stderr keeps its exit lines when the program closes stderr first (GNU cat)" {
  env ZCOPY_LOG=stderr LD_PRELOAD="$ZC_LIB" cat src 2> err | cat > out
  cmp src out
  grep -q '^zcopy: .* event=decision .*action=rewrite method=splice ' err
  grep -q '^zcopy: .* event=counters .*final=yes ' err
}

@test "a backtrace taken inside a SIGALRM handler: no deadlock, the handler's site with frames" {
  make_file big $((32 << 20))
  for mode in safe diag; do
    for usec in 1000 50; do
      rm -f log
      timeout 60 env ZCOPY_MODE=$mode ZCOPY_LOG="$PWD/log" ZCOPY_BACKTRACE=16 LD_PRELOAD="$ZC_LIB" \
        "$PROGS/sigalrm" big big ticks "$usec" > out 2> err || {
        echo "mode=$mode usec=$usec: status $? (124: deadlock)" >&2
        cat err >&2
        false
      }
      cmp big out
      # Ticks fired during the loop too (the last one is taken after it).
      ticks=$(sed -n 's/^ticks=\([0-9]*\) copies=[0-9]* failed=0$/\1/p' err)
      [ "${ticks:-0}" -ge 2 ] || { echo "mode=$mode usec=$usec: $(cat err)" >&2; false; }
      # The handler copies at its own call site, on_alarm; frames from there out.
      # A handler that interrupts one of main's hooked calls does nothing in
      # zcopy, so at 50us, where it runs back to back, all its copies may
      # land inside one of main's hooks; sigalrm's last tick, with main
      # waiting outside zcopy, is the one that is always logged.
      grep -q 'event=decision .*site=[^ ]*sigalrm+0x[0-9a-f]*(on_alarm+0x[0-9a-f]*) frames=[^ ;]*;' log
      grep -q 'event=decision .*site=[^ ]*(main+0x' log
    done
  done
}

# The first line of a call site can be written from a signal handler,
# which may have interrupted the loader or malloc in this very thread:
# libforbid.so stands in for dladdr and inet_ntop and kills the process if
# zcopy calls them.  The handler copies to a TCP peer, so the line names it.
@test "a first decision logged inside a signal handler calls nothing that is not async-signal-safe (dladdr, inet_ntop)" {
  make -s -C "$ZC_ROOT" tests/progs/libforbid.so tests/progs/copyloop
  make_file big $((32 << 20))
  timeout 60 env ZCOPY_LOG="$PWD/log" ZCOPY_BACKTRACE=4 LD_PRELOAD="$PROGS/libforbid.so $ZC_LIB" \
    "$PROGS/sigalrm" big big ticks 1000 > out 2> err || { cat err >&2; false; }
  cmp big out
  ! grep -q libforbid err
  grep -q 'event=decision .*site=[^ ]*sigalrm+0x[0-9a-f]*(on_alarm+0x' log
  # And to a TCP peer: its address, formatted by zcopy itself.
  timeout 60 env ZCOPY_LOG="$PWD/log2" LD_PRELOAD="$PROGS/libforbid.so $ZC_LIB" \
    "$PROGS/copyloop" -d tcp big got 2> err || { cat err >&2; false; }
  cmp big got
  grep -Eq 'event=decision .*dst_peer=127\.0\.0\.1:[0-9]+ ' log2
}

@test "libunwind is loaded only when a log is kept (every fork copies each library in the process)" {
  LD_PRELOAD="$ZC_LIB" cat /proc/self/maps > maps.off
  grep -q libzcopy maps.off
  run grep -c libunwind maps.off
  [ "$output" -eq 0 ] || { echo "libunwind mapped without a log:" >&2; grep libunwind maps.off >&2; false; }
  # With a log it is there; the SIGALRM test shows the frames it gives.
  ZCOPY_LOG="$PWD/log" LD_PRELOAD="$ZC_LIB" cat /proc/self/maps > maps.on
  grep -q libunwind maps.on
}
