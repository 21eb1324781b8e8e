#!/usr/bin/env bash
# The six OS 11 flows end to end, every party a separate process, against a real Xvnc: direct
# (the console's internal and external viewer connect in to the device's legacy TLS port; the
# Web App through the UMS, which connects in itself) and over the ICG (an OS 11 device behind the
# gateway, same three viewers). Then the legacy port's defences: a man in the middle with another
# certificate receives nothing, wrong, replayed and expired passwords are refused with no VNC
# byte, failures slow the next attempts, clients without a password get nothing, and a device's
# new certificate is trusted once it has reported it.
source "$(dirname "$0")/lib.sh"
CRED=gateway-credential-0123456789
secret "$CRED"

step "start Xvnc, the gateway, the UMS, an OS 11 device at the UMS and one behind the gateway"
start_xvnc
start_gateway "$CRED"
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0, "setup_timeout_s": 4, "heartbeat_s": 1,
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}],
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "tc-11", "name": "Legacy 1", "credential_sha256": "$(sha256_of tc-11-credential)", "consent": "none"},
              {"id": "tc-mitm", "name": "Redirected", "credential_sha256": "$(sha256_of tc-mitm-credential)", "consent": "none"},
              {"id": "remote-11", "name": "Legacy at home", "credential_sha256": "$(sha256_of remote-11-credential)", "consent": "none"}],
  "gateways": [$(gateway_entry "$CRED")]}}]}
