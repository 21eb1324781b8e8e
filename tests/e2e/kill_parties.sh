#!/usr/bin/env bash
# Every party of a session dies by SIGKILL, mid-session and during set-up, through the shipped
# binaries: the device agent, the UMS and the gateway. The survivors notice at once (a killed
# process's sockets close) or within the keep-alive time, end the session with an audit line that
# says what happened, tell the viewer why, reconnect with back-off when the dead party returns, and
# keep nothing of the session: the REST session list, the gateway's counters and every survivor's
# open file descriptors (/proc/PID/fd) are back where they were before the session.
source "$(dirname "$0")/lib.sh"
CRED=kill-test-ums-credential-0123456789
secret "$CRED"

gateway_metric() {  # gateway_metric 'NAME{LABELS}': its value (the sample must be there)
  scrape "https://127.0.0.1:$ICG_PORT/metrics" "$WORK/icg-metrics.txt"
  grep -qF "$1 " "$WORK/icg-metrics.txt" || fail "the gateway reports no $1"
  metric "$WORK/icg-metrics.txt" "$1"
}
gateway_idle() {
  local live pending
  for _ in $(seq 100); do
    live=$(gateway_metric 'shadowlink_splices{state="live"}')
    pending=$(gateway_metric 'shadowlink_gateway{what="rendezvous_pending"}')
    [ "$live" = 0 ] && [ "$pending" = 0 ] && { echo "ok: the gateway holds no splice and no rendezvous entry"; return 0; }
    sleep 0.1
  done
  fail "the gateway still holds $live splices and $pending rendezvous entries"
}
# viewer_told NAME WHAT: within 10 s the console printed why the session ended, its viewer's
# connection was closed, and the console exited.
viewer_told() {
  wait_log "$1" "ended: .*$2" 10
  wait_log "$1-viewer" "rfb_watch: closed after" 5
  for _ in $(seq 50); do kill -0 "$WATCH_CONSOLE" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$WATCH_CONSOLE" 2>/dev/null; then fail "the console of $1 is still running"; fi
  echo "ok: the viewer was told: $(grep -o 'session .* ended: .*' "$WORK/$1.log" | tail -1)"
}
# A killed device reaches the UMS twice, in either order: its tunnel ends (without close_notify,
# or reset) and its link ends. Whichever comes first ends the session and names the reason.
DEVICE_GONE='device \(closed without TLS close_notify\|closed (connection reset)\|went offline\)'
# ended_with PATTERN: the UMS's REST state of $SESSION is "ended" with an end_reason matching
# PATTERN (what the Web App's page shows when its session ends).
ended_with() {
  local state
  state=$(curl -s --max-time 5 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "https://127.0.0.1:$UMS_PORT/api/v1/sessions/$SESSION")
  grep -q '"state":"ended"' <<<"$state" && grep -q "\"end_reason\":\"$1\"" <<<"$state" ||
    fail "session $SESSION at the UMS: $state, expected ended with '$1'"
  echo "ok: REST (and the Web App's page) give the reason: $(grep -o '"end_reason":"[^"]*"' <<<"$state")"
}
# audit_end N PATTERN: the Nth "session ended" audit line appeared within 10 s and matches PATTERN.
audit_end() {
  wait_count ums "AUDIT session ended" "$1" 10
  grep "AUDIT session ended" "$WORK/ums.log" | sed -n "$1p" | grep -q -- "$2" ||
    fail "audit line $1: $(grep "AUDIT session ended" "$WORK/ums.log" | sed -n "$1p"), expected '$2'"
  echo "ok: $(grep "AUDIT session ended" "$WORK/ums.log" | sed -n "$1p" | grep -o 'AUDIT.*')"
}

step "Xvnc, the gateway, the UMS, a device at the UMS (tc-1) and one behind the gateway (remote-1)"
start_xvnc
start_gateway "$CRED" "\"device_grace_s\": 3, \"metrics_token_sha256\": \"$(sha256_of "$METRICS_TOKEN")\""
keep_port "$WORK/icg.json" "$ICG_PORT"
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "name": "ums", "settings": {"port": 0,
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}], "setup_timeout_s": 5, "viewer_timeout_s": 5,
  "devices": [{"id": "tc-1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"},
              {"id": "remote-1", "credential_sha256": "$(sha256_of remote-1-credential)", "consent": "none"}],
  "gateways": [$(gateway_entry "$CRED")]}}]}
