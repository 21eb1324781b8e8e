#!/usr/bin/env bash
# OS12 over ICG end to end, every party a separate process: Xvnc -> device agent -> ICG <- UMS,
# both reaching the gateway through a real HTTP CONNECT proxy (tinyproxy); console and Web App
# through the gateway; the device's connector list; forged and reused tunnel tokens; ICG killed,
# frozen (SIGSTOP) and left without its UMS.
source "$(dirname "$0")/lib.sh"
CRED=icg-ums-credential-0123456789
secret "$CRED"

health() { curl -s --max-time 5 --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$ICG_PORT/health" || echo "unreachable"; }
upgrade_status() {  # upgrade_status URL TOKEN: the HTTP status of a tunnel upgrade attempt
  curl -s -o /dev/null -w '%{http_code}' --http1.1 --max-time 3 --cacert "$WORK/data/ca.pem" \
    -H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" \
    -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" -H "Authorization: Bearer $2" "$1" || true
}

step "start Xvnc, the ICG, tinyproxy, the UMS and a device behind the ICG as separate processes"
start_xvnc
start_gateway "$CRED" "\"device_grace_s\": 3, \"metrics_token_sha256\": \"$(sha256_of "$METRICS_TOKEN")\""
keep_port "$WORK/icg.json" "$ICG_PORT"  # (for its restart below)
hold_port; DEAD_PORT=$HELD_PORT DEAD_HOLDER=$HELD_PID  # the device's first connector: refused until a second UMS takes it
hold_port; PROXY_PORT=$HELD_PORT
chmod 755 "$WORK"
cat > "$WORK/tinyproxy.conf" <<CONF
Port $PROXY_PORT
Listen 127.0.0.1
Timeout 600
Allow 127.0.0.1
ConnectPort $ICG_PORT
ConnectPort $DEAD_PORT
LogFile "$WORK/tinyproxy-connections.log"
LogLevel Connect
PidFile "$WORK/tinyproxy.pid"
MaxClients 100
CONF
release_port "$HELD_PID"
start tinyproxy tinyproxy -d -c "$WORK/tinyproxy.conf"
wait_port "$PROXY_PORT" 10
# The credential the UMS presents to the gateway sits in a file only this user can read; the gateway keeps its SHA-256.
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0,
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}],
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "remote-1", "name": "Home office", "credential_sha256": "$(sha256_of remote-1-credential)", "consent": "none"}], "viewer_timeout_s": 3, "setup_timeout_s": 4,
  "gateways": [$(gateway_entry "$CRED" "\"proxy\": \"http://127.0.0.1:$PROXY_PORT\"")]}}]}
JSON
start_daemon ums "$WORK/ums.json"; UMS_PID=$LAST_PID
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token 0123456789abcdef0123)
cat > "$WORK/device.json" <<JSON
{"data_dir": "$WORK/device-data", "services": [{"type": "device", "name": "remote-1", "settings": {
  "device_id": "remote-1", "credential_file": "$(credential_file "remote-1-credential")", "servers": ["wss://localhost:$DEAD_PORT/up", "wss://localhost:$ICG_PORT/up"], "return_check_s": 2,
  "enroll": false,
  "proxy": "http://127.0.0.1:$PROXY_PORT",
  "ca_file": "$WORK/data/ca.pem", "vnc_socket": "$VNC_SOCKET", "reconnect_min_ms": 200, "reconnect_max_ms": 1000}}]}
JSON
start device "$BIN/shadowlinkd" --config "$WORK/device.json"; DEVICE_PID=$LAST_PID
wait_log ums "device remote-1 online through gateway icg" 20
"${CLI[@]}" devices | tee "$WORK/devices.out"
grep -Eq '^remote-1 .* yes +no +icg ' "$WORK/devices.out" || fail "remote-1 not listed online at the gateway"
[ "$(health)" = '{"status":"ok"}' ] || fail "health: $(health)"
grep -q "cannot reach wss://localhost:$DEAD_PORT/up" "$WORK/device.log" || fail "the device did not try its first connector"
grep -q "connected to wss://localhost:$ICG_PORT/up" "$WORK/device.log" || fail "the device did not fall back to the gateway"
grep -q "CONNECT 127.0.0.1:$ICG_PORT" "$WORK/tinyproxy-connections.log" || fail "the UMS did not go through the proxy"
grep -q "CONNECT localhost:$ICG_PORT" "$WORK/tinyproxy-connections.log" || fail "the device did not go through the proxy"

step "console, internal viewer, through the ICG"
"${CLI[@]}" snapshot remote-1 "$WORK/snapshot.png"
check_checkerboard "$WORK/snapshot.png"
wait_log icg "session ended: viewer closed" 10

