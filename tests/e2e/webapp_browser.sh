#!/usr/bin/env bash
# The Web App in a real browser: Debian's headless Chromium, driven by playwright-core, against the
# shipped UMS and device agent and a real Xvnc (tests/browser/webapp.mjs says what it checks).
# Screenshots are kept in $ARTIFACTS.
source "$(dirname "$0")/lib.sh"
ensure_playwright
CRED=gateway-credential-0123456789

step "start Xvnc, the gateway, the UMS, two devices at the UMS (one without a VNC server) and one behind the gateway"
start_xvnc
start_gateway "$CRED"
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0,
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}],
  "devices": [{"id": "tc-1", "name": "Thin client 1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"},
              {"id": "remote-1", "name": "Home office", "credential_sha256": "$(sha256_of remote-1-credential)", "consent": "none"},
              {"id": "tc-broken", "name": "Broken VNC", "credential_sha256": "$(sha256_of tc-broken-credential)", "consent": "none"},
              {"id": "tc-11", "name": "Legacy 1", "credential_sha256": "$(sha256_of tc-11-credential)", "consent": "none"},
              {"id": "remote-11", "name": "Legacy at home", "credential_sha256": "$(sha256_of remote-11-credential)", "consent": "none"}],
  "gateways": [$(gateway_entry "$CRED")]}}]}
JSON
start_daemon ums "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
# tc-1 asks its user first; its "user" (a 2 s sleep on the device's display) always agrees, so the
# page has a moment in which it must show that it waits for a person.
cat > "$WORK/tc1.json" <<JSON
{"data_dir": "$WORK/device-data", "services": [{"type": "device", "name": "tc-1", "settings": {
  "device_id": "tc-1", "credential_file": "$(credential_file "tc-1-credential")", "server": "wss://127.0.0.1:$UMS_PORT/up",
  "ca_file": "$WORK/data/ca.pem", "vnc_socket": "$VNC_SOCKET",
  "consent": "ask", "consent_command": ["sleep", "2"], "display": "$VNC_DISPLAY"}}]}
JSON
start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
write_device_config "$WORK/broken.json" tc-broken tc-broken-credential "$UMS_PORT" "$CLOSED_VNC_SOCKET"
start broken "$BIN/shadowlinkd" --config "$WORK/broken.json"
cat > "$WORK/remote.json" <<JSON
{"data_dir": "$WORK/remote-data", "services": [{"type": "device", "name": "remote-1", "settings": {
  "device_id": "remote-1", "credential_file": "$(credential_file "remote-1-credential")", "server": "wss://localhost:$ICG_PORT/up",
  "ca_file": "$WORK/data/ca.pem", "vnc_socket": "$VNC_SOCKET"}}]}
JSON
start remote "$BIN/shadowlinkd" --config "$WORK/remote.json"
# Two OS 11 devices: one at the UMS (the UMS connects in to its legacy TLS port), one behind the gateway.
for d in "tc-11 wss://127.0.0.1:$UMS_PORT/up" "remote-11 wss://localhost:$ICG_PORT/up"; do
  set -- $d
  cat > "$WORK/$1.json" <<JSON
{"data_dir": "$WORK/$1-data", "services": [{"type": "device", "name": "$1", "settings": {
  "device_id": "$1", "credential_file": "$(credential_file "$1-credential")", "server": "$2", "ca_file": "$WORK/data/ca.pem",
  "vnc_socket": "$VNC_SOCKET", "os": "11", "legacy_listen": "127.0.0.1", "legacy_port": 0}}]}
JSON
  start "$1" "$BIN/shadowlinkd" --config "$WORK/$1.json"
done
wait_log ums "device tc-1 online" 15
wait_log ums "device tc-broken online" 15
wait_log ums "device remote-1 online through gateway icg" 20
wait_log ums "device tc-11 online" 15
wait_log ums "device remote-11 online through gateway icg" 20

# Origin check: the page is opened as https://localhost:PORT, one of the UMS's web origins.
# flow NAME DEVICE_ID DEVICE_NAME DEVICE_LOG: the whole browser run for one Web App flow.
flow() {
  browse "https://localhost:$UMS_PORT/" admin s3cret-pass "$3" "$VNC_DISPLAY" "$1"
  wait_count ums "AUDIT session ended: device=$2 user=admin via=webapp" 2 10
  grep -q "shadow request from admin (view only)" "$WORK/$4.log" || fail "the view-only choice did not reach $2"
}
step "Chromium, OS12 direct: log in, filter, shadow in full control and view only (the device's user asked), end, a refusal, log out"
[ ! -e "$CLOSED_VNC_SOCKET" ] || fail "test bug: $CLOSED_VNC_SOCKET exists, the refusal would not be a real one"
EXPECT_STEP="waiting for the device's user" REFUSED_DEVICE="Broken VNC" flow direct tc-1 "Thin client 1" device
grep -q '"event":"session_ended".*"tc-broken"\|"tc-broken".*"event":"session_ended"' "$WORK"/data/*/audit.jsonl \
  || fail "the refused session is not in the audit trail"
step "Chromium, OS12 over the ICG: the same for the device behind the gateway"
flow icg remote-1 "Home office" remote
step "Chromium, OS11 direct: the same for an OS 11 device, which the UMS reaches on its legacy TLS port"
EXPECT_OS="OS 11" flow os11-direct tc-11 "Legacy 1" tc-11
grep -q "web app session (OS 11) by admin for device tc-11" "$WORK/ums.log" || fail "the OS 11 Web App flow was not used"
step "Chromium, OS11 over the ICG: the same for an OS 11 device behind the gateway"
EXPECT_OS="OS 11" flow os11-icg remote-11 "Legacy at home" remote-11
echo "web app in Chromium: all checks passed for both Web App flows (screenshots in ${ARTIFACTS:-$WORK})"
