#!/usr/bin/env bash
# OS12 direct flows end to end, every party a separate process: Xvnc -> device agent -> UMS ->
# console (external viewer gvnccapture, internal snapshot) and the Web App endpoint.
source "$(dirname "$0")/lib.sh"

step "start Xvnc, the UMS and the device agent as separate processes"
start_xvnc
write_ums_config "$WORK/ums.json"
start_daemon ums "$WORK/ums.json"
UMS_PID=$LAST_PID
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem")
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
wait_log ums "device tc-1 online" 15

step "the console lists devices and their online state"
"${CLI[@]}" -u admin -p s3cret-pass devices | tee "$WORK/devices.out"
grep -Eq '^tc-1 +Thin client 1 +yes' "$WORK/devices.out" || fail "tc-1 not listed online"
grep -Eq '^tc-2 +Thin client 2 +no' "$WORK/devices.out" || fail "tc-2 not listed offline"

step "wrong credentials and unknown devices get clear errors"
if "${CLI[@]}" -u admin -p wrong devices 2> "$WORK/err.out"; then fail "wrong password accepted"; fi
grep -q "wrong user or password" "$WORK/err.out" || fail "unclear login error: $(cat "$WORK/err.out")"
# Guessing costs time: right after a failure even the right password is not heard (429 with
# Retry-After); after the wait it is.
HEADERS=$(curl -s -D - -o "$WORK/throttled.out" --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' \
  -d "{\"user\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "https://127.0.0.1:$UMS_PORT/api/v1/login")
grep -q "^HTTP/1.1 429" <<<"$HEADERS" || fail "a login right after a failure was heard: $HEADERS $(cat "$WORK/throttled.out")"
WAIT=$(sed -n 's/^Retry-After: \([0-9]*\).*/\1/ip' <<<"$HEADERS")
[ -n "$WAIT" ] && [ "$WAIT" -ge 1 ] && grep -q "try again in $WAIT s" "$WORK/throttled.out" || fail "no Retry-After: $HEADERS"
sleep "$WAIT"
"${CLI[@]}" -u admin -p "$ADMIN_PASSWORD" devices > /dev/null || fail "the right password after the wait ($WAIT s) was refused"
grep -q "failed login for 'admin' from 127.0.0.1:[0-9]* (1 unforgiven for this user from there; the next attempt is heard after 1000 ms)" "$WORK/ums.log" \
  || fail "the failed login's penalty is not logged"
if "${CLI[@]}" --token 0123456789abcdef0123 snapshot tc-9 "$WORK/x.png" 2> "$WORK/err.out"; then fail "unknown device"; fi
grep -q "unknown device" "$WORK/err.out" || fail "unclear error: $(cat "$WORK/err.out")"
if "${CLI[@]}" --token 0123456789abcdef0123 snapshot tc-2 "$WORK/x.png" 2> "$WORK/err.out"; then fail "offline device"; fi
grep -q "device is offline" "$WORK/err.out" || fail "unclear error: $(cat "$WORK/err.out")"

step "external viewer: gvnccapture through the console's local proxy"
start console "${CLI[@]}" -u admin -p s3cret-pass shadow tc-1 --listen 127.0.0.1:0
CONSOLE_PID=$LAST_PID
VIEW_PORT=$(listen_port console 20)

step "a device already being shadowed refuses a second session"
if "${CLI[@]}" --token 0123456789abcdef0123 snapshot tc-1 "$WORK/x.png" 2> "$WORK/err.out"; then fail "second session"; fi
grep -q "already being shadowed" "$WORK/err.out" || fail "unclear error: $(cat "$WORK/err.out")"

step "SIGHUP (what systemctl reload sends) while the session is up: the UMS reloads, the session goes on"
LIVE_STATE=$("${CLI[@]}" --token 0123456789abcdef0123 sessions --json | python3 -c "import json,sys; print(json.load(sys.stdin)['sessions'][0]['state'])")
kill -HUP "$UMS_PID"
wait_log ums "SIGHUP: reloaded" 10
[ "$("${CLI[@]}" --token 0123456789abcdef0123 sessions --json | python3 -c "import json,sys; print(json.load(sys.stdin)['sessions'][0]['state'])")" = "$LIVE_STATE" ] \
  || fail "the session changed state across the reload (was: $LIVE_STATE)"
if grep -q "AUDIT session ended" "$WORK/ums.log"; then fail "the reload ended the session"; fi

timeout 30 gvnccapture "127.0.0.1:$((VIEW_PORT - 5900))" "$WORK/external.png" > "$WORK/gvnc.log" 2>&1 || fail "gvnccapture failed"
check_checkerboard "$WORK/external.png"
wait_log console "ended: viewer closed" 10
wait_log ums "AUDIT session ended: device=tc-1 user=admin via=console" 10

step "--viewer launches the external viewer with the proxy's address"
cat > "$WORK/viewer.sh" <<VIEWER
#!/usr/bin/env bash
# Receives 127.0.0.1::PORT like vncviewer would; gvnccapture wants HOST:DISPLAY.
port=\${1##*::}
exec timeout 30 gvnccapture "127.0.0.1:\$((port - 5900))" "$WORK/launched.png"
VIEWER
chmod +x "$WORK/viewer.sh"
timeout 60 "${CLI[@]}" --token 0123456789abcdef0123 shadow tc-1 --listen 127.0.0.1:0 --viewer "$WORK/viewer.sh" > "$WORK/launch.log" 2>&1 || fail "shadow --viewer failed: $(cat "$WORK/launch.log")"
check_checkerboard "$WORK/launched.png"

step "internal viewer: shadowlink snapshot"
"${CLI[@]}" --token 0123456789abcdef0123 snapshot tc-1 "$WORK/snapshot.png"
check_checkerboard "$WORK/snapshot.png"

step "view-only session: the screen still comes through the input filter on the device"
"${CLI[@]}" --token 0123456789abcdef0123 snapshot tc-1 "$WORK/view-only.png" --view-only
check_checkerboard "$WORK/view-only.png"
grep -q "shadow request from automation (view only)" "$WORK/device.log" || fail "device did not see the view-only flag"

step "tunnel tokens are bound to their session and die with it"
upgrade_status() {  # upgrade_status URL TOKEN: the HTTP status of a tunnel upgrade attempt
  curl -s -o /dev/null -w '%{http_code}' --http1.1 --max-time 3 --cacert "$WORK/data/ca.pem" \
    -H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" \
    -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" -H "Authorization: Bearer $2" "$1" || true
}
new_session() {  # new_session: sets URL, TOKEN and ID of a new session for tc-1 (waiting for its viewer)
  local answer
  answer=$(curl -s --max-time 30 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" \
    -H "Content-Type: application/json" -d '{"device":"tc-1"}' "https://127.0.0.1:$UMS_PORT/api/v1/sessions")
  ID=$(sed -n 's/.*"session_id":"\([^"]*\)".*/\1/p' <<<"$answer")
  TOKEN=$(sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p' <<<"$answer")
  URL="https://127.0.0.1:$UMS_PORT/tunnel/$ID"
  [ -n "$ID" ] && [ -n "$TOKEN" ] || fail "no session: $answer"
  secret "$TOKEN"
}
new_session; A_ID=$ID; A_URL=$URL; A_TOKEN=$TOKEN
OTHER_URL="https://127.0.0.1:$UMS_PORT/tunnel/s-000000000000"
[ "$OTHER_URL" != "$A_URL" ] || fail "test bug: the other session's URL is session A's"
[ "$(upgrade_status "$OTHER_URL" "$A_TOKEN")" = 403 ] || fail "session A's token opened another session's tunnel"
ENDED=$(grep -c "AUDIT session ended: device=tc-1" "$WORK/ums.log")
"${CLI[@]}" --token "$API_TOKEN" end "$A_ID"
wait_count ums "AUDIT session ended: device=tc-1" $((ENDED + 1)) 10
[ "$(upgrade_status "$A_URL" "$A_TOKEN")" = 403 ] || fail "an ended session's token was accepted"
new_session
[ "$TOKEN" != "$A_TOKEN" ] || fail "test bug: two sessions got the same token"
[ "$(upgrade_status "$URL" "$A_TOKEN")" = 403 ] || fail "another session's token was accepted"
[ "$(upgrade_status "$URL" "$TOKEN")" = 101 ] || fail "the session's own token was refused (positive control)"
[ "$(upgrade_status "$URL" "$TOKEN")" = 403 ] || fail "a used token was accepted again"
echo "ok: tokens are refused for another session (403), after their session ended (403) and when used twice (403)"

step "session state: created at once, each step readable, the viewer's ticket only for its owner, the end reason kept"
rest() {  # rest METHOD PATH BEARER [BODY]: prints the answer's body, then its HTTP status on its own line
  curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -X "$1" -H "Authorization: Bearer $3" \
    -H "Content-Type: application/json" ${4:+-d "$4"} -w '\n%{http_code}' "https://127.0.0.1:$UMS_PORT$2"
}
field() {  # field NAME: NAME of the JSON object on stdin (which may end with rest's status line)
  python3 -c '
import json, sys
text = sys.stdin.read().strip()
body = text.rsplit("\n", 1)[0] if "\n" in text else text
print(json.loads(body).get(sys.argv[1], ""))' "$1"
}
answer=$(rest POST /api/v1/sessions "$API_TOKEN" '{"device":"tc-1","wait":false}')
[ "${answer##*$'\n'}" = 202 ] || fail "a session without waiting was not answered 202: $answer"
ID=$(field session_id <<<"$answer")
[ -n "$ID" ] || fail "no session id: $answer"
for _ in $(seq 100); do
  state=$(rest GET "/api/v1/sessions/$ID" "$API_TOKEN")
  [ "$(field state <<<"$state")" = "waiting for the viewer" ] && break
  sleep 0.1
done
[ "$(field state <<<"$state")" = "waiting for the viewer" ] || fail "the session did not reach step 4: $state"
TOKEN=$(field token <<<"$state")
[ ${#TOKEN} -eq 64 ] || fail "the owner did not get the viewer's ticket: $state"
secret "$TOKEN"
[ "$(field deadline_s <<<"$state")" -gt 0 ] || fail "no deadline for the viewer's step: $state"
ADMIN_TOKEN=$(curl -s --cacert "$WORK/data/ca.pem" -H "Content-Type: application/json" \
  -d "{\"user\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "https://127.0.0.1:$UMS_PORT/api/v1/login" | field token)
secret "$ADMIN_TOKEN"
other=$(rest GET "/api/v1/sessions/$ID" "$ADMIN_TOKEN")
[ "$(field state <<<"$other")" = "waiting for the viewer" ] || fail "another administrator cannot read the state: $other"
[ -z "$(field token <<<"$other")" ] || fail "another administrator got the viewer's ticket"
[ "$(rest DELETE "/api/v1/sessions/$ID" "$API_TOKEN" | tail -1)" = 204 ] || fail "cannot end the session"
for _ in $(seq 50); do
  state=$(rest GET "/api/v1/sessions/$ID" "$API_TOKEN")
  [ "$(field state <<<"$state")" = ended ] && break
  sleep 0.1
done
[ "$(field end_reason <<<"$state")" = "ended by automation" ] || fail "the end reason is not kept: $state"
[ "$(rest GET /api/v1/sessions/s-000000000000 "$API_TOKEN" | tail -1)" = 404 ] || fail "an unknown session was found"
echo "ok: session state followed from creation to its end"

step "Web App endpoint refuses upgrades without the login cookie or from another origin"
ws_status() {  # ws_status ORIGIN [COOKIE_JAR]: HTTP status of a Web App shadow upgrade
  curl -s -o /dev/null -w '%{http_code}' --http1.1 --max-time 3 --cacert "$WORK/data/ca.pem" \
    -H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" \
    -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" -H "Origin: $1" ${2:+-b "$2"} \
    "https://127.0.0.1:$UMS_PORT/webapp/shadow?device=tc-1" || true
}
curl -s --cacert "$WORK/data/ca.pem" -c "$WORK/cookies" -H "Content-Type: application/json" \
  -d '{"user":"admin","password":"s3cret-pass"}' "https://127.0.0.1:$UMS_PORT/api/v1/login" > /dev/null
grep -q sl_session "$WORK/cookies" || fail "login set no cookie"
grep -qi "#HttpOnly_127.0.0.1" "$WORK/cookies" || fail "the login cookie is not HttpOnly"
[ "$(ws_status "https://127.0.0.1:$UMS_PORT")" = 401 ] || fail "upgrade without cookie was not refused with 401"
[ "$(ws_status "https://evil.example" "$WORK/cookies")" = 403 ] || fail "upgrade from another origin was not refused with 403"
page=$(curl -s -D "$WORK/page.headers" --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$UMS_PORT/")
grep -q 'src="/app.js"' <<<"$page" || fail "the Web App page is not served"
script=$(curl -s --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$UMS_PORT/app.js")
grep -q "/novnc/core/rfb.js" <<<"$script" || fail "the Web App script is not served"
csp=$(grep -i '^content-security-policy:' "$WORK/page.headers" || true)
grep -q "script-src 'self'" <<<"$csp" || fail "no strict script-src: $csp"
if grep -q "unsafe-inline" <<<"$csp"; then fail "the policy allows inline code: $csp"; fi
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$WORK/page.headers" | tr -d '\r')
[ -n "$etag" ] || fail "the page has no ETag"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$UMS_PORT/")" = 304 ] ||
  fail "revalidation with the page's ETag did not answer 304"
[ "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$UMS_PORT/../CMakeLists.txt")" = 404 ] ||
  fail "a path outside the Web App's folder was served"

step "Web App endpoint: login cookie and Origin, no token in the URL"
"${CLI[@]}" -u admin -p s3cret-pass snapshot --webapp tc-1 "$WORK/webapp.png"
check_checkerboard "$WORK/webapp.png"
wait_log ums "via=webapp" 10

step "metrics: promtool accepts them, the counters moved with the sessions above, and they need their token"
scrape "https://127.0.0.1:$UMS_PORT/metrics" "$WORK/metrics.txt"
[ "$(metric "$WORK/metrics.txt" 'shadowlink_devices_online{connector="ums"}')" = 1 ] || fail "devices online: $(grep devices_online "$WORK/metrics.txt")"
COMPLETED=$(metric "$WORK/metrics.txt" 'shadowlink_sessions_total{outcome="completed",path="direct",via="console"}')
[ "$COMPLETED" -ge 1 ] || fail "completed console sessions: $COMPLETED ($(grep sessions_total "$WORK/metrics.txt"))"
[ "$(metric "$WORK/metrics.txt" 'shadowlink_sessions_total{outcome="completed",path="direct",via="webapp"}')" -ge 1 ] || fail "no Web App session counted"
[ "$(metric "$WORK/metrics.txt" 'shadowlink_session_setup_seconds_count')" -ge "$COMPLETED" ] || fail "set-up times not observed"
# The sessions above moved a few kilobytes: RFB greetings and a checkerboard that the viewers'
# encodings (Tight, RRE) compress to a few hundred bytes each.
[ "$(metric "$WORK/metrics.txt" 'shadowlink_relayed_bytes_total{direction="to_viewer"}' | cut -d. -f1)" -gt 500 ] || fail "relayed bytes: $(grep relayed "$WORK/metrics.txt")"
[ "$(metric "$WORK/metrics.txt" 'shadowlink_auth_failures_total{what="password"}')" -ge 1 ] || fail "the wrong password was not counted"
[ "$(metric "$WORK/metrics.txt" 'shadowlink_process{what="open_descriptors"}')" -gt 5 ] || fail "open descriptors not read"
BEFORE=$(metric "$WORK/metrics.txt" 'shadowlink_sessions_total{outcome="completed",path="direct",via="console"}')
"${CLI[@]}" --token 0123456789abcdef0123 snapshot tc-1 "$WORK/counted.png"
scrape "https://127.0.0.1:$UMS_PORT/metrics" "$WORK/metrics2.txt"
[ "$(metric "$WORK/metrics2.txt" 'shadowlink_sessions_total{outcome="completed",path="direct",via="console"}')" = $((BEFORE + 1)) ] \
  || fail "one more session did not count one more"
WRONG_METRICS="${METRICS_TOKEN}x"
[ "$WRONG_METRICS" != "$METRICS_TOKEN" ] || fail "test bug: the wrong metrics token equals the genuine one"
for header in "" "Authorization: Bearer $WRONG_METRICS" "Authorization: Bearer $API_TOKEN"; do
  CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$WORK/data/ca.pem" ${header:+-H "$header"} "https://127.0.0.1:$UMS_PORT/metrics")
  [ "$CODE" = 401 ] || fail "/metrics answered $CODE to '${header:0:30}': the metrics token is required"
done
HEALTH=$(curl -s -w ' %{http_code}' --max-time 5 --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$UMS_PORT/health")
[ "$HEALTH" = '{"status":"ok"} 200' ] || fail "health: $HEALTH"

step "the device agent reconnects after the UMS restarts"
kill -TERM "$UMS_PID"
wait "$UMS_PID" || fail "UMS did not exit cleanly on SIGTERM"
wait_log device "reconnecting in" 10
keep_port "$WORK/ums.json" "$UMS_PORT"
start ums2 "$BIN/shadowlinkd" --config "$WORK/ums.json"
wait_log ums2 "device tc-1 online" 20
"${CLI[@]}" --token 0123456789abcdef0123 snapshot tc-1 "$WORK/after-restart.png"
check_checkerboard "$WORK/after-restart.png"

step "nothing is left running"
for pid in "${PIDS[@]}"; do
  [ "$pid" = "$UMS_PID" ] && continue
  [ "$pid" = "$CONSOLE_PID" ] && { kill -0 "$pid" 2>/dev/null && fail "console still running after its session"; continue; }
done
echo "direct flows: all checks passed"