step "console, external viewer (gvnccapture), through the ICG"
start console "${CLI[@]}" shadow remote-1 --listen 127.0.0.1:0
VIEW_PORT=$(listen_port console 20)
timeout 30 gvnccapture "127.0.0.1:$((VIEW_PORT - 5900))" "$WORK/external.png" > "$WORK/gvnc.log" 2>&1 || fail "gvnccapture failed"
check_checkerboard "$WORK/external.png"
wait_log ums "AUDIT session ended: device=remote-1 user=automation via=console" 10

step "Web App through UMS and ICG (the UMS opens its own tunnel to the gateway)"
"$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" -u admin -p s3cret-pass snapshot --webapp remote-1 "$WORK/webapp.png"
check_checkerboard "$WORK/webapp.png"
wait_log ums "via=webapp" 10

step "a forged token and a reused token are refused at the gateway"
[ "$(upgrade_status "https://127.0.0.1:$ICG_PORT/tunnel/s-000000000000" forged)" = 403 ] || fail "forged token not refused"
SESSION=$(curl -s --max-time 30 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer 0123456789abcdef0123" \
  -H "Content-Type: application/json" -d '{"device":"remote-1"}' "https://127.0.0.1:$UMS_PORT/api/v1/sessions")
URL=$(echo "$SESSION" | sed -n 's/.*"tunnel_url":"wss:\/\/localhost:\([0-9]*\)\(\/tunnel\/[^"]*\)".*/https:\/\/127.0.0.1:\1\2/p')
TOKEN=$(echo "$SESSION" | sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
[ -n "$URL" ] && [ -n "$TOKEN" ] || fail "no session: $SESSION"
# Flip the last hex digit so the altered token certainly differs from the genuine one.
LAST=${TOKEN: -1}
if [ "$LAST" = 0 ]; then ALTERED="${TOKEN%?}1"; else ALTERED="${TOKEN%?}0"; fi
[ "$ALTERED" != "$TOKEN" ] || fail "test bug: the altered token equals the genuine one"
secret "$TOKEN" "$ALTERED"
[ "$(upgrade_status "$URL" "$ALTERED")" = 403 ] || fail "altered token not refused"
[ "$(upgrade_status "$URL" "$TOKEN")" = 101 ] || fail "the genuine token was refused"
[ "$(upgrade_status "$URL" "$TOKEN")" = 403 ] || fail "a used token was accepted again"
wait_log ums "AUDIT session ended: device=remote-1 user=automation" 10

step "a wrong UMS credential cannot take the UMS's place at the gateway"
WRONG_CRED="${CRED%?}X"
[ "$WRONG_CRED" != "$CRED" ] || fail "test bug: the wrong credential equals the genuine one"
secret "$WRONG_CRED"
[ "$(upgrade_status "https://127.0.0.1:$ICG_PORT/up/ums" "$WRONG_CRED")" = 403 ] || fail "a wrong UMS credential was not refused"
wait_log icg "UMS connection from 127.0.0.1:[0-9]* refused: wrong credential" 5
[ "$(health)" = '{"status":"ok"}' ] || fail "the real UMS's link suffered: $(health)"
# From that address, another wrong one within the wait gets 429 (neither logged nor counted
# again); the real UMS's link is untouched (a right one would still be let in).
[ "$(upgrade_status "https://127.0.0.1:$ICG_PORT/up/ums" "$WRONG_CRED")" = 429 ] || fail "a wrong UMS credential right after another got no 429"
[ "$(health)" = '{"status":"ok"}' ] || fail "the real UMS's link suffered: $(health)"
scrape "https://127.0.0.1:$ICG_PORT/metrics" "$WORK/icg-metrics.txt"
[ "$(metric "$WORK/icg-metrics.txt" 'shadowlink_auth_failures_total{what="ums_credential"}')" -ge 1 ] || fail "the wrong UMS credential was not counted: $(grep auth_failures "$WORK/icg-metrics.txt")"
[ "$(metric "$WORK/icg-metrics.txt" 'shadowlink_gateway{what="devices_verified"}')" = 1 ] || fail "gateway devices: $(grep shadowlink_gateway "$WORK/icg-metrics.txt")"
[ "$(metric "$WORK/icg-metrics.txt" 'shadowlink_gateway{what="ums_connected"}')" = 1 ] || fail "the UMS link is not counted"
[ "$(metric "$WORK/icg-metrics.txt" 'shadowlink_splices{state="since_start"}')" -ge 1 ] || fail "the gateway's splices are not counted"

step "a session the UMS gives up on (no viewer in time) is ended at the gateway too"
ENDED=$(grep -c "AUDIT session ended: device=remote-1 user=automation" "$WORK/ums.log")
SESSION=$(curl -s --max-time 30 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer 0123456789abcdef0123" \
  -H "Content-Type: application/json" -d '{"device":"remote-1"}' "https://127.0.0.1:$UMS_PORT/api/v1/sessions")
URL=$(echo "$SESSION" | sed -n 's/.*"tunnel_url":"wss:\/\/localhost:\([0-9]*\)\(\/tunnel\/[^"]*\)".*/https:\/\/127.0.0.1:\1\2/p')
LATE=$(echo "$SESSION" | sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p')
[ -n "$URL" ] && [ -n "$LATE" ] || fail "no session: $SESSION"
secret "$LATE"
wait_count ums "AUDIT session ended: device=remote-1 user=automation" $((ENDED + 1)) 20
grep -q 'outcome="timed out"' "$WORK/ums.log" || fail "the abandoned session did not time out at the UMS"
[ "$(upgrade_status "$URL" "$LATE")" = 403 ] || fail "a late viewer was let in at the gateway after the UMS gave up"

# (The device stays on its credential: the second UMS keeps certificate records of its own, and a
# device never falls back from a refused certificate to its credential.)
step "the preferred connector comes back: the device returns to it (here a second UMS on the first URL)"
cat > "$WORK/ums-b.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "name": "ums-b", "settings": {"port": $DEAD_PORT,
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}],
  "devices": [{"id": "remote-1", "name": "Home office", "credential_sha256": "$(sha256_of remote-1-credential)", "consent": "none"}]}}]}
JSON
release_port "$DEAD_HOLDER"
start ums_b "$BIN/shadowlinkd" --config "$WORK/ums-b.json"; UMS_B_PID=$LAST_PID
wait_log device "preferred connector wss://localhost:$DEAD_PORT/up is reachable again" 20
wait_log ums_b "device remote-1 online" 20
kill -TERM "$UMS_B_PID"; wait "$UMS_B_PID" || true
for _ in $(seq 300); do [ "$(grep -c "device remote-1 online through gateway icg" "$WORK/ums.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c "device remote-1 online through gateway icg" "$WORK/ums.log")" -ge 2 ] || fail "device did not fall back to the gateway again"

step "view only holds at the gateway: a scripted viewer's pointer, click, key and clipboard reach the device in full control only"
watch_device_input
scripted_input input-view-only "${CLI[@]}" shadow remote-1 --view-only
wait_log icg "view only: [0-9]* input messages dropped" 10
DROPPED=$(sed -n 's/.*view only: \([0-9]*\) input messages dropped.*/\1/p' "$WORK/icg.log" | tail -1)
[ "$DROPPED" -ge 6 ] || fail "the gateway dropped $DROPPED input messages, expected the 6 the viewer sent"
input_stayed_off "view only at the gateway"
scripted_input input-full "${CLI[@]}" shadow remote-1
input_arrived "full control (the positive control)"
echo "ok: the gateway dropped $DROPPED input messages in view only; full control moved the pointer, typed the key and set the clipboard"

step "ICG killed: UMS and device reconnect with backoff when it is back"
kill -KILL "$ICG_PID"
wait_log ums "connection to gateway wss://127.0.0.1:$ICG_PORT lost" 10
wait_log device "connection to wss://localhost:$ICG_PORT/up lost" 10
start icg2 "$BIN/shadowlinkd" --config "$WORK/icg.json"; ICG_PID=$LAST_PID
wait_log icg2 "UMS connected" 30
for _ in $(seq 300); do [ "$(grep -c "device remote-1 online through gateway icg" "$WORK/ums.log")" -ge 3 ] && break; sleep 0.1; done
"${CLI[@]}" snapshot remote-1 "$WORK/after-restart.png"
check_checkerboard "$WORK/after-restart.png"

step "ICG frozen (SIGSTOP): keep-alives detect it on both sides"
kill -STOP "$ICG_PID"
STOPPED=$(date +%s)
for _ in $(seq 300); do [ "$(grep -c "connection to gateway wss://127.0.0.1:$ICG_PORT lost" "$WORK/ums.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c "connection to gateway wss://127.0.0.1:$ICG_PORT lost" "$WORK/ums.log")" -ge 2 ] || fail "UMS did not notice the frozen gateway"
for _ in $(seq 300); do [ "$(grep -c "connection to wss://localhost:$ICG_PORT/up lost" "$WORK/device.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c "connection to wss://localhost:$ICG_PORT/up lost" "$WORK/device.log")" -ge 2 ] || fail "device did not notice the frozen gateway"
echo "frozen gateway detected after $(( $(date +%s) - STOPPED )) s"
kill -CONT "$ICG_PID"

step "UMS unreachable from the ICG: health warns, devices are dropped after the grace period"
wait_log icg2 "UMS connected" 30
kill -TERM "$UMS_PID"; wait "$UMS_PID" || true
for _ in $(seq 50); do [ "$(health)" = '{"status":"warn"}' ] && break; sleep 0.1; done
[ "$(health)" = '{"status":"warn"}' ] || fail "health without UMS: $(health)"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$ICG_PORT/health")
[ "$CODE" = 503 ] || fail "health without UMS answered HTTP $CODE, not 503 (a load balancer would keep sending devices)"
wait_log device "no UMS connected to the gateway" 15
echo "icg flows: all checks passed"
