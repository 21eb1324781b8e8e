#!/usr/bin/env bash
# Roles and rights through the shipped binaries: an admin, an operator with full control of one
# device, an operator who may only view a device group (one of its devices denied) and an
# auditor — each allowed and each denied action through REST, the CLI and the Web App's socket,
# and a view-only operator's input checked on the device's real X server.
source "$(dirname "$0")/lib.sh"

step "start Xvnc, a UMS with four users and a device group, and the device agent"
start_xvnc
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0,
  "device_groups": [{"name": "lab", "devices": ["tc-1", "tc-2"]}],
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"},
            {"user": "olga", "password_hash": "$ADMIN_HASH", "role": "operator", "allow": [{"devices": ["tc-1"]}]},
            {"user": "victor", "password_hash": "$ADMIN_HASH", "role": "operator",
             "allow": [{"groups": ["lab"], "mode": "view_only"}], "deny": [{"devices": ["tc-2"]}]},
            {"user": "audrey", "password_hash": "$ADMIN_HASH", "role": "auditor"}],
  "devices": [{"id": "tc-1", "name": "Thin client 1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"},
              {"id": "tc-2", "name": "Thin client 2", "credential_sha256": "$(sha256_of tc-2-credential)", "consent": "none"},
              {"id": "tc-3", "name": "Thin client 3", "credential_sha256": "$(sha256_of tc-3-credential)", "consent": "none"}]}}]}
JSON
start_daemon ums "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem")
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
wait_log ums "device tc-1 online" 15
as() { local who=$1; shift; "${CLI[@]}" -u "$who" -p "$ADMIN_PASSWORD" "$@"; }
# refused WHO WORDS COMMAND...: the command fails and says WORDS.
refused() {
  local who=$1 words=$2; shift 2
  if as "$who" "$@" > "$WORK/out" 2> "$WORK/err"; then fail "$who: '$*' was allowed"; fi
  grep -q "$words" "$WORK/err" || fail "$who: '$*' failed without saying '$words': $(cat "$WORK/err")"
}

