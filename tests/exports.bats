#!/usr/bin/env bats
# The library exports exactly the hooks listed in shim/hooks.def: no helper
# leaks into the program's namespace, and no listed hook is missing.

setup() {
  load test_helper/common
}

@test "nm -D lists exactly the hooks of hooks.def" {
  sed -n 's/^HOOK\(_OPTIONAL\)\{0,1\}([^,]*, *\([A-Za-z0-9_]*\),.*/\2/p' "$ZC_ROOT/shim/hooks.def" | sort > "$BATS_TEST_TMPDIR/table"
  nm -D --defined-only "$ZC_LIB" | awk '{ print $3 }' | sort > "$BATS_TEST_TMPDIR/exported"
  [ "$(wc -l < "$BATS_TEST_TMPDIR/table")" -ge 40 ]
  diff -u "$BATS_TEST_TMPDIR/table" "$BATS_TEST_TMPDIR/exported"
}

@test "every hook is a function (no exported data)" {
  run sh -c "nm -D --defined-only '$ZC_LIB' | awk '\$2 != \"T\"'"
  [ "$status" -eq 0 ]
  [ -z "$output" ]
}
