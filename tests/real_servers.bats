#!/usr/bin/env bats
# Debian's own web and FTP servers, unmodified, configured the way a user
# turns their native zero-copy off, started from configs written here on a
# loopback port, under zcopy (safe mode) and strace -f.  curl downloads
# files of 0 B, 1 B, 16 KiB - 1, 16 KiB, 16 KiB + 1 and 64 MiB + 1 over one
# kept-alive connection, and two of 8 MiB + 1 at once; every file must
# arrive with its sha256, and the fast calls must have carried the share of
# bytes that README's "Works with" table states (at least 90%, or the
# table's reason why not).  How each server copies, as traced:
#   nginx, sendfile off: pread of 32 KiB into one of two output buffers,
#     writev of one or both (a partial writev's rest goes with the next);
#   lighttpd, writev backend: pread of 16 KiB, then write;
#   apache2, EnableSendfile and EnableMMAP off: 8000-byte reads into
#     buckets, gathered into one writev of up to 9 of them (72000 bytes);
#   vsftpd, use_sendfile=NO: read of 64 KiB, then write, in a process that
#     limits its own address space (RLIMIT_AS 200 MiB).

setup_file() {
  load test_helper/common
  load test_helper/real
  load test_helper/servers
  need_real_programs /usr/sbin/nginx /usr/sbin/lighttpd /usr/sbin/apache2 /usr/sbin/vsftpd /usr/bin/curl
  make_server_dir $SIZES $PAR_SIZE
}

teardown_file() {
  load test_helper/servers
  remove_server_dir
}

setup() {
  load test_helper/common
  load test_helper/real
  load test_helper/servers
  load_server_dir
  T=$BATS_TEST_TMPDIR
  SERVER_PIDS=()
  export ZCOPY_MIN_BYTES=$WORKS_MIN_BYTES ZCOPY_CALIBRATE=off
}

teardown() {
  teardown_server_trees
}

LARGE=67108865   # 64 MiB + 1
PAR_SIZE=8388609 # 8 MiB + 1, twice at once
SIZES="0 1 16383 16384 16385 $LARGE"
# curl's num_connects per transfer: 1 for the first, 0 for each that reused it
KEPT_ALIVE="1 0 0 0 0 0 "

# fetch_all BASE_URL CONNECTS: the sizes in turn on one connection, then
# two downloads at once; checks curl's num_connects per transfer (CONNECTS)
# and every sha256.  Sets TOTAL, the file bytes sent.
fetch_all() {
  local s urls=() connects
  for s in $SIZES; do urls+=("$1/f$s"); done
  connects=$(download "${urls[@]}") || fail "curl failed"
  [ "$(tr '\n' ' ' <<<"$connects")" = "$2" ] || fail "not one kept-alive connection: $connects"
  download_parallel "$1/f$PAR_SIZE" "$1/f$PAR_SIZE" || fail "a parallel curl failed"
  same_sha_all
  TOTAL=$(file_bytes $(for s in $SIZES $PAR_SIZE $PAR_SIZE; do echo "f$s"; done))
}

# expect_share KEY CONF PACKAGE [MIN]: the sendfile bytes in $T/log against
# README's row for KEY and CONF, and at least MIN% of all (issue 17: 90%).
expect_share() {
  local fast
  fast=$(fast_bytes "$T/log" sendfile)
  [ "$fast" -le "$TOTAL" ] || fail "more bytes by sendfile ($fast) than were sent ($TOTAL)"
  check_readme_row "$1" "$2" "$3" sendfile "$fast" "$TOTAL"
  [ "$(share_percent "$fast" "$TOTAL")" -ge "${4:-0}" ] || fail "sendfile carried $fast of $TOTAL bytes, under ${4:-0}%"
}

# ---- nginx ------------------------------------------------------------------

nginx_conf() {
  cat >"$T/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $T/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 64; }
http {
  access_log off;
  sendfile off;
  client_body_temp_path $T/tmp;
  proxy_temp_path $T/tmp;
  fastcgi_temp_path $T/tmp;
  uwsgi_temp_path $T/tmp;
  scgi_temp_path $T/tmp;
  server {
    listen 127.0.0.1:$1;
    root $SRV/www;
  }
}
EOF
}

