#!/usr/bin/env bash
# The Web App in a real browser: Debian's headless Chromium, driven by playwright-core, against the
# shipped UMS and device agent and a real Xvnc (tests/browser/webapp.mjs says what it checks).
# Screenshots are kept in $ARTIFACTS.
source "$(dirname "$0")/lib.sh"
BROWSER_DIR=$(cd "$(dirname "$0")/../browser" && pwd)
ARTIFACTS=${ARTIFACTS:-$WORK}
mkdir -p "$ARTIFACTS"
command -v chromium > /dev/null || fail "Debian's chromium is not installed (scripts/deps.sh installs it)"
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
  step "installing playwright-core from the npm registry (tests/browser/package-lock.json)"
  (cd "$BROWSER_DIR" && timeout 300 npm ci --no-audit --no-fund) || fail "npm ci in tests/browser failed"
fi
UMS_PORT=$(free_port)

step "start Xvnc, the UMS and the device agent"
start_xvnc
write_ums_config "$WORK/ums.json" "$UMS_PORT"
start ums "$BIN/shadowlinkd" --config "$WORK/ums.json"
wait_port "$UMS_PORT" 15
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_PORT"
start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
wait_log ums "device tc-1 online" 15

step "Chromium: log in, filter, shadow in full control and view only, end, log out"
# Origin check: the page is opened as https://localhost:PORT, one of the UMS's web origins.
timeout 150 node "$BROWSER_DIR/webapp.mjs" "https://localhost:$UMS_PORT/" admin s3cret-pass "Thin client 1" "$ARTIFACTS" \
  | tee "$WORK/browser.log"
grep -q "ok: after logout" "$WORK/browser.log" || fail "the browser test did not finish"
wait_count ums "AUDIT session ended: device=tc-1 user=admin via=webapp" 2 10
grep -q "shadow request from admin (view only)" "$WORK/device.log" || fail "the view-only choice did not reach the device"
echo "web app in Chromium: all checks passed (screenshots in $ARTIFACTS)"
