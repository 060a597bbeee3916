#!/usr/bin/env bats
# zcopy doctor and seccomp.  A filter in force where doctor runs (systemd's
# SystemCallFilter=, a container's profile) is inherited by the command:
# doctor makes each call zcopy would make in a child and says which the
# filter refuses (zcopy does without them) and which it kills for (FAIL).
# Doctor itself must survive a filter that kills: it makes those calls only
# in children.  A program that names seccomp may install a filter of its
# own (vsftpd's seccomp_sandbox): doctor notes it.

bats_require_minimum_version 1.5.0

setup_file() {
  load test_helper/common
  make -s -C "$ZC_ROOT" shim/libzcopy.so shim/zcopy tests/progs/seckill tests/progs/faultinject \
    tests/progs/nonetlink >&2
  cd "$BATS_FILE_TMPDIR"
  printf '%s\n' 'int main(void) { return 0; }' >plain.c
  printf '%s\n' '#include <stdio.h>' \
    'int main(int argc, char **argv) { if (argc > 5) puts("seccomp_sandbox"); return 0; }' >names.c
  cc -o plain plain.c
  cc -o names-seccomp names.c
}

setup() {
  load test_helper/common
  cd "$BATS_TEST_TMPDIR"
  B=$BATS_FILE_TMPDIR
}

@test "doctor, no filter in force: says so, makes the kernel check, exit 0" {
  run "$ZC_CMD" doctor "$B/plain"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"ok    no seccomp filter in force here (Seccomp: 0 in /proc/self/status)"* ]]
  [[ $output == *"kernel has sendfile"* ]]
  [[ $output != *"names seccomp"* ]]
}

@test "doctor under a filter that kills at sendfile (SystemCallFilter=~sendfile): FAIL naming it, doctor survives, exit 1" {
  run "$PROGS/seckill" sendfile "$ZC_CMD" doctor "$B/plain"
  echo "$output"
  [ "$status" -eq 1 ]  # not 159 (SIGSYS): doctor made sendfile in a child only
  [[ $output == *"FAIL  a seccomp filter is in force here (Seccomp: 2) and kills a process at sendfile:"* ]]
  [[ $output == *"zcopy cannot work for $B/plain"* ]]
}

@test "doctor under a filter that kills at splice and fstatfs: names both" {
  run "$PROGS/seckill" splice,fstatfs "$ZC_CMD" doctor "$B/plain"
  echo "$output"
  [ "$status" -eq 1 ]
  [[ $output == *"kills a process at splice, fstatfs:"* ]]
}

@test "doctor under a filter that answers EINVAL for the fast calls: ok, names them, exit 0" {
  run "$PROGS/faultinject" -f einval -- "$ZC_CMD" doctor "$B/plain"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"ok    a seccomp filter is in force here (Seccomp: 2); it lets zcopy's calls through, but refuses sendfile: Invalid argument, splice: Invalid argument, copy_file_range: Invalid argument (zcopy does without them)"* ]]
}

@test "doctor where netlink sockets are refused (RestrictAddressFamilies=): ok, names socket(AF_NETLINK)" {
  run "$PROGS/nonetlink" "$ZC_CMD" doctor "$B/plain"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"but refuses socket(AF_NETLINK): "* ]]
  [[ $output != *"sendfile:"* ]]
}

@test "doctor: a program that names seccomp may install its own filter: a note" {
  run "$ZC_CMD" doctor "$B/names-seccomp"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ $output == *"note  the program names seccomp: it may install a seccomp filter of its own"* ]]
}
