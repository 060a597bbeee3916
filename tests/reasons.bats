#!/usr/bin/env bats
# The skip reasons have one table, shim/skip_reasons.def: the library's
# names and sentences, zcopy report's suggestions and README's list must
# all say what it says.

setup() {
  load test_helper/common
  TABLE="$ZC_ROOT/shim/skip_reasons.def"
}

# table_rows FIELDS: one line per SKIP(...) entry, "ID|name|sentence|action",
# cut to the fields asked for (cut -f syntax).
table_rows() {
  sed -n 's/^SKIP(\([A-Z0-9_]*\), *"\([^"]*\)", *"\([^"]*\)", *"\([^"]*\)")$/\1|\2|\3|\4/p' "$TABLE" | cut -d'|' -f"$1"
}

@test "skip_reasons.def: every line is an entry the readers can parse, no name twice" {
  [ "$(grep -c '^SKIP(' "$TABLE")" -eq "$(table_rows 1 | wc -l)" ]
  [ "$(table_rows 1 | wc -l)" -ge 20 ]
  [ -z "$(table_rows 1 | sort | uniq -d)" ]
  [ -z "$(table_rows 2 | sort | uniq -d)" ]
}

@test "the C code: every reason is one the library can give, and its names are the table's" {
  # No reason name or sentence spelled out anywhere else in the library.
  while IFS='|' read -r id name sentence; do
    run grep -rlF "\"$name\"" "$ZC_ROOT"/shim/*.c "$ZC_ROOT"/shim/*.h
    [ -z "$output" ] || { echo "$name also in: $output"; false; }
    run grep -rlF "\"$sentence\"" "$ZC_ROOT"/shim/*.c "$ZC_ROOT"/shim/*.h
    [ -z "$output" ] || { echo "$sentence also in: $output"; false; }
    # A reason that no code gives is a stale row.
    grep -qw "ZC_SKIP_$id" "$ZC_ROOT"/shim/*.c || { echo "ZC_SKIP_$id is never given"; false; }
    # The built library carries the name and the sentence it prints.
    grep -qaF "$name" "$ZC_LIB" || { echo "$name not in $ZC_LIB"; false; }
    grep -qaF "$sentence" "$ZC_LIB" || { echo "$sentence not in $ZC_LIB"; false; }
  done < <(table_rows 1-3)
  # Every ZC_SKIP_ the code uses is a row of the table.
  grep -rhow 'ZC_SKIP_[A-Z0-9_]*' "$ZC_ROOT"/shim/*.c | sort -u |
    grep -vx 'ZC_SKIP_\|ZC_SKIP_NONE\|ZC_SKIP_COUNT' | sed 's/^ZC_SKIP_//' > "$BATS_TEST_TMPDIR/used"
  table_rows 1 | sort > "$BATS_TEST_TMPDIR/table"
  diff -u "$BATS_TEST_TMPDIR/table" "$BATS_TEST_TMPDIR/used"
}

@test "zcopy report: each reason's sentence and suggested action are the table's" {
  command -v python3 >/dev/null || skip "python3 missing"
  log="$BATS_TEST_TMPDIR/log"
  n=0
  # Decision lines without reason_text: the report must find both texts itself.
  while read -r name; do
    n=$((n + 1))
    printf 'zcopy: time=1.000 pid=7 tid=7 mode=safe event=decision action=skip method=sendfile reason=%s src_fd=3 dst_fd=4 bytes=%d site=/nonexistent/prog+0x%x\n' \
      "$name" $((1000 * n)) "$n" >> "$log"
  done < <(table_rows 2)
  run "$ZC_CMD" report --json "$log"
  [ "$status" -eq 0 ]
  echo "$output" > "$BATS_TEST_TMPDIR/report.json"
  table_rows 2-4 > "$BATS_TEST_TMPDIR/table"
  run python3 - "$BATS_TEST_TMPDIR/report.json" "$BATS_TEST_TMPDIR/table" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
by_reason = {r["decisions"][0]["reason"]: r for r in rows}
bad = 0
for line in open(sys.argv[2]):
    name, sentence, action = line.rstrip("\n").split("|")
    r = by_reason.get(name)
    want = action.format(avg=r["bytes"] if r else 0, method="sendfile")
    if not r or r["decisions"][0]["reason_text"] != sentence or r["suggestion"] != want:
        print("disagrees:", name, r and (r["decisions"][0]["reason_text"], r["suggestion"]))
        bad += 1
print(len(by_reason), "reasons checked")
sys.exit(1 if bad or len(by_reason) != len(open(sys.argv[2]).readlines()) else 0)
PY
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "README.md: its table of reasons is the table's, name for name and sentence for sentence" {
  # The rows of README's table under "Why a write stays plain".
  awk '/^#+ Why a write stays plain/ { on = 1; next } on && /^#/ { on = 0 }
       on && /^\| `[a-z0-9_]+` \|/ { print }' "$ZC_ROOT/README.md" |
    sed 's/^| `\([^`]*\)` | \(.*\) |$/\1|\2/' | sort > "$BATS_TEST_TMPDIR/readme"
  table_rows 2-3 | sort > "$BATS_TEST_TMPDIR/table"
  [ -s "$BATS_TEST_TMPDIR/readme" ]
  diff -u "$BATS_TEST_TMPDIR/table" "$BATS_TEST_TMPDIR/readme"
}
