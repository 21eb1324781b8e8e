#!/usr/bin/env bash
# A recorded session played back in the Web App, in Debian's headless Chromium
# (tests/browser/playback.mjs says what it checks). Screenshots are kept in $ARTIFACTS/playback.
source "$(dirname "$0")/lib.sh"
ensure_playwright
start_xvnc
start_ums_and_tc1 record
SHOTS=${ARTIFACTS:-$WORK}/playback
mkdir -p "$SHOTS"
step "record a session whose screen turns red, green, blue, and play it back"
DEVICE_DISPLAY=$VNC_DISPLAY timeout 120 node "$BROWSER_DIR/playback.mjs" "https://127.0.0.1:$UMS_PORT/" admin "$ADMIN_PASSWORD" "Thin client 1" "$SHOTS" | tee "$WORK/browser.log"
grep -q "ok: playback: all checks passed" "$WORK/browser.log" || fail "the playback test did not pass"
