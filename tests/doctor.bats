#!/usr/bin/env bats
# zcopy doctor: before anything runs, can preloading work for a program?
# Each verdict is checked against what the loader really does: the program
# prints its own /proc/self/maps with LD_PRELOAD set, and libzcopy.so is
# mapped there or not.

bats_require_minimum_version 1.5.0

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so shim/zcopy >&2
  # showmaps: prints its own memory map; built dynamic, static, and with
  # the marks of Go and of musl.
  cat > "$BATS_FILE_TMPDIR/showmaps.c" <<'EOF'
#include <stdio.h>
int main(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int c;
	while (f && (c = getc(f)) != EOF)
		putchar(c);
	return f ? 0 : 1;
}
EOF
  cd "$BATS_FILE_TMPDIR"
  cc -o showmaps showmaps.c
  if [ -e "$(cc -print-file-name=libc.a)" ] && cc -static -o showmaps-static showmaps.c 2> /dev/null; then :; fi
  # What the Go toolchain leaves in every binary: a .go.buildinfo section,
  # and a build ID note (name "Go", type 4), here in a section of another
  # name so that only the note can give it away.
  printf '%s\n' '__attribute__((section(".go.buildinfo"), used)) static const char info[32] = "\xff Go buildinf:";' \
    > goinfo.c
  cat > gonote.s <<'EOF'
	.section .note.custom,"a",@note
	.balign 4
	.long 3, 8, 4
	.asciz "Go"
	.balign 4
	.ascii "abcdefgh"
EOF
  cc -o go-buildinfo showmaps.c goinfo.c
  cc -o go-note showmaps.c gonote.s
  cc -Wl,--dynamic-linker=/lib/ld-musl-x86_64.so.1 -o musl-loader showmaps.c
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  B=$BATS_FILE_TMPDIR
}

# loader_preloads BIN [RUNNER...]: libzcopy.so is mapped into BIN when it
# runs with LD_PRELOAD (RUNNER: setpriv... to run it as another user).
loader_preloads() {
  local bin=$1; shift
  "$@" env LD_PRELOAD="$ZC_LIB" "$bin" /proc/self/maps 2> /dev/null | grep -q libzcopy.so
}

# agrees BIN STATUS: doctor's exit status was 0 exactly when the loader
# preloads the library.
agrees() {
  if loader_preloads "$1"; then [ "$2" -eq 0 ]; else [ "$2" -eq 1 ]; fi
}

@test "doctor: a dynamic glibc program can be preloaded" {
  run "$ZC_CMD" doctor "$B/showmaps"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"ok    library $ZC_LIB"* ]]
  [[ "$output" == *"ok    dynamic, glibc's loader /lib"*"/ld-linux"* ]]
  [[ "$output" == *"ok    not a Go binary"* ]]
  [[ "$output" == *"ok    no setuid, setgid or file capabilities"* ]]
  [ "${lines[-1]}" = "zcopy can work for $B/showmaps" ]
  agrees "$B/showmaps" "$status"
}

@test "doctor: a static binary cannot" {
  [ -x "$B/showmaps-static" ] || skip "no libc.a: cannot link a static binary"
  run "$ZC_CMD" doctor "$B/showmaps-static"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"FAIL  static binary (no PT_INTERP)"* ]]
  [ "${lines[-1]}" = "zcopy cannot work for $B/showmaps-static" ]
  agrees "$B/showmaps-static" "$status"
}

@test "doctor: a setuid or setgid binary cannot, unless it changes no id" {
  cp "$B/showmaps" suid
  cp "$B/showmaps" sgid
  chmod 755 "$BATS_TEST_TMPDIR"
  if [ "$(id -u)" -eq 0 ]; then
    chown 65534 suid
    chgrp 65534 sgid
  fi
  chmod u+s suid
  chmod g+s sgid
  for bin in suid sgid; do
    run "$ZC_CMD" doctor "./$bin"
    echo "$output"
    agrees "./$bin" "$status"
    if [ "$(id -u)" -eq 0 ]; then
      [ "$status" -eq 1 ]
      [[ "$output" == *"FAIL  set${bin:1:1}id to ${bin:1:1}id 65534: the loader ignores LD_PRELOAD"* ]]
    else
      # The caller's own file: setuid to oneself changes nothing.
      [ "$status" -eq 0 ]
      [[ "$output" == *"but run by you it gains nothing"* ]]
    fi
  done
}

@test "doctor: file capabilities: preloaded for root, not for another user" {
  [ "$(id -u)" -eq 0 ] || skip "needs root to set capabilities"
  command -v setcap > /dev/null || skip "no setcap"
  command -v setpriv > /dev/null || skip "no setpriv"
  cp "$B/showmaps" capped
  setcap cap_net_bind_service+ep capped || skip "this filesystem takes no capabilities"
  chmod 755 "$BATS_TEST_TMPDIR"
  run "$ZC_CMD" doctor ./capped
  [ "$status" -eq 0 ]
  [[ "$output" == *"file capabilities, but run by you it gains nothing"* ]]
  agrees ./capped "$status"
  local nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  run "${nobody[@]}" "$ZC_CMD" doctor ./capped
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"FAIL  file capabilities (security.capability)"* ]]
  if loader_preloads ./capped "${nobody[@]}"; then false; fi
  # Control: the same user gets the library in a copy without capabilities.
  cp "$B/showmaps" plain
  loader_preloads ./plain "${nobody[@]}"
}

