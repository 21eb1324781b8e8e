#!/usr/bin/env bash
# The Web App in a real browser: Debian's headless Chromium, driven by playwright-core, against the
# shipped UMS and device agent and a real Xvnc (tests/browser/webapp.mjs says what it checks).
# Screenshots are kept in $ARTIFACTS.
source "$(dirname "$0")/lib.sh"
ensure_playwright
UMS_PORT=$(free_port) ICG_PORT=$(free_port)
[ "$ICG_PORT" != "$UMS_PORT" ] || ICG_PORT=$(free_port)
CRED=gateway-credential-0123456789

step "start Xvnc, the UMS, the gateway, a device at the UMS and one behind the gateway"
start_xvnc
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": $UMS_PORT,
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}],
  "devices": [{"id": "tc-1", "name": "Thin client 1", "credential": "tc-1-credential", "consent": "none"},
              {"id": "remote-1", "name": "Home office", "credential": "remote-1-credential", "consent": "none"}],
  "gateways": [{"name": "icg", "url": "wss://127.0.0.1:$ICG_PORT", "external_url": "wss://localhost:$ICG_PORT",
                "credential": "$CRED"}]}}]}
JSON
start ums "$BIN/shadowlinkd" --config "$WORK/ums.json"
wait_port "$UMS_PORT" 15
cat > "$WORK/icg.json" <<JSON
{"data_dir": "$WORK/icg-data", "services": [{"type": "icg", "name": "icg", "settings": {"port": $ICG_PORT,
  "external_url": "wss://localhost:$ICG_PORT", "ums_credential": "$CRED", "ca_dir": "$WORK/data"}}]}
JSON
start icg "$BIN/shadowlinkd" --config "$WORK/icg.json"
wait_port "$ICG_PORT" 15
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_PORT"
start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
cat > "$WORK/remote.json" <<JSON
{"data_dir": "$WORK/remote-data", "services": [{"type": "device", "name": "remote-1", "settings": {
  "device_id": "remote-1", "credential": "remote-1-credential", "server": "wss://localhost:$ICG_PORT/up",
  "ca_file": "$WORK/data/ca.pem", "vnc_port": $VNC_PORT}}]}
JSON
start remote "$BIN/shadowlinkd" --config "$WORK/remote.json"
wait_log ums "device tc-1 online" 15
wait_log ums "device remote-1 online through gateway icg" 20

# Origin check: the page is opened as https://localhost:PORT, one of the UMS's web origins.
# flow NAME DEVICE_ID DEVICE_NAME DEVICE_LOG: the whole browser run for one Web App flow.
flow() {
  browse "https://localhost:$UMS_PORT/" admin s3cret-pass "$3" "$VNC_DISPLAY" "$1"
  wait_count ums "AUDIT session ended: device=$2 user=admin via=webapp" 2 10
  grep -q "shadow request from admin (view only)" "$WORK/$4.log" || fail "the view-only choice did not reach $2"
}
step "Chromium, OS12 direct: log in, filter, shadow in full control and view only, end, log out"
flow direct tc-1 "Thin client 1" device
step "Chromium, OS12 over the ICG: the same for the device behind the gateway"
flow icg remote-1 "Home office" remote
echo "web app in Chromium: all checks passed for both Web App flows (screenshots in ${ARTIFACTS:-$WORK})"
