#!/usr/bin/env bash
# Misbehaving peers as processes of their own (tests/tools/up_peer) against the shipped binaries,
# each case asserting that the real devices stay connected and shadowable (SECURITY.md, "What each
# boundary checks"): an enrolled device answering for another device's running session (at the UMS
# and behind the gateway: yes, tunnel there, ended, session ended — all ignored, the session's
# screen keeps flowing); a UP message over 16 KiB (the link that sent it is closed, nobody else's);
# a tunnel message over 1 MiB (that session ends with the reason, the device is shadowed again).
source "$(dirname "$0")/lib.sh"
CRED=icg-ums-credential-0123456789

session_field() {  # session_field SESSION FIELD: one field of the REST view of a session
  curl -s --max-time 5 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "https://127.0.0.1:$UMS_PORT/api/v1/sessions/$1" |
    python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', ''))"
}
online() {  # online DEVICE: True or False, as the UMS sees it
  curl -s --max-time 5 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "https://127.0.0.1:$UMS_PORT/api/v1/devices" |
    python3 -c "import json,sys; print(next(d['online'] for d in json.load(sys.stdin)['devices'] if d['id'] == '$1'))"
}
updates() { grep -o 'rfb_watch: [0-9]* updates' "$WORK/$1.log" | tail -1 | grep -o '[0-9]*'; }
flows_on() {  # flows_on VIEWER: new full screens still reach the viewer
  local n0; n0=$(updates "$1")
  for _ in $(seq 100); do [ "$(updates "$1")" -gt "$n0" ] && return 0; sleep 0.1; done
  fail "$1: the screen stopped flowing (stuck at $n0 updates)"
}
UP_PEER=("$TOOLS/up_peer")

step "Xvnc, the gateway, the UMS; real agents tc-1 (direct) and remote-1 (behind the gateway); tc-2 and remote-2 are enrolled devices that misbehave"
start_xvnc
start_gateway "$CRED"
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "name": "ums", "settings": {"port": 0,
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "tc-1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"},
              {"id": "tc-2", "credential_sha256": "$(sha256_of tc-2-credential)", "consent": "none"},
              {"id": "remote-1", "credential_sha256": "$(sha256_of remote-1-credential)", "consent": "none"},
              {"id": "remote-2", "credential_sha256": "$(sha256_of remote-2-credential)", "consent": "none"}],
  "gateways": [$(gateway_entry "$CRED")]}}]}
JSON
start_daemon ums "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
start tc1 "$BIN/shadowlinkd" --config "$WORK/tc1.json"
write_device_config "$WORK/remote1.json" remote-1 remote-1-credential "wss://localhost:$ICG_PORT/up" "$VNC_SOCKET"
start remote1 "$BIN/shadowlinkd" --config "$WORK/remote1.json"
for d in tc-1 remote-1; do
  for _ in $(seq 150); do [ "$(online $d 2> /dev/null)" = True ] && break; sleep 0.1; done
  [ "$(online $d)" = True ] || fail "$d is not online"
done

# forged_answers_ignored VIEWER DEVICE INTRUDER URL: INTRUDER, an enrolled device at URL, answers
# for DEVICE's running session $SESSION (watched by VIEWER); nothing of it counts.
forged_answers_ignored() {
  "${UP_PEER[@]}" device --url "$4" --ca "$WORK/data/ca.pem" --id "$3" --credential-file "$(credential_file "$3-credential")" \
    --forge-for "$SESSION" --hold-s 1 > "$WORK/intruder-$3.log" 2>&1 || fail "$3 did not get in: $(cat "$WORK/intruder-$3.log")"
  grep -q '^forged$' "$WORK/intruder-$3.log" || fail "$3 sent nothing: $(cat "$WORK/intruder-$3.log")"
  [ "$(session_field "$SESSION" state)" = active ] || fail "$2's session is $(session_field "$SESSION" state) after $3's forged end"
  flows_on "$1-viewer"
  [ "$(online "$2")" = True ] || fail "$2 went offline"
}

