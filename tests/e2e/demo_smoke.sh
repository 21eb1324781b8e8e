#!/usr/bin/env bash
# scripts/demo as a user meets it: start it, check its devices enrolled with one-time keys, run the
# snapshot commands it prints, open the Web App
# URL it prints in headless Chromium and shadow both demo devices, stop it with Ctrl-C (SIGINT),
# and check that nothing it started is left running.
source "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)

step "start scripts/demo in its own process group"
setsid "$REPO/scripts/demo" > "$WORK/demo.log" 2>&1 &
DEMO=$!
PIDS+=("$DEMO")
for _ in $(seq 1200); do
  grep -q "Press Ctrl-C to stop." "$WORK/demo.log" && break
  kill -0 "$DEMO" 2>/dev/null || fail "scripts/demo exited early"
  sleep 0.1
done
grep -q "Press Ctrl-C to stop." "$WORK/demo.log" || fail "scripts/demo did not get ready within 120 s"
PGID=$(ps -o pgid= -p "$DEMO" | tr -d ' ')

step "the demo's devices were enrolled with one-time keys for the folder demo"
KEYS=$("$REPO/build/default/apps/shadowlink" --ca "$REPO/build/demo/shadowlink-data/ca.pem" -u admin -p admin enrollment-key list)
for device in demo-device remote-device; do
  echo "$KEYS" | grep -q "^[0-9a-f]\{12\}  *used  *demo .* $device$" || fail "no key used by $device: $KEYS"
done

step "run the snapshot command the demo printed"
CMD=$(grep -m1 "snapshot demo-device demo.png" "$WORK/demo.log" | sed "s|demo.png|$WORK/demo.png|")
[ -n "$CMD" ] || fail "the demo did not print a snapshot command"
echo "$CMD"
eval "timeout 60 $CMD"
check_checkerboard "$WORK/demo.png"
CMD=$(grep -m1 "snapshot remote-device remote.png" "$WORK/demo.log" | sed "s|remote.png|$WORK/remote.png|")
[ -n "$CMD" ] || fail "the demo did not print a snapshot command for the device behind the ICG"
eval "timeout 60 $CMD"
check_checkerboard "$WORK/remote.png"

step "the Web App URL the demo printed works in Chromium for both demo devices (login admin/admin)"
ensure_playwright
URL=$(grep -m1 -o 'https://127.0.0.1:8443/$' "$WORK/demo.log" || true)
[ -n "$URL" ] || fail "the demo did not print the Web App's URL"
DEMO_DISPLAY=$(sed -n 's/.*TigerVNC Xvnc, display \(:[0-9]*\)).*/\1/p' "$WORK/demo.log" | head -1)
[ -n "$DEMO_DISPLAY" ] || fail "the demo did not print its VNC display"
for device in demo-device remote-device; do
  browse "$URL" admin admin "$device" "$DEMO_DISPLAY" "demo-$device"
done

step "Ctrl-C stops the demo and everything it started"
kill -INT -- "-$PGID"
for _ in $(seq 100); do pgrep -g "$PGID" > /dev/null || break; sleep 0.1; done
if pgrep -g "$PGID" > /dev/null; then ps -o pid,comm -g "$PGID"; fail "processes of the demo are still running"; fi
grep -q "demo stopped" "$WORK/demo.log" || fail "the demo did not report stopping"
echo "demo smoke: all checks passed"