@test "doctor: Go binaries, by their .go.buildinfo section or their build ID note" {
  for bin in go-buildinfo go-note; do
    run "$ZC_CMD" doctor "$B/$bin"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ "$output" == *"FAIL  Go binary"* ]]
  done
}

@test "doctor: a loader other than glibc's" {
  run "$ZC_CMD" doctor "$B/musl-loader"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ "$output" == *"FAIL  loader /lib/ld-musl-x86_64.so.1 is not glibc's"* ]]
}

@test "doctor: already preloaded" {
  run env LD_PRELOAD="$ZC_LIB" "$ZC_CMD" doctor "$B/showmaps"
  [ "$status" -eq 1 ]
  [[ "$output" == *"FAIL  already preloaded: LD_PRELOAD=$ZC_LIB"* ]]
  # Another copy of the library, from another path, counts too.
  mkdir other && cp "$ZC_LIB" other/
  run env LD_PRELOAD="libc.so.6:$PWD/other/libzcopy.so" "$ZC_CMD" doctor "$B/showmaps"
  [ "$status" -eq 1 ]
  [[ "$output" == *"already preloaded"* ]]
}

@test "doctor: finds the command through PATH, and looks through #! scripts" {
  run env PATH="$B:$PATH" "$ZC_CMD" doctor showmaps
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$B/showmaps" ]
  # A script is preloaded as its interpreter: a static one cannot be.
  printf '#!/usr/bin/env showmaps\n' > script-env
  printf '#!%s -x\n' "$B/showmaps-static" > script-static
  chmod +x script-env script-static
  run env PATH="$B:$PATH" "$ZC_CMD" doctor ./script-env
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[1]}" = "runs $B/showmaps" ]
  if [ -x "$B/showmaps-static" ]; then
    run "$ZC_CMD" doctor ./script-static
    [ "$status" -eq 1 ]
    [[ "$output" == *"static binary"* ]]
  fi
}

@test "doctor: a script that execs another program (a pyenv shim) says which one, when the script names it" {
  # Like pyenv's shims: the interpreter only starts the program that works.
  printf '#!/bin/sh\nset -e\nexec 2>/dev/null\n[ -n "$1" ] || exit 2\nexec -a python3 showmaps "$@"\n' > shim-named
  printf '#!/bin/sh\nprogram="${0##*/}"\nexec "$PYENV_ROOT/libexec/pyenv" exec "$program" "$@"\n' > shim-variable
  printf '#!/bin/sh\n# exec nothing here\necho "exec is only a word"\nexec >/dev/null\n' > no-exec
  chmod +x shim-named shim-variable no-exec
  run env PATH="$B:$PATH" "$ZC_CMD" doctor ./shim-named
  echo "$output"
  [ "${lines[1]}" = "runs /bin/sh" ]
  grep -qx "  note  ./shim-named execs $B/showmaps (line 5): that program, not /bin/sh, does the work; see zcopy doctor $B/showmaps" <<< "$output"
  run "$ZC_CMD" doctor ./shim-variable
  echo "$output"
  grep -q '^  note  ./shim-variable execs \$PYENV_ROOT/libexec/pyenv (line 3), which only the script knows' <<< "$output"
  run "$ZC_CMD" doctor ./no-exec
  echo "$output"
  [ "$status" -eq 0 ]
  ! grep -q 'execs' <<< "$output"
}

@test "doctor: this kernel's sendfile, splice and copy_file_range" {
  run "$ZC_CMD" doctor "$B/showmaps"
  for call in sendfile splice copy_file_range; do
    grep -qx "  ok    kernel has $call" <<< "$output"
  done
}

@test "doctor: no library where zcopy looks for it" {
  [ ! -e /usr/local/lib/zcopy/libzcopy.so ] || skip "zcopy is installed in /usr/local"
  cp "$ZC_CMD" "$BATS_TEST_TMPDIR/zcopy"
  run "$BATS_TEST_TMPDIR/zcopy" doctor "$B/showmaps"
  [ "$status" -eq 1 ]
  [[ "$output" == *"FAIL  library /"*"/libzcopy.so: not found"* ]]
}

@test "doctor: usage errors 2, a missing command 127" {
  run "$ZC_CMD" doctor
  [ "$status" -eq 2 ]
  run "$ZC_CMD" doctor --bogus
  [ "$status" -eq 2 ]
  run -127 "$ZC_CMD" doctor no-such-command-anywhere
  [[ "$output" == "zcopy: doctor: no-such-command-anywhere: not found" ]]
}
