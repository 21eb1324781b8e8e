#!/usr/bin/env bash
# The Debian package as an operator meets it: cpack builds it, apt-get installs it (pulling its
# dependencies), the systemd units pass `systemd-analyze verify`, the installed daemon runs as the
# unit's ExecStart would (user shadowlink's state directory, Type=notify on a socket this test
# listens on: READY, WATCHDOG, STOPPING) and shadows a real VNC server, then a purge leaves nothing
# running and nothing behind. Systemd is not PID 1 here, so runuser stands in for User=.
source "$(dirname "$0")/lib.sh"
BUILD_DIR=$(cd "$BIN/.." && pwd)
[ "$(id -u)" = 0 ] || fail "the package test installs into this machine: run it as root"

step "cpack builds the .deb"
rm -f "$BUILD_DIR"/shadowlink_*.deb
(cd "$BUILD_DIR" && cpack -G DEB > "$WORK/cpack.log" 2>&1) || fail "cpack: $(tail -20 "$WORK/cpack.log")"
DEB=$(ls "$BUILD_DIR"/shadowlink_*.deb)
dpkg-deb --info "$DEB" > "$WORK/info.txt"
dpkg-deb --contents "$DEB" > "$WORK/contents.txt"
grep -Eq '^ Depends:.*adduser' "$WORK/info.txt" || fail "no adduser dependency: $(cat "$WORK/info.txt")"
grep -Eq '^ Depends:.*libpng' "$WORK/info.txt" || fail "the library dependencies are missing: $(grep Depends "$WORK/info.txt")"
for f in ./usr/bin/shadowlinkd ./usr/bin/shadowlink ./usr/bin/shadowlink-device ./usr/share/shadowlink/webapp/index.html \
         ./usr/lib/systemd/system/shadowlinkd.service ./usr/lib/systemd/user/shadowlink-device.service \
         ./etc/shadowlink/shadowlinkd.json ./usr/share/man/man8/shadowlinkd.8 ./usr/share/man/man1/shadowlink.1; do
  grep -q " $f$" "$WORK/contents.txt" || fail "$f is not in the package"
done
if grep -Eq 'tests|benchmarks|loadgen|_tests$' "$WORK/contents.txt"; then fail "test or benchmark files in the package"; fi
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles | grep -qx /etc/shadowlink/shadowlinkd.json || fail "the config is not a conffile"
echo "ok: $(basename "$DEB"), $(grep -c . "$WORK/contents.txt") entries"

step "apt-get installs it with its dependencies; the service user and state directory exist"
if dpkg -s shadowlink > /dev/null 2>&1; then apt-get purge -y shadowlink > "$WORK/old-purge.log" 2>&1; fi
# Whatever happens, the machine is left without the package (the test's exit code kept for cleanup).
trap 'rc=$?; apt-get purge -y shadowlink > /dev/null 2>&1 || true; (exit $rc); cleanup' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y "$DEB" > "$WORK/apt.log" 2>&1 || fail "apt-get install: $(tail -20 "$WORK/apt.log")"
getent passwd shadowlink > /dev/null || fail "no shadowlink user"
[ "$(stat -c '%U %a' /var/lib/shadowlink)" = "shadowlink 750" ] || fail "/var/lib/shadowlink: $(stat -c '%U %a' /var/lib/shadowlink)"
[ "$(stat -c '%G %a' /etc/shadowlink/shadowlinkd.json)" = "shadowlink 640" ] || fail "the config's mode: $(stat -c '%G %a' /etc/shadowlink/shadowlinkd.json)"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/bin/shadowlinkd | cmp -s - /usr/bin/shadowlinkd || fail "the installed shadowlinkd is not the package's"
man -w shadowlinkd > /dev/null 2>&1 || fail "man shadowlinkd finds no page"
# The shipped example config is refused until an administrator is configured: nothing starts with a default password.
set +e; /usr/bin/shadowlinkd --check-config /etc/shadowlink/shadowlinkd.json > "$WORK/check.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "password_hash: expected the output of" "$WORK/check.txt" || fail "the example config: rc=$rc $(cat "$WORK/check.txt")"

step "systemd-analyze verify: both units, no warnings"
for unit in /usr/lib/systemd/system/shadowlinkd.service /usr/lib/systemd/user/shadowlink-device.service; do
  set +e; systemd-analyze verify "$unit" > "$WORK/verify.txt" 2>&1; rc=$?; set -e
  # A user unit's %E is expanded from a user manager's environment, which the offline check lacks.
  grep -v "Failed to resolve unit specifiers on %E" "$WORK/verify.txt" > "$WORK/verify-rest.txt" || true
  [ $rc -eq 0 ] && [ ! -s "$WORK/verify-rest.txt" ] || fail "$unit: rc=$rc $(cat "$WORK/verify.txt")"
