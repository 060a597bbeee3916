#!/usr/bin/env bats
# File to file.  copy_file_range pays only where it shares the blocks
# (reflink: xfs, btrfs, zfs); elsewhere it copies them as write() would,
# after the read the program still makes.  By default (ZCOPY_FILE_TO_FILE
# unset, or "clone") zcopy rewrites file to file only on such a filesystem,
# with source and destination on the same one, for writes of 256 KiB or
# more.  ZCOPY_FILE_TO_FILE=always rewrites on every filesystem (the rest of
# the suite runs that way, on ext4 and tmpfs).  The xfs here is a real one:
# an image on a loop device, made in setup_file.

setup_file() {
  load test_helper/common
  local img=$BATS_FILE_TMPDIR/xfs.img
  export XFS=$BATS_FILE_TMPDIR/xfs
  mkdir -p "$XFS"
  truncate -s 512M "$img"
  mkfs.xfs -q "$img"
  # A machine without loop devices (an unprivileged container) cannot
  # mount it: the xfs tests then skip, and a skip counts as not passed.
  if mount -o loop "$img" "$XFS" 2>"$BATS_FILE_TMPDIR/mount.err"; then
    export XFS_MOUNTED=1
  fi
}

teardown_file() {
  [ -z "${XFS_MOUNTED:-}" ] || umount "$XFS"
}

setup() {
  load test_helper/common
  load test_helper/real
  unset ZCOPY_FILE_TO_FILE  # the default, which the rest of the suite overrides
  T=$BATS_TEST_TMPDIR
}

need_xfs() {
  [ -n "${XFS_MOUNTED:-}" ] || skip "no loop mount here: $(cat "$BATS_FILE_TMPDIR/mount.err")"
  [ "$(stat -f -c %T "$XFS")" = xfs ]
  D=$(mktemp -d "$XFS/t.XXXXXX")
}

# cp_traced MODE SRC DST BUFFER [ENV...]: legacy-cp under zcopy and strace;
# $DST.log is strace's, $DST.stats the summary.
cp_traced() {
  local mode=$1 src=$2 dst=$3 buf=$4
  shift 4
  env ZCOPY_MODE="$mode" ZCOPY_STATS="$dst.stats" "$@" \
    strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=copy_file_range -o "$dst.log" -- \
    "${ZC_RUN[@]}" "$EXAMPLES/legacy-cp" -b "$buf" "$src" "$dst"
  cmp "$src" "$dst"
}

# left_plain DST REASON N: no copy_file_range carried a byte into DST, and
# its summary counts N writes skipped for REASON.
left_plain() {
  expect_fast_bytes "$1.log" copy_file_range 0 "$2"
  [ "$(stats_skip "$1.stats" "$2")" -eq "$3" ] || fail "$(cat "$1.stats")"
}

# shared_extents FILE: how many of FILE's extents share blocks with another file.
shared_extents() {
  filefrag -v "$1" | grep -c shared || true
}

@test "ext4, default: legacy-cp's 1 MiB writes stay plain (dest_fs_copies), exact bytes" {
  case $(stat -f -c %T "$T") in ext2/ext3 | tmpfs) ;; *) fail "$T is on $(stat -f -c %T "$T"), not ext4 or tmpfs" ;; esac
  make_file "$T/src" $((4 * 1048576 + 123))
  for mode in safe trust; do
    cp_traced $mode "$T/src" "$T/dst.$mode" 1048576
    left_plain "$T/dst.$mode" dest_fs_copies 4
  done
}

@test "ext4, ZCOPY_FILE_TO_FILE=always: copy_file_range carries every full chunk" {
  make_file "$T/src" $((4 * 1048576 + 123))
  cp_traced trust "$T/src" "$T/dst" 1048576 ZCOPY_FILE_TO_FILE=always
  expect_fast_bytes "$T/dst.log" copy_file_range $((4 * 1048576)) always
  [ "$(stats_skip "$T/dst.stats" dest_fs_copies)" -eq 0 ]
}

@test "zcopy --file-to-file=always sets it; a bad value is refused" {
  make_file "$T/src" $((2 * 1048576))
  strace -f -qq -e trace=copy_file_range -o "$T/log" -- \
    "$ZC_CMD" --mode=trust --file-to-file=always -- "$EXAMPLES/legacy-cp" -b 1048576 "$T/src" "$T/dst"
  cmp "$T/src" "$T/dst"
  expect_fast_bytes "$T/log" copy_file_range $((2 * 1048576)) "--file-to-file=always"
  run "$ZC_CMD" --file-to-file=sometimes -- true
  [ "$status" -eq 2 ]
  [[ $output == *"bad --file-to-file 'sometimes' (clone or always)"* ]]
}

@test "bad ZCOPY_FILE_TO_FILE: one zcopy: line, then the copy runs unaccelerated" {
  make_file "$T/src" $((2 * 1048576))
  run env ZCOPY_MODE=trust ZCOPY_FILE_TO_FILE=yes \
    strace -f -qq -E LD_PRELOAD="$ZC_PRELOAD" -e trace=copy_file_range -o "$T/log" -- \
    "$EXAMPLES/legacy-cp" -b 1048576 "$T/src" "$T/dst"
  [ "$status" -eq 0 ]
  [ "$output" = "zcopy: bad ZCOPY_FILE_TO_FILE=yes (see README.md); running unaccelerated" ]
  cmp "$T/src" "$T/dst"
  expect_fast_bytes "$T/log" copy_file_range 0 "bad setting"
}

@test "xfs, default: 1 MiB writes become copy_file_range, and the copy shares the source's blocks" {
  need_xfs
  make_file "$D/src" $((8 * 1048576 + 4096 * 3 + 17))
  sync "$D/src"  # written back, so that its extents can be shared
  for mode in safe trust; do
    cp_traced $mode "$D/src" "$D/dst.$mode" 1048576
    expect_fast_bytes "$D/dst.$mode.log" copy_file_range $((8 * 1048576)) "$mode"
    sync "$D/dst.$mode"
    [ "$(shared_extents "$D/dst.$mode")" -ge 1 ] || { filefrag -v "$D/dst.$mode" >&2; fail "$mode: no shared extent"; }
    [ "$(stats_skip "$D/dst.$mode.stats" dest_fs_copies)" -eq 0 ]
  done
  # the plain program writes its own blocks: the check above can fail
  "$EXAMPLES/legacy-cp" -b 1048576 "$D/src" "$D/plain"
  sync "$D/plain"
  [ "$(shared_extents "$D/plain")" -eq 0 ]
}

@test "xfs, default: 64 KiB writes stay plain (below_clone_bytes), exact bytes" {
  need_xfs
  make_file "$D/src" $((2 * 1048576))
  cp_traced trust "$D/src" "$D/dst" 65536
  left_plain "$D/dst" below_clone_bytes 32
}

@test "source on ext4, destination on xfs: stays plain (dest_fs_copies), exact bytes" {
  need_xfs
  make_file "$T/src" $((4 * 1048576))
  cp_traced trust "$T/src" "$D/dst" 1048576
  left_plain "$D/dst" dest_fs_copies 4
}