JSON
start_daemon ums "$WORK/ums.json"; UMS_PID=$LAST_PID
UMS_PORT=$(daemon_port ums)
keep_port "$WORK/ums.json" "$UMS_PORT"
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
write_device_config "$WORK/device.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
start device "$BIN/shadowlinkd" --config "$WORK/device.json"; DEVICE_PID=$LAST_PID
write_device_config "$WORK/remote.json" remote-1 remote-1-credential "wss://localhost:$ICG_PORT/up" "$VNC_SOCKET"
start remote "$BIN/shadowlinkd" --config "$WORK/remote.json"; REMOTE_PID=$LAST_PID
wait_log ums "device tc-1 online" 20
wait_log ums "device remote-1 online through gateway icg" 20
# A first session each way warms up what a process makes once (the gateway's TLS client, caches).
"${CLI[@]}" snapshot tc-1 "$WORK/warm-direct.png" > /dev/null
"${CLI[@]}" snapshot remote-1 "$WORK/warm-icg.png" > /dev/null
check_checkerboard "$WORK/warm-icg.png"
sleep 1
UMS_FDS=$(fds "$UMS_PID") DEVICE_FDS=$(fds "$DEVICE_PID") REMOTE_FDS=$(fds "$REMOTE_PID") ICG_FDS=$(fds "$ICG_PID")
ENDS=2
audit_end 2 "device=remote-1"

step "the device agent killed mid-session (direct)"
watch_session s1 tc-1
kill -KILL "$DEVICE_PID"
viewer_told s1 "$DEVICE_GONE"
ended_with "$DEVICE_GONE"
ENDS=$((ENDS + 1)); audit_end $ENDS "device=tc-1 .*outcome=\"$DEVICE_GONE\""
no_sessions_left
fds_back UMS "$UMS_PID" "$UMS_FDS"

step "the device agent comes back and is shadowed again"
start device2 "$BIN/shadowlinkd" --config "$WORK/device.json"; DEVICE_PID=$LAST_PID
wait_count ums "device tc-1 online" 2 20
"${CLI[@]}" snapshot tc-1 "$WORK/device-back.png" > /dev/null
check_checkerboard "$WORK/device-back.png"
ENDS=$((ENDS + 1)); audit_end $ENDS "device=tc-1"
sleep 1; DEVICE_FDS=$(fds "$DEVICE_PID")

step "the device agent killed during set-up (the session asked for, no viewer yet)"
open_session tc-1 "$WORK/setup.json"
wait_count device2 "shadow request" 2 10  # (the first was the snapshot's)
kill -KILL "$DEVICE_PID"
ENDS=$((ENDS + 1)); audit_end $ENDS "device=tc-1 .*outcome=\"device went offline\""
no_sessions_left
fds_back UMS "$UMS_PID" "$UMS_FDS"
start device3 "$BIN/shadowlinkd" --config "$WORK/device.json"; DEVICE_PID=$LAST_PID
wait_count ums "device tc-1 online" 3 20
sleep 1; DEVICE_FDS=$(fds "$DEVICE_PID")


step "the UMS killed mid-session (direct): the device and the console notice, the device retries with back-off"
watch_session s2 tc-1
kill -KILL "$UMS_PID"
viewer_told s2 "lost the connection to localhost:$UMS_PORT (\(closed without TLS close_notify\|connection reset\))"
wait_log device3 "session ended" 10
wait_log device3 "connection to wss://127.0.0.1:$UMS_PORT/up lost" 10
fds_back "the device agent" "$DEVICE_PID" "$DEVICE_FDS"
BEFORE=$(grep -c "cannot reach wss://127.0.0.1:$UMS_PORT/up" "$WORK/device3.log" || true)
sleep 4  # the UMS stays away: the device's attempts must slow down, not hammer it
TRIES=$(( $(grep -c "cannot reach wss://127.0.0.1:$UMS_PORT/up" "$WORK/device3.log" || true) - BEFORE ))
# Without back-off (a retry every 200 ms) 4 s would be 20 attempts; by now the delay has grown
# towards its 2 s ceiling, with jitter: 1 to 5.
[ "$TRIES" -ge 1 ] && [ "$TRIES" -le 8 ] || fail "the device tried $TRIES times in 4 s while the UMS was away"
echo "ok: $TRIES attempts in the 4 s the UMS was away"
start_daemon ums2 "$WORK/ums.json"; UMS_PID=$LAST_PID
wait_log ums2 "device tc-1 online" 20
wait_log ums2 "device remote-1 online through gateway icg" 20
grep -q 'outcome.*unknown, server restarted' "$WORK/data/ums/audit.jsonl" 2>/dev/null || grep -rq 'unknown, server restarted' "$WORK/data" ||
  fail "the killed UMS's session was not closed in the audit trail on restart"
echo "ok: the session the UMS was killed in is closed in the audit trail as 'unknown, server restarted'"
no_sessions_left
"${CLI[@]}" snapshot tc-1 "$WORK/ums-back.png" > /dev/null
check_checkerboard "$WORK/ums-back.png"
sleep 1; DEVICE_FDS=$(fds "$DEVICE_PID") UMS_FDS=$(fds "$UMS_PID")