JSON
start_daemon ums "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
# legacy_device NAME ID SERVER [ADVERTISE]: an OS 11 device agent's config (its legacy port: any
# free one, reported in NAME.ports; ADVERTISE overrides the address it tells). Its user is
# asked first (a 1 s stand-in for the dialog that always agrees): the console must wait for that
# before it may connect in.
legacy_device() {
  cat > "$WORK/$1.json" <<JSON
{"data_dir": "$WORK/$1-data", "services": [{"type": "device", "name": "$2", "settings": {
  "device_id": "$2", "credential_file": "$(credential_file "$2-credential")", "server": "$3", "ca_file": "$WORK/data/ca.pem",
  "vnc_socket": "$VNC_SOCKET", "os": "11", "legacy_listen": "127.0.0.1", "legacy_port": 0 ${4:+, \"advertise\": \"$4\"},
  "consent": "ask", "consent_command": ["sleep", "1"], "display": "$VNC_DISPLAY"}}]}
JSON
}
legacy_device tc11 tc-11 "wss://127.0.0.1:$UMS_PORT/up"
start_daemon tc11 "$WORK/tc11.json"; TC11_PID=$LAST_PID
LEGACY_PORT=$(daemon_port tc11)
legacy_device remote11 remote-11 "wss://localhost:$ICG_PORT/up"
start remote11 "$BIN/shadowlinkd" --config "$WORK/remote11.json"
wait_log ums "device tc-11 online" 15
wait_log ums "device remote-11 online through gateway icg" 20
"${CLI[@]}" devices | tee "$WORK/devices.out"
grep -Eq "^tc-11 .* yes .* OS 11$" "$WORK/devices.out" || fail "tc-11 is not listed as an online OS 11 device"
grep -Eq "^remote-11 .* yes +no +icg .* OS 11$" "$WORK/devices.out" || fail "remote-11 is not listed as an OS 11 device at the gateway"

step "OS 11 direct, internal viewer: the console connects in to the device's TLS port"
"${CLI[@]}" snapshot tc-11 "$WORK/direct-internal.png"
check_checkerboard "$WORK/direct-internal.png"
wait_log tc11 "presented the session password on the legacy port" 5
grep -q '"event":"session_started".*"tc-11"' "$WORK"/data/*/audit.jsonl || fail "the session's start is not in the audit trail"

step "OS 11 direct, external viewer: gvnccapture through the console's proxy to the device"
start console-ext "${CLI[@]}" shadow tc-11 --listen 127.0.0.1:0
port=$(listen_port console-ext 20)
timeout 20 gvnccapture "127.0.0.1:$((port - 5900))" "$WORK/direct-external.png" > /dev/null 2>&1 || true
check_checkerboard "$WORK/direct-external.png"
wait_log console-ext "ended" 10

step "OS 11 direct, Web App: the UMS connects in to the device and carries VNC to the browser's socket"
"$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" -u admin -p "$ADMIN_PASSWORD" \
  snapshot tc-11 "$WORK/direct-webapp.png" --webapp
check_checkerboard "$WORK/direct-webapp.png"
wait_log ums "web app session (OS 11) by admin for device tc-11" 5

step "OS 11 over the ICG: internal viewer, external viewer and Web App use the gateway's tunnels"
"${CLI[@]}" snapshot remote-11 "$WORK/icg-internal.png"
check_checkerboard "$WORK/icg-internal.png"
start console-icg "${CLI[@]}" shadow remote-11 --listen 127.0.0.1:0
port=$(listen_port console-icg 20)
timeout 20 gvnccapture "127.0.0.1:$((port - 5900))" "$WORK/icg-external.png" > /dev/null 2>&1 || true
check_checkerboard "$WORK/icg-external.png"
"$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" -u admin -p "$ADMIN_PASSWORD" \
  snapshot remote-11 "$WORK/icg-webapp.png" --webapp
check_checkerboard "$WORK/icg-webapp.png"
[ "$(grep -c "session.*remote-11.*via gateway icg\|remote-11 via gateway icg" "$WORK/ums.log")" -ge 3 ] || fail "the OS 11 device's sessions did not go through the gateway"

step "a man in the middle with another certificate receives nothing, from the console or the UMS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/impostor.key" -out "$WORK/impostor.pem" \
  -subj /CN=127.0.0.1 -days 1 2> /dev/null
# What the impostor receives goes to impostor.out (its own messages to impostor.log).
: > "$WORK/impostor.out"
start impostor python3 "$(dirname "$0")/../tools/tls_recorder.py" 0 "$WORK/impostor.pem" "$WORK/impostor.key" "$WORK/impostor.out"
IMPOSTOR_PORT=$(listen_port impostor)
# tc-mitm's traffic is redirected to the impostor: its advertised address is the impostor's.
legacy_device mitm tc-mitm "wss://127.0.0.1:$UMS_PORT/up" "127.0.0.1:$IMPOSTOR_PORT"
start mitm "$BIN/shadowlinkd" --config "$WORK/mitm.json"
wait_log ums "device tc-mitm online" 15
if "${CLI[@]}" snapshot tc-mitm "$WORK/x.png" 2> "$WORK/mitm-console.err"; then fail "the console shadowed through the impostor"; fi
grep -qi "pin" "$WORK/mitm-console.err" || fail "the console did not say the certificate is not the device's: $(cat "$WORK/mitm-console.err")"
# The console ended the session it could not open: the device is free again at once.
for _ in $(seq 50); do "${CLI[@]}" devices | grep -Eq "^tc-mitm .* yes +no " && break; sleep 0.1; done
"${CLI[@]}" devices | grep -Eq "^tc-mitm .* yes +no " || fail "the failed session still holds tc-mitm"
if "$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" -u admin -p "$ADMIN_PASSWORD" \
  snapshot tc-mitm "$WORK/x.png" --webapp 2> "$WORK/mitm-webapp.err"; then fail "the UMS shadowed through the impostor"; fi
sleep 0.5
[ "$(grep -c "^connection from" "$WORK/impostor.log")" -ge 2 ] || {
  cat "$WORK/impostor.log" "$WORK/mitm-console.err" "$WORK/mitm-webapp.err" >&2
  fail "console and UMS did not both reach the impostor: the refusals above prove nothing"; }
IMPOSTOR_BYTES=$(wc -c < "$WORK/impostor.out")
[ "$IMPOSTOR_BYTES" = 0 ] || fail "the impostor received $IMPOSTOR_BYTES bytes: $(cat "$WORK/impostor.out")"
# Positive control: the impostor does record what a client sends it.
printf 'positive-control\n' | timeout 3 openssl s_client -connect "127.0.0.1:$IMPOSTOR_PORT" -quiet > /dev/null 2>&1 || true
sleep 0.3
grep -q positive-control "$WORK/impostor.out" || fail "test bug: the impostor does not record what it receives"
echo "ok: console and UMS refused the impostor's certificate; it received no byte of the session"

# raw_password ID PASSWORD: a TLS client (not ours) sends the line; prints what the device answers.
raw_password() {
  printf '%s %s\n' "$1" "$2" | timeout 3 openssl s_client -connect "127.0.0.1:$LEGACY_PORT" -quiet 2> /dev/null || true
}
# armed_session: a session for tc-11 whose password the device now holds; sets ID and PASSWORD.
armed_session() {
  local answer state
  answer=$(curl -s --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" -H "Content-Type: application/json" \
    -d '{"device":"tc-11","wait":false}' "https://127.0.0.1:$UMS_PORT/api/v1/sessions")
  ID=$(sed -n 's/.*"session_id":"\([^"]*\)".*/\1/p' <<<"$answer")
  [ -n "$ID" ] || fail "no session: $answer"
  for _ in $(seq 50); do
    state=$(curl -s --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "https://127.0.0.1:$UMS_PORT/api/v1/sessions/$ID")
    PASSWORD=$(sed -n 's/.*"password":"\([0-9a-f]*\)".*/\1/p' <<<"$state")
    [ -n "$PASSWORD" ] && break
    sleep 0.1
  done
  [ ${#PASSWORD} -eq 64 ] || fail "no session password for $ID: $state"
  PIN=$(sed -n 's/.*"device_pin":"\([0-9a-f]*\)".*/\1/p' <<<"$state")
  secret "$PASSWORD"
}

step "the legacy port serves nothing without a password: raw TCP, TLS without a line"
got=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$LEGACY_PORT; cat <&3" 2> /dev/null | wc -c || true)
[ "$got" = 0 ] || fail "a raw TCP client got $got bytes from the legacy port"
got=$(timeout 3 openssl s_client -connect "127.0.0.1:$LEGACY_PORT" -quiet < /dev/null 2> /dev/null | wc -c || true)
[ "$got" = 0 ] || fail "a TLS client without a password got $got bytes"
echo "ok: nothing for raw TCP or TLS without a password"

step "wrong, replayed and expired passwords are refused, logged, and no VNC byte leaves the device"
armed_session
WRONG=$(printf '%s' "$PASSWORD" | tr '0-9a-f' '1-9a-f0')
[ "$WRONG" != "$PASSWORD" ] || fail "test bug: the wrong password equals the genuine one"
[ -z "$(raw_password "$ID" "$WRONG")" ] || fail "a wrong password got an answer"
wait_log tc11 "refused 127.0.0.1: wrong session password" 5
right=$(raw_password "$ID" "$PASSWORD")
grep -q "^OK" <<<"$right" && grep -q "RFB 003" <<<"$right" || fail "the genuine password was refused (positive control): '$right'"
[ -z "$(raw_password "$ID" "$PASSWORD")" ] || fail "a replayed password got an answer"
wait_log tc11 "refused 127.0.0.1: no session waiting for this password" 10
armed_session
sleep 5  # setup_timeout_s is 4: the password expires
[ -z "$(raw_password "$ID" "$PASSWORD")" ] || fail "an expired password got an answer"
wait_log tc11 "refused 127.0.0.1: the session password expired" 15
wait_log ums "no viewer brought the session password in time" 25
echo "ok: wrong, replayed and expired passwords refused without a VNC byte; the genuine one answered OK and RFB"

step "failed attempts slow down the next ones (growing delay, logged)"
for i in 1 2 3; do raw_password "s-000000000000" "guess-$i" > /dev/null; done
wait_log tc11 "next answer after [48]000 ms" 15
FIRST=$(sed -n 's/.*next answer after \([0-9]*\) ms.*/\1/p' "$WORK/tc11.log" | head -1)
[ "$FIRST" -le 1000 ] || fail "the first failure was already penalised $FIRST ms"
START=$(date +%s%N)
raw_password "s-000000000000" "guess-4" > /dev/null
[ $(( ($(date +%s%N) - START) / 1000000 )) -ge 2900 ] || fail "the next answer was not delayed"
echo "ok: after repeated failures the next answer waits (delays $(sed -n 's/.*next answer after \([0-9]*\) ms.*/\1/p' "$WORK/tc11.log" | tr '\n' ' ')ms)"

step "a device killed during an OS 11 console session: the UMS ends the session when the device stops reporting it"
armed_session; OLD_PIN=$PIN
"${CLI[@]}" end "$ID"
start console-kill "${CLI[@]}" shadow tc-11 --listen 127.0.0.1:0
port=$(listen_port console-kill 20)
exec 3<>"/dev/tcp/127.0.0.1/$port"  # a viewer holds the session open
wait_count tc11 "presented the session password on the legacy port" 4 10
kill -KILL "$TC11_PID"; wait "$TC11_PID" 2> /dev/null || true
wait_log ums 'outcome="the device stopped reporting the session"' 15
exec 3<&-
echo "ok: the session of a killed device ended after its heartbeats stopped naming it"

step "a device's new certificate is trusted once the device has reported it"
rm -rf "$WORK/tc11-data/tc-11/legacy"
start tc11b "$BIN/shadowlinkd" --config "$WORK/tc11.json"
wait_log tc11b "OS 11 legacy shadowing port" 10
for _ in $(seq 50); do [ "$(grep -c "device tc-11 online" "$WORK/ums.log")" -ge 2 ] && break; sleep 0.1; done
armed_session; NEW_PIN=$PIN
"${CLI[@]}" end "$ID"
[ "$NEW_PIN" != "$OLD_PIN" ] || fail "the device's certificate did not change"
"${CLI[@]}" snapshot tc-11 "$WORK/new-cert.png"
check_checkerboard "$WORK/new-cert.png"
echo "ok: the regenerated certificate (${NEW_PIN:0:12}…, was ${OLD_PIN:0:12}…) is used after the device reported it"
echo "os11 flows: all checks passed"
