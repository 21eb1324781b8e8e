#!/usr/bin/env bash
# The test suite's own PostgreSQL server (a ctest fixture): `start STATE` makes a cluster in a
# temporary directory as the unprivileged postgres user (initdb refuses root), with a random
# password for the superuser `shadowlink`, listening on a free loopback port only, and writes
#   STATE/conninfo  a libpq connection string (no dbname: each test names its own database)
#   STATE/pgpass    the password, in a passfile (mode 0600) that the connection string names
#   STATE/root.crt  the server's self-signed certificate, which the connection string verifies
# `stop STATE` stops that server by its PID and removes everything. Debian keeps initdb off the
# PATH: pg_config says where it is.
set -euo pipefail
cmd=${1:?start or stop} state=${2:?state directory}
bindir=$(pg_config --bindir)

stop() {
  [ -f "$state/dir" ] || return 0
  local dir pid
  dir=$(cat "$state/dir")
  pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; then  # fast shutdown
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  case "$dir" in /tmp/shadowlink-pg.*) rm -rf "$dir" ;; esac
  rm -rf "$state"
}

case "$cmd" in
stop) stop ;;
start)
  stop
  mkdir -p "$state"
  dir=$(mktemp -d /tmp/shadowlink-pg.XXXXXX)
  echo "$dir" > "$state/dir"
  as=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    as=(runuser -u postgres --)
  fi
  password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  (umask 077 && printf '%s\n' "$password" > "$dir/pwfile")
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir/pwfile"
  "${as[@]}" "$bindir/initdb" -D "$dir/data" -U shadowlink --pwfile="$dir/pwfile" --auth=scram-sha-256 -E UTF8 --no-sync \
    > "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/pwfile"
  # TLS as a production database would have it: a certificate for 127.0.0.1, which the connection
  # string pins (sslmode=verify-full), so the registry's client (libpq) talks TLS in every test.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/server.key" -out "$dir/server.crt" 2> "$dir/openssl.log" ||
    { cat "$dir/openssl.log" >&2; exit 1; }
  chmod 600 "$dir/server.key"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir/server.key" "$dir/server.crt"
  cp "$dir/server.crt" "$state/root.crt"
  for attempt in 1 2 3; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
         -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" start > /dev/null; then
      break
    fi
    [ "$attempt" -lt 3 ] || { cat "$dir/server.log" >&2; exit 1; }
  done
  (umask 077 && printf '127.0.0.1:%s:*:shadowlink:%s\n' "$port" "$password" > "$state/pgpass")
  echo "host=127.0.0.1 port=$port user=shadowlink passfile=$state/pgpass sslmode=verify-full sslrootcert=$state/root.crt" > "$state/conninfo"
  echo "PostgreSQL $("$bindir/postgres" --version | awk "{print \$3}") on 127.0.0.1:$port, data in $dir/data (PID $(head -1 "$dir/data/postmaster.pid"))"
  ;;
*) echo "usage: $0 start|stop STATE" >&2; exit 2 ;;
esac