done
systemd-analyze security --offline=true /usr/lib/systemd/system/shadowlinkd.service 2>&1 | tail -1 | tee "$WORK/security.txt"
grep -q "Overall exposure level for shadowlinkd.service: [0-2]\.[0-9] OK" "$WORK/security.txt" || fail "exposure: $(cat "$WORK/security.txt")"

step "the installed daemon runs as its unit would (user shadowlink, notify socket) and shadows a real VNC server"
start_xvnc
cat > /etc/shadowlink/shadowlinkd.json <<JSON
{"data_dir": "/var/lib/shadowlink", "services": [{"type": "ums", "name": "ums", "settings": {"port": 0,
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}],
  "devices": [{"id": "tc-1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"}]}}]}
JSON
NOTIFY_DIR=$(mktemp -d /tmp/shadowlink-notify.XXXXXX); chmod 755 "$NOTIFY_DIR"
python3 - "$NOTIFY_DIR/notify.sock" > "$WORK/notify.log" 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777)
while True:
    print(s.recv(4096).decode().replace("\n", " "), flush=True)
PY
PIDS+=($!)
for _ in $(seq 50); do [ -S "$NOTIFY_DIR/notify.sock" ] && break; sleep 0.1; done
start installed env -C /var/lib/shadowlink NOTIFY_SOCKET="$NOTIFY_DIR/notify.sock" WATCHDOG_USEC=1000000 \
  runuser -u shadowlink -- /usr/bin/shadowlinkd --config /etc/shadowlink/shadowlinkd.json
INSTALLED_PID=$LAST_PID
wait_log notify "READY=1" 15
UMS_PORT=$(listen_port installed)
wait_count notify "WATCHDOG=1" 2 5
[ "$(stat -c %U /var/lib/shadowlink/ca.key)" = shadowlink ] || fail "the CA key is not the service user's"
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
sed -i "s|\"ca_file\": \"[^\"]*\"|\"ca_file\": \"$WORK/ca.pem\"|" "$WORK/tc1.json"
cp /var/lib/shadowlink/ca.pem "$WORK/ca.pem"
start device /usr/bin/shadowlinkd --config "$WORK/tc1.json"
wait_log installed "device tc-1 online" 15
DAEMON_PID=$(pgrep -u shadowlink -xf "/usr/bin/shadowlinkd --config /etc/shadowlink/shadowlinkd.json") || fail "no shadowlinkd runs as shadowlink"
kill -HUP "$DAEMON_PID"   # what `systemctl reload` sends: RELOADING=1, then READY=1 again
wait_log notify "RELOADING=1" 10
wait_count notify "READY=1" 2 10
SHADOWLINK_PASSWORD="$ADMIN_PASSWORD" /usr/bin/shadowlink --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/ca.pem" -u admin \
  snapshot tc-1 "$WORK/installed.png" || fail "the installed console could not shadow through the installed daemon"
check_checkerboard "$WORK/installed.png"
grep -q "Web App files from /usr/share/shadowlink/webapp" "$WORK/installed.log" || fail "the UMS does not serve the installed Web App files"
curl -s --max-time 10 --cacert "$WORK/ca.pem" "https://127.0.0.1:$UMS_PORT/" | grep -q "<title>shadowlink</title>" \
  || fail "the installed Web App files are not served"
kill -TERM "$INSTALLED_PID"
wait_log notify "STOPPING=1" 10
for _ in $(seq 100); do kill -0 "$INSTALLED_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$INSTALLED_PID" 2>/dev/null && fail "the installed daemon did not stop"
rm -rf "$NOTIFY_DIR"

step "purge: nothing left running, no user, no state"
kill -TERM "$LAST_PID" 2>/dev/null || true  # the device agent started from the package's binary
for _ in $(seq 50); do pgrep -f /usr/bin/shadowlinkd > /dev/null || break; sleep 0.1; done
apt-get purge -y shadowlink > "$WORK/purge.log" 2>&1 || fail "purge: $(tail -20 "$WORK/purge.log")"
if pgrep -f /usr/bin/shadowlinkd > /dev/null; then fail "a shadowlinkd from the package still runs: $(pgrep -af /usr/bin/shadowlinkd)"; fi
if getent passwd shadowlink > /dev/null; then fail "the shadowlink user is still there"; fi
for p in /var/lib/shadowlink /etc/shadowlink /usr/bin/shadowlinkd /usr/lib/systemd/system/shadowlinkd.service; do
  [ ! -e "$p" ] || fail "$p is still there after the purge"
done
echo "package: all checks passed"