step "tc-2 answers for tc-1's running session at the UMS (yes, tunnel there, ended, session ended): nothing of it counts"
watch_session w1 tc-1
[ -n "$SESSION" ] || fail "no session id in w1.log"
forged_answers_ignored w1 tc-1 tc-2 "wss://127.0.0.1:$UMS_PORT/up"

step "remote-2 does the same for remote-1's running session behind the gateway: nothing of it counts"
SESSION1=$SESSION
watch_session w2 remote-1
[ -n "$SESSION" ] && [ "$SESSION" != "$SESSION1" ] || fail "no session id of its own in w2.log"
forged_answers_ignored w2 remote-1 remote-2 "wss://localhost:$ICG_PORT/up"

step "a UP message over 16 KiB closes the link that sent it, at the UMS and at the gateway; nobody else's"
for at in "ums wss://127.0.0.1:$UMS_PORT/up tc-2" "icg wss://localhost:$ICG_PORT/up remote-2"; do
  read -r where url id <<<"$at"
  "${UP_PEER[@]}" device --url "$url" --ca "$WORK/data/ca.pem" --id "$id" --credential-file "$(credential_file "$id-credential")" \
    --oversized 20000 > "$WORK/oversized-$where.log" 2>&1 || fail "$where kept the link of an oversized message: $(cat "$WORK/oversized-$where.log")"
  grep -q '^closed: ' "$WORK/oversized-$where.log" || fail "$where: $(cat "$WORK/oversized-$where.log")"
  wait_log "$where" "WARN .*device $id link closed: a message over the 16384-byte limit" 5
done
flows_on w1-viewer
flows_on w2-viewer
[ "$(online tc-1)" = True ] && [ "$(online remote-1)" = True ] || fail "a real device went offline"

step "a tunnel message over 1 MiB ends that session with the reason; the device is shadowed again at once"
"${CLI[@]}" end "$SESSION1" > /dev/null || fail "cannot end tc-1's session"
wait_log w1-viewer "rfb_watch: closed after" 10
for _ in $(seq 50); do [ "$(session_field "$SESSION1" state)" = ended ] && break; sleep 0.1; done
open_session tc-1 "$WORK/big.json"
BIG=$(python3 -c "import json; print(json.load(open('$WORK/big.json'))['session_id'])")
for _ in $(seq 100); do [ "$(session_field "$BIG" state)" = "waiting for the viewer" ] && break; sleep 0.1; done
read -r URL TICKET < <(python3 -c "import json; s = json.load(open('$WORK/big.json')); print(s['tunnel_url'], s['token'])")
"${UP_PEER[@]}" tunnel --url "$URL" --ca "$WORK/data/ca.pem" --token "$TICKET" --message-bytes $((2 * 1024 * 1024)) > "$WORK/big-tunnel.log" 2>&1 ||
  fail "the UMS kept the tunnel of a 2 MiB message: $(cat "$WORK/big-tunnel.log")"
for _ in $(seq 100); do [ "$(session_field "$BIG" state)" = ended ] && break; sleep 0.1; done
REASON=$(session_field "$BIG" end_reason)
[[ $REASON == "viewer failed: "*"exceeded the locally configured limit"* ]] || fail "end reason: '$REASON'"
"${CLI[@]}" snapshot tc-1 "$WORK/tc1-after.png" || fail "tc-1 cannot be shadowed after the oversized tunnel message"
check_checkerboard "$WORK/tc1-after.png"
flows_on w2-viewer

step "the real devices stayed connected throughout: one link each"
for d in tc1 remote1; do
  [ "$(grep -c "connected to" "$WORK/$d.log")" = 1 ] || fail "$d reconnected: $(grep "connected to" "$WORK/$d.log")"
done
echo "adversaries: all checks passed"
