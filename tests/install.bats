#!/usr/bin/env bats
# What a distribution's packager meets: the man page renders and covers the
# command, make install and uninstall honour DESTDIR and PREFIX, the library
# has a SONAME, and CPPFLAGS/LDFLAGS (hardening flags) reach every build.

bats_require_minimum_version 1.5.0

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so shim/zcopy tests/progs/copyloop >&2
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
}

@test "man -l renders zcopy(1) without warnings, with every section a user looks for" {
  run --separate-stderr env MANWIDTH=80 man --warnings -l "$ZC_ROOT/man/zcopy.1"
  [ "$status" -eq 0 ]
  [ -z "$stderr" ] || { echo "$stderr"; false; }
  for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS ENVIRONMENT FILES "EXIT STATUS" EXAMPLES; do
    grep -qx "$section" <<< "$output" || { echo "no section $section"; false; }
  done
  for subcommand in "zcopy run" "zcopy report" "zcopy doctor" "zcopy stats"; do
    [[ "$output" == *"$subcommand"* ]]
  done
}

@test "zcopy(1) names every option of zcopy --help and every ZCOPY_ variable" {
  text=$(MANWIDTH=200 man -l "$ZC_ROOT/man/zcopy.1" 2>/dev/null)
  options=$("$ZC_CMD" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
  [ "$(wc -l <<< "$options")" -ge 10 ]
  for option in $options; do
    [[ "$text" == *"$option"* ]] || { echo "man page lacks $option"; false; }
  done
  variables=$(grep -o '"ZCOPY_[A-Z_]*"' "$ZC_ROOT/shim/common.h" | tr -d '"')
  [ "$(wc -l <<< "$variables")" -ge 9 ]
  for variable in $variables; do
    [[ "$text" == *"$variable"* ]] || { echo "man page lacks $variable"; false; }
  done
}

@test "make install DESTDIR=... PREFIX=/usr installs all of zcopy, and it works from there; uninstall removes it" {
  root="$BATS_TEST_TMPDIR/root"
  make -s -C "$ZC_ROOT" install DESTDIR="$root" PREFIX=/usr >&2
  for f in usr/bin/zcopy usr/lib/zcopy/libzcopy.so usr/lib/zcopy/zcopy-report \
    usr/lib/zcopy/skip_reasons.def usr/share/man/man1/zcopy.1; do
    [ -f "$root/$f" ] || { echo "$f not installed"; false; }
  done
  [ "$(stat -c %a "$root/usr/share/man/man1/zcopy.1")" = 644 ]
  man -l "$root/usr/share/man/man1/zcopy.1" > /dev/null 2>&1
  # The installed command preloads the installed library, and its report
  # finds the reasons' table beside it.
  run "$root/usr/bin/zcopy" -- sh -c 'echo "$LD_PRELOAD"'
  [ "$status" -eq 0 ]
  [ "$output" = "$root/usr/lib/zcopy/libzcopy.so" ]
  echo 'zcopy: pid=1 event=decision action=skip method=none reason=too_many_pieces bytes=9 calls=1 site=/x+0x1' > log
  run "$root/usr/bin/zcopy" report log
  [ "$status" -eq 0 ]
  [[ "$output" == *"suggest:   write fewer, larger pieces per call"* ]]
  make -s -C "$ZC_ROOT" uninstall DESTDIR="$root" PREFIX=/usr >&2
  [ -z "$(find "$root" -type f)" ]
}

@test "readelf -d shows the library's SONAME" {
  run readelf -d "$ZC_ROOT/shim/libzcopy.so"
  [ "$status" -eq 0 ]
  [[ "$output" == *"(SONAME)"*"Library soname: [libzcopy.so]"* ]]
}

@test "CPPFLAGS and LDFLAGS reach the library, the command and the programs" {
  run make -n -B -C "$ZC_ROOT" shim/libzcopy.so shim/zcopy examples/legacy-cat tests/progs/copyloop \
    CPPFLAGS=-DZC_PACKAGER_CPP LDFLAGS=-Wl,-z,zc-packager-ld
  [ "$status" -eq 0 ]
  # One line per command (the library's is continued with a backslash).
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' <<< "$output" | grep -- ' -o ' > commands
  cat commands
  # The four asked for, and the helper library copyloop's rule builds too.
  [ "$(wc -l < commands)" -ge 4 ]
  ! grep -v -- '-DZC_PACKAGER_CPP' commands
  ! grep -v -- '-Wl,-z,zc-packager-ld' commands
  for out in shim/libzcopy.so shim/zcopy examples/legacy-cat tests/progs/copyloop; do
    grep -q -- "-o $out " commands
  done
}

@test "a library built with Debian's hardening flags still rewrites, with relro, bind-now and fortified calls" {
  # A copy of the sources: the shared build tree stays as it is.
  mkdir -p tree/tests/bench
  cp -r "$ZC_ROOT/shim" "$ZC_ROOT/Makefile" tree/
  cp "$ZC_ROOT/tests/bench/Makefile.inc" tree/tests/bench/
  rm -f tree/shim/libzcopy.so tree/shim/zcopy
  make -s -C tree shim/libzcopy.so CFLAGS="-g -O2 -fstack-protector-strong -Wformat -Werror=format-security" \
    CPPFLAGS="-Wdate-time -D_FORTIFY_SOURCE=2" LDFLAGS="-Wl,-z,relro -Wl,-z,now" >&2
  lib="$PWD/tree/shim/libzcopy.so"
  readelf -lW "$lib" | grep -q GNU_RELRO
  readelf -d "$lib" | grep -q 'BIND_NOW\|FLAGS.*NOW'
  nm -D --undefined-only "$lib" | grep -q '__snprintf_chk\|__dprintf_chk'
  make_file src $((1 << 20))
  strace -f -qq -E LD_PRELOAD="$lib" -e trace=splice -o trace -- "$PROGS/copyloop" -d pipe src out
  cmp src out
  [ "$(fast_bytes trace splice)" -eq $((1 << 20)) ]
}

@test "README.md: Requirements and Install within the first screen, no path outside the repository" {
  readme="$ZC_ROOT/README.md"
  requirements=$(grep -n '^## Requirements$' "$readme" | cut -d: -f1)
  install=$(grep -n '^## Install$' "$readme" | cut -d: -f1)
  [ -n "$requirements" ] && [ -n "$install" ]
  [ "$requirements" -lt "$install" ] && [ "$install" -le 50 ]
  grep -q '^sudo make install' "$readme"
  # Nothing a user of a clone does not have (../shared/DESIGN.md was one).
  ! grep -n '\.\./\|DESIGN\.md' "$readme"
}
