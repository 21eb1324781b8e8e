#!/usr/bin/env bash
# A full disk under the recordings ends the recording, never the session: the recordings'
# directory is a 256 KiB tmpfs of its own (in a private mount namespace), a viewer asks for the
# whole screen again and again (raw, 300 KB an update), the recording stops with a warning
# ("disk full"), the viewer keeps getting updates, and the audit trail says how the recording ended.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this test needs root (a private mount namespace for a small file system)"
start_xvnc
write_ums_config "$WORK/ums.json"
record_tc1 "$WORK/ums.json"
mkdir -p "$WORK/data/ums/recordings"
start ums unshare -m -- bash -c 'mount -t tmpfs -o size=256k tmpfs "$1/data/ums/recordings" || exit 1
  exec "$2" --config "$3" --port-file "$1/ums.ports"' sh "$WORK" "$BIN/shadowlinkd" "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
wait_log ums "device tc-1 online" 15
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
updates() { grep -o 'rfb_watch: [0-9]* updates' "$WORK/viewer.log" | tail -1 | grep -o '[0-9]*' || echo 0; }

step "a recorded session whose viewer pulls full screens fills the recordings' disk"
start console "${CLI[@]}" shadow tc-1 --listen 127.0.0.1:0
PORT=$(listen_port console 20)
start viewer timeout 60 python3 "$(dirname "$0")/../tools/rfb_watch.py" 127.0.0.1 "$PORT" 0.05
VIEWER_PID=$LAST_PID  # timeout(1), which passes a TERM on to the viewer
wait_log ums "stopped, the session goes on: disk full" 20
echo "ok: $(grep -o 'recording s-[0-9a-f]* stopped.*' "$WORK/ums.log")"

step "the session goes on: the viewer keeps getting the screen"
BEFORE=$(updates)
sleep 2
AFTER=$(updates)
[ "$AFTER" -gt "$BEFORE" ] || fail "no update reached the viewer after the recording stopped ($BEFORE, then $AFTER)"
if grep -q "AUDIT session ended" "$WORK/ums.log"; then fail "the session ended with the recording"; fi
echo "ok: $BEFORE updates when it stopped, $AFTER two seconds later"

step "the viewer ends the session: the audit trail says how the recording ended"
kill "$VIEWER_PID"
wait_log ums "AUDIT session ended: device=tc-1" 10
# The audit record is written just after the log line.
for _ in $(seq 50); do
  "${CLI[@]}" audit tc-1 --json | grep '"event":"session_ended"' > "$WORK/ended.json" || true
  [ -s "$WORK/ended.json" ] && break
  sleep 0.1
done
grep -q '"recording_state":"disk full"' "$WORK/ended.json" || fail "the audit record does not say the disk was full: $(cat "$WORK/ended.json")"
echo "recording on a full disk: all checks passed"
