#!/usr/bin/env bash
# The device's user is asked before a session opens (consent policy "ask" set on the UMS), on the
# device's real X display (Xvnc): a dialog (xmessage, whose buttons exit 10 and 11) answered with a
# key press through XTEST (xdotool), as a person would. Yes, no, no answer, no one logged in, and
# the user ending a running session from the "you are being shadowed" indicator.
source "$(dirname "$0")/lib.sh"

step "start Xvnc (the device's screen), the UMS (tc-1: consent ask, 8 s) and the device agent"
start_xvnc
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0,
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}], "consent_timeout_s": 8,
  "devices": [{"id": "tc-1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "ask"}]}}]}
JSON
start_daemon ums "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token 0123456789abcdef0123)
# device_config DEFAULT_BUTTON DISPLAY: the dialog's Return key answers DEFAULT_BUTTON.
device_config() {
  cat > "$WORK/device.json" <<JSON
{"data_dir": "$WORK/device-data", "services": [{"type": "device", "name": "tc-1", "settings": {
  "device_id": "tc-1", "credential_file": "$(credential_file "tc-1-credential")", "server": "wss://127.0.0.1:$UMS_PORT/up",
  "ca_file": "$WORK/data/ca.pem", "vnc_socket": "$VNC_SOCKET", "reconnect_min_ms": 200, "reconnect_max_ms": 1000,
  "display": "$2",
  "consent_command": ["xmessage", "-name", "consent", "-geometry", "-0-0", "-buttons", "Allow:10,Deny:11",
                      "-default", "$1", "-timeout", "{timeout}", "{message}"],
  "consent_yes_exit": 10,
  "notify_command": ["xmessage", "-name", "indicator", "-geometry", "-0-0", "-buttons", "End:0", "-default", "End",
                     "{user}: {mode}"]}}]}
JSON
}
DEVICE_RUN=0
restart_device() {  # restart_device DEFAULT_BUTTON DISPLAY
  [ -n "${DEVICE_PID:-}" ] && { kill -TERM "$DEVICE_PID"; wait "$DEVICE_PID" || true; }
  device_config "$1" "$2"
  DEVICE_RUN=$((DEVICE_RUN + 1))
  start "device$DEVICE_RUN" "$BIN/shadowlinkd" --config "$WORK/device.json"; DEVICE_PID=$LAST_PID
  wait_log "device$DEVICE_RUN" "connected to wss://127.0.0.1:$UMS_PORT/up" 20
  for _ in $(seq 50); do "${CLI[@]}" devices | grep -Eq '^tc-1 .* yes' && break; sleep 0.1; done
}
window() { DISPLAY=$VNC_DISPLAY xdotool search --classname "$1" 2>/dev/null | head -1 || true; }
# press_return NAME: waits (15 s at most) for the window, then presses Return in it.
press_return() {
  local w=""
  for _ in $(seq 150); do w=$(window "$1"); [ -n "$w" ] && break; sleep 0.1; done
  [ -n "$w" ] || fail "no '$1' window appeared on the device's display"
  DISPLAY=$VNC_DISPLAY xdotool windowfocus --sync "$w" key Return
}
restart_device Allow "$VNC_DISPLAY"

step "the user says yes: the session opens, the indicator shows while it lasts"
"${CLI[@]}" snapshot tc-1 "$WORK/yes.png" > "$WORK/yes.out" 2>&1 &
SNAP=$!
press_return consent
wait "$SNAP" || fail "the snapshot failed after a yes: $(cat "$WORK/yes.out")"
check_checkerboard "$WORK/yes.png"
wait_log device1 "the device's user agreed" 5
for _ in $(seq 30); do [ -z "$(window indicator)" ] && break; sleep 0.1; done
[ -z "$(window indicator)" ] || fail "the indicator stayed after the session ended"

step "nobody answers: refused when the dialog times out (5 s: the UMS's 8 s less its margin)"
START=$(date +%s)
if "${CLI[@]}" snapshot tc-1 "$WORK/x.png" 2> "$WORK/timeout.err"; then fail "shadowed without an answer"; fi
cat "$WORK/timeout.err"
grep -q "device refused: the device's user did not answer within 5 s" "$WORK/timeout.err" || fail "no timeout reason"
# The console follows the set-up: it said what it was waiting for, with the server's deadline.
grep -Eq "^tc-1: waiting for the device's user \([0-9]+s so far, [0-9]+s left\)" "$WORK/timeout.err" \
  || fail "the console did not show that it waited for the device's user"
[ $(( $(date +%s) - START )) -ge 4 ] || fail "refused before the user had time to answer"
for _ in $(seq 30); do [ -z "$(window consent)" ] && break; sleep 0.1; done
[ -z "$(window consent)" ] || fail "the dialog stayed after its timeout"

step "the user ends a running session from the indicator"
start console "${CLI[@]}" shadow tc-1 --listen 127.0.0.1:0
press_return consent
VIEW_PORT=$(listen_port console 20)
exec 3<>"/dev/tcp/127.0.0.1/$VIEW_PORT"  # a viewer holds the session open
wait_log ums "active: viewer" 10
press_return indicator
wait_log device1 "the device's user ended the session" 10
wait_log device1 "session ended (ended by the device's user)" 10
wait_log console "ended: device closed" 10
exec 3<&-

step "the user ends a running session with shadowlink-device end (the agent's control socket, 0600)"
SOCKET="$WORK/device-data/tc-1/control.sock"
[ "$(stat -c %a "$SOCKET")" = 600 ] || fail "the control socket is mode $(stat -c %a "$SOCKET"), not 600"
"$BIN/shadowlink-device" --socket "$SOCKET" status | grep -q "no session is running" || fail "status before a session"
start console2 "${CLI[@]}" shadow tc-1 --listen 127.0.0.1:0
press_return consent
VIEW_PORT=$(listen_port console2 20)
exec 3<>"/dev/tcp/127.0.0.1/$VIEW_PORT"  # a viewer holds the session open
wait_count ums "active: viewer" 2 10
"$BIN/shadowlink-device" --socket "$SOCKET" end | tee "$WORK/local-end.out"
grep -q "^ended session s-" "$WORK/local-end.out" || fail "shadowlink-device end did not end the session"
wait_count device1 "session ended (ended by the device's user)" 2 10
wait_log console2 "ended: device closed" 10
exec 3<&-
if "$BIN/shadowlink-device" --socket "$SOCKET" end > "$WORK/local-end2.out"; then fail "ending with no session running succeeded"; fi
grep -q "no session is running" "$WORK/local-end2.out" || fail "unclear answer: $(cat "$WORK/local-end2.out")"

step "the user says no"
restart_device Deny "$VNC_DISPLAY"
"${CLI[@]}" snapshot tc-1 "$WORK/x.png" 2> "$WORK/no.err" &
SNAP=$!
press_return consent
if wait "$SNAP"; then fail "shadowed after a no"; fi
grep -q "device refused: the device's user declined" "$WORK/no.err" || fail "no refusal reason: $(cat "$WORK/no.err")"

step "nobody is logged in on the device's display: refused at once, with the reason"
restart_device Allow ":$((${VNC_DISPLAY#:} + 1000))"
if "${CLI[@]}" snapshot tc-1 "$WORK/x.png" 2> "$WORK/nodisplay.err"; then fail "shadowed with nobody to ask"; fi
grep -q "device refused: the device's user cannot be asked: nobody is logged in on display :" "$WORK/nodisplay.err" \
  || fail "no reason: $(cat "$WORK/nodisplay.err")"
echo "consent: all checks passed"