step "the UMS killed during set-up: the device's waiting tunnel ends with it"
open_session tc-1 "$WORK/setup2.json"
wait_count device3 "shadow request" 2 10
kill -KILL "$UMS_PID"
wait_count device3 "connection to wss://127.0.0.1:$UMS_PORT/up lost" 2 10
fds_back "the device agent" "$DEVICE_PID" "$DEVICE_FDS"
start_daemon ums3 "$WORK/ums.json"; UMS_PID=$LAST_PID
wait_log ums3 "device tc-1 online" 20
wait_log ums3 "device remote-1 online through gateway icg" 20
no_sessions_left
sleep 1; UMS_FDS=$(fds "$UMS_PID") REMOTE_FDS=$(fds "$REMOTE_PID") ICG_FDS=$(fds "$ICG_PID")

step "the device behind the gateway killed mid-session: the gateway's splice ends, nothing stays behind"
watch_session s3 remote-1
kill -KILL "$REMOTE_PID"
viewer_told s3 "$DEVICE_GONE"
ended_with "$DEVICE_GONE"
wait_log ums3 "AUDIT session ended: device=remote-1 .*outcome=\"device" 10
echo "ok: $(grep -o 'AUDIT session ended: device=remote-1.*' "$WORK/ums3.log" | tail -1)"
gateway_idle
fds_back "the gateway" "$ICG_PID" "$ICG_FDS"
no_sessions_left
start remote2 "$BIN/shadowlinkd" --config "$WORK/remote.json"; REMOTE_PID=$LAST_PID
wait_count ums3 "device remote-1 online through gateway icg" 2 20
sleep 1; REMOTE_FDS=$(fds "$REMOTE_PID") ICG_FDS=$(fds "$ICG_PID")

step "the gateway killed mid-session: the UMS, the device and the console notice; all come back"
watch_session s4 remote-1
kill -KILL "$ICG_PID"
viewer_told s4 "lost the connection to localhost:$ICG_PORT (\(closed without TLS close_notify\|connection reset\))"
wait_log ums3 "connection to gateway wss://127.0.0.1:$ICG_PORT lost" 10
wait_log ums3 "AUDIT session ended: device=remote-1 .*outcome=\"gateway" 10
echo "ok: $(grep -o 'AUDIT session ended: device=remote-1.*' "$WORK/ums3.log" | tail -1)"
wait_log remote2 "connection to wss://localhost:$ICG_PORT/up lost" 10
fds_back "the device agent behind the gateway" "$REMOTE_PID" "$REMOTE_FDS"
no_sessions_left
start_daemon icg2 "$WORK/icg.json"; ICG_PID=$LAST_PID
wait_log icg2 "UMS connected" 30
wait_count ums3 "device remote-1 online through gateway icg" 3 30
"${CLI[@]}" snapshot remote-1 "$WORK/icg-back.png" > /dev/null
check_checkerboard "$WORK/icg-back.png"
sleep 1; ICG_FDS=$(fds "$ICG_PID") REMOTE_FDS=$(fds "$REMOTE_PID")

step "the gateway killed during set-up (the device asked, no viewer yet)"
REQUESTS=$(grep -c "shadow request" "$WORK/remote2.log" || true)
open_session remote-1 "$WORK/setup3.json"
wait_count remote2 "shadow request" $((REQUESTS + 1)) 10
kill -KILL "$ICG_PID"
wait_count ums3 "AUDIT session ended: device=remote-1 .*outcome=\"gateway connection lost\"" 2 10
echo "ok: $(grep -o 'AUDIT session ended: device=remote-1.*' "$WORK/ums3.log" | tail -1)"
no_sessions_left
fds_back "the device agent behind the gateway" "$REMOTE_PID" "$REMOTE_FDS"
start_daemon icg3 "$WORK/icg.json"; ICG_PID=$LAST_PID
wait_log icg3 "UMS connected" 30
wait_count ums3 "device remote-1 online through gateway icg" 4 30
sleep 1; ICG_FDS=$(fds "$ICG_PID") REMOTE_FDS=$(fds "$REMOTE_PID")

step "the UMS killed while a session runs over the gateway: the gateway ends it (nobody would audit it)"
watch_session s5 remote-1
kill -KILL "$UMS_PID"
viewer_told s5 "the UMS connection was lost"
wait_log icg3 "session(s) ended: the UMS connection was lost" 10
gateway_idle
fds_back "the gateway" "$ICG_PID" "$ICG_FDS"
fds_back "the device agent behind the gateway" "$REMOTE_PID" "$REMOTE_FDS"

echo "kill tests: all checks passed"
