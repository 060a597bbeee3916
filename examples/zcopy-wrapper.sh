#!/bin/sh
# zcopy-wrapper.sh: start a legacy server with zcopy preloaded, from an init
# script, a container entrypoint or anything else that runs one command.
#
#   zcopy-wrapper.sh [server arguments...]
#
# Set these in the environment, or edit the defaults below:
#   LEGACY_SERVER  the server binary (default: legacy-httpd beside this script)
#   LIBZCOPY       the library (default: the one `make install` puts in place)
#   ZCOPY_*        zcopy's own settings (README.md); ZCOPY_STATS defaults to
#                  one summary file per process in /var/tmp.
# It needs no zcopy command: it does what `zcopy -- server` does, by hand.
# The server replaces the shell (exec), so it gets the signals, keeps the
# pid and its exit status is the wrapper's.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
server=${LEGACY_SERVER:-$here/legacy-httpd}
lib=${LIBZCOPY:-/usr/local/lib/zcopy/libzcopy.so}
: "${ZCOPY_STATS=/var/tmp/zcopy-stats.%p.txt}"
export ZCOPY_STATS

if [ ! -r "$lib" ]; then
	# The server must run even where zcopy is missing, only slower.
	echo "zcopy-wrapper: $lib not found; starting $server without zcopy" >&2
else
	# Prepend the library, unless a libzcopy.so is there already.
	case " ${LD_PRELOAD:-} " in
	*/libzcopy.so[:\ ]* | *[:\ ]libzcopy.so[:\ ]*) ;;
	*) LD_PRELOAD=$lib${LD_PRELOAD:+:$LD_PRELOAD} ;;
	esac
	export LD_PRELOAD
fi
exec "$server" "$@"