step "each user sees only the devices they may use, with what they may do there"
devices_of() { curl -s --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $(login_token "$1")" \
  "https://127.0.0.1:$UMS_PORT/api/v1/devices" | python3 -c '
import json, sys
print(" ".join(d["id"] + "=" + d["access"] for d in json.load(sys.stdin)["devices"]))'; }
login_token() {
  curl -s --cacert "$WORK/data/ca.pem" -H "Content-Type: application/json" \
    -d "{\"user\":\"$1\",\"password\":\"$ADMIN_PASSWORD\"}" "https://127.0.0.1:$UMS_PORT/api/v1/login" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
[ "$(devices_of admin)" = "tc-1=full_control tc-2=full_control tc-3=full_control" ] || fail "admin sees $(devices_of admin)"
[ "$(devices_of olga)" = "tc-1=full_control" ] || fail "olga sees $(devices_of olga)"
[ "$(devices_of victor)" = "tc-1=view_only" ] || fail "victor (lab view only, tc-2 denied) sees $(devices_of victor)"
[ "$(devices_of audrey)" = "tc-1=none tc-2=none tc-3=none" ] || fail "audrey sees $(devices_of audrey)"
as victor devices | grep -q "^tc-1 " || fail "the CLI does not list victor's device"
if as victor devices | grep -q "^tc-2 "; then fail "the CLI lists a denied device to victor"; fi
echo "ok: admin all, olga tc-1, victor tc-1 view only (tc-2 denied beats the group's allow), audrey none"

step "shadowing: allowed as granted, refused otherwise, through the CLI"
as olga snapshot tc-1 "$WORK/olga.png" && check_checkerboard "$WORK/olga.png"
refused olga "not allowed to shadow this device" snapshot tc-3 "$WORK/x.png"
refused olga "not allowed to shadow this device" snapshot tc-9 "$WORK/x.png"  # no hint that tc-9 does not exist
refused victor "only view-only sessions are allowed on this device" snapshot tc-1 "$WORK/x.png"
refused victor "not allowed to shadow this device" snapshot tc-2 "$WORK/x.png" --view-only
as victor snapshot tc-1 "$WORK/victor.png" --view-only && check_checkerboard "$WORK/victor.png"
refused audrey "not allowed to shadow this device" snapshot tc-1 "$WORK/x.png" --view-only
grep -q '"event":"session_refused".*"user":"victor".*only view-only' "$WORK"/data/*/audit.jsonl \
  || fail "victor's refused full-control request is not in the audit trail"

step "a view-only operator's input never reaches the device (xev and xdotool on its X server)"
watch_device_input
scripted_input victor-input "${CLI[@]}" -u victor -p "$ADMIN_PASSWORD" shadow tc-1 --view-only
sleep 0.5
input_stayed_off "victor (view only)"
scripted_input olga-input "${CLI[@]}" -u olga -p "$ADMIN_PASSWORD" shadow tc-1
input_arrived "olga (full control, the positive control)"
echo "ok: victor's pointer, key and clipboard stayed off the device; olga's arrived"

step "sessions: each sees what they may, ends what they may"
start olga-session "${CLI[@]}" -u olga -p "$ADMIN_PASSWORD" shadow tc-1 --listen 127.0.0.1:0
PORT=$(listen_port olga-session 20)
exec 3<>"/dev/tcp/127.0.0.1/$PORT"  # a viewer holds the session open
ID=$(sed -n 's/^session \(s-[0-9a-f]*\) is ready.*/\1/p' "$WORK/olga-session.log")
[ -n "$ID" ] || fail "no session id in olga's console"
as admin sessions | grep -q "$ID" || fail "admin does not see olga's session"
as audrey sessions | grep -q "$ID" || fail "the auditor does not see olga's session"
as victor sessions | grep -q "$ID" || fail "victor (view only on tc-1) does not see the session on tc-1"
refused victor "may end only their own sessions" end "$ID"
refused audrey "may end only their own sessions" end "$ID"
as olga end "$ID"
wait_log olga-session "ended: ended by olga" 10
exec 3<&-
echo "ok: admin, auditor and victor see olga's session; victor and the auditor may not end it; olga may"

step "audit trail: admin and auditor read it, operators may not"
as audrey audit --limit 5 > /dev/null || fail "the auditor cannot read the audit trail"
as admin audit --limit 5 > /dev/null || fail "the admin cannot read the audit trail"
refused olga "needs the admin or auditor role" audit

step "the Web App's socket: the same rights"
ws_status() {  # ws_status USER QUERY: HTTP status of a Web App shadow upgrade as USER
  curl -s -c "$WORK/jar-$1" --cacert "$WORK/data/ca.pem" -H "Content-Type: application/json" -H "Origin: https://127.0.0.1:$UMS_PORT" \
    -d "{\"user\":\"$1\",\"password\":\"$ADMIN_PASSWORD\"}" "https://127.0.0.1:$UMS_PORT/api/v1/login" > /dev/null
  curl -s -o /dev/null -w '%{http_code}' --http1.1 --max-time 3 --cacert "$WORK/data/ca.pem" -b "$WORK/jar-$1" \
    -H "Origin: https://127.0.0.1:$UMS_PORT" -H "Connection: Upgrade" -H "Upgrade: websocket" -H "Sec-WebSocket-Version: 13" \
    -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" "https://127.0.0.1:$UMS_PORT/webapp/shadow?$2" || true
}
[ "$(ws_status victor "device=tc-1")" = 403 ] || fail "victor opened a full-control Web App session"
[ "$(ws_status audrey "device=tc-1&view_only=1")" = 403 ] || fail "the auditor opened a Web App session"
[ "$(ws_status olga "device=tc-3")" = 403 ] || fail "olga opened a Web App session on a device not granted to her"
[ "$(ws_status victor "device=tc-1&view_only=1")" = 101 ] || fail "victor's view-only Web App session was refused (positive control)"
echo "ok: the Web App socket refuses what REST refuses (403) and accepts what is granted (101)"

step "rights that cannot mean anything are refused at start-up, naming the key"
sed 's/"groups": \["lab"\]/"groups": ["labs"]/' "$WORK/ums.json" > "$WORK/bad.json"
cmp -s "$WORK/ums.json" "$WORK/bad.json" && fail "test bug: the bad config equals the good one"
code=0; timeout 10 "$BIN/shadowlinkd" --config "$WORK/bad.json" 2> "$WORK/bad.err" || code=$?
[ "$code" = 2 ] || fail "a grant naming an unknown group: exit code $code, expected 2"
grep -q "allow\[0\].groups: no device group named 'labs'" "$WORK/bad.err" || fail "unclear error: $(cat "$WORK/bad.err")"
echo "roles: all checks passed"