@test "nginx, sendfile off: every size kept alive and two at once, exact bytes, sendfile carries them (README row)" {
  zc_traced "$T/log"
  start_server nginx_conf "${ZC_TRACED[@]}" /usr/sbin/nginx -p "$T/" -e "$T/nginx.err" -c "$T/nginx.conf"
  fetch_all "http://127.0.0.1:$PORT" "$KEPT_ALIVE"
  stop_server QUIT "$T/nginx.pid"
  expect_share nginx "sendfile off" nginx 90
}

# ---- lighttpd -------------------------------------------------------------

lighttpd_conf() {
  cat >"$T/lighttpd.conf" <<EOF
server.document-root = "$SRV/www"
server.bind = "127.0.0.1"
server.port = $1
server.network-backend = "writev"
server.errorlog = "$T/lighttpd.err"
server.pid-file = "$T/lighttpd.pid"
EOF
}

@test "lighttpd, writev backend: every size kept alive and two at once, exact bytes, sendfile carries them (README row)" {
  zc_traced "$T/log"
  start_server lighttpd_conf "${ZC_TRACED[@]}" /usr/sbin/lighttpd -D -f "$T/lighttpd.conf"
  fetch_all "http://127.0.0.1:$PORT" "$KEPT_ALIVE"
  stop_server INT "$T/lighttpd.pid"
  expect_share lighttpd 'server.network-backend = "writev"' lighttpd 90
}

# ---- apache2 ----------------------------------------------------------------

apache_conf() {
  cat >"$T/apache2.conf" <<EOF
ServerRoot $T
ServerName 127.0.0.1
Listen 127.0.0.1:$1
PidFile $T/apache2.pid
ErrorLog $T/apache2.err
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
User www-data
Group www-data
DocumentRoot $SRV/www
<Directory $SRV/www>
  Require all granted
</Directory>
EnableSendfile Off
EnableMMAP Off
EOF
}

@test "apache2, EnableSendfile and EnableMMAP off: every size kept alive and two at once, exact bytes, sendfile carries them (README row)" {
  zc_traced "$T/log"
  start_server apache_conf "${ZC_TRACED[@]}" /usr/sbin/apache2 -f "$T/apache2.conf" -DFOREGROUND
  fetch_all "http://127.0.0.1:$PORT" "$KEPT_ALIVE"
  stop_server TERM "$T/apache2.pid"
  expect_share apache2 "EnableSendfile Off, EnableMMAP Off" apache2 90
}

# ---- vsftpd -----------------------------------------------------------------

vsftpd_conf() {
  cat >"$T/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$1
background=NO
anonymous_enable=YES
no_anon_password=YES
local_enable=NO
write_enable=NO
anon_root=$SRV/www
secure_chroot_dir=$SRV/empty
use_sendfile=NO
xferlog_enable=NO
EOF
}

# ftp_fetch_all: as fetch_all, over FTP: curl keeps the control connection
# (counted once) and opens a data connection per file.
ftp_fetch_all() {
  zc_traced "$T/log"
  start_server vsftpd_conf env ZCOPY_LOG="$SRV/log/vsftpd.%p" "${ZC_TRACED[@]}" /usr/sbin/vsftpd "$T/vsftpd.conf"
  fetch_all "ftp://127.0.0.1:$PORT" "2 1 1 1 1 1 "
  # vsftpd ends on SIGTERM; its session processes end with their connections
  pgrep -P "$SERVER_PID" >"$T/vsftpd.pid"
  stop_server TERM "$T/vsftpd.pid"
}

@test "vsftpd, use_sendfile=NO: every size kept alive and two at once, exact bytes; sendfile carries at least 90% (README row)" {
  ftp_fetch_all
  # safe mode's proof maps a window of the file: vsftpd's RLIMIT_AS (200
  # MiB) refuses 1 GiB, and zcopy halves the window until a mapping fits.
  expect_share vsftpd "use_sendfile=NO" vsftpd 90
}

@test "vsftpd, use_sendfile=NO, trust mode (no proof to map): sendfile carries at least 90% of the bytes, exact bytes" {
  export ZCOPY_MODE=trust
  ftp_fetch_all
  local fast
  fast=$(fast_bytes "$T/log" sendfile)
  echo "# vsftpd trust: sendfile carried $fast of $TOTAL bytes" >&3
  [ "$(share_percent "$fast" "$TOTAL")" -ge 90 ] || fail "sendfile carried $fast of $TOTAL bytes"
  [ "$fast" -le "$TOTAL" ]
}
