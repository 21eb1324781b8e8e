#!/usr/bin/env bash
# Sessions recorded at the UMS: a device with "record": "on" is told so (its log, its user's
# prompt text), and its console and Web App sessions leave FBS files readable by the service user
# only, holding the device's screen (the RFB greeting and the screen's size) and the viewer's
# input (the scripted viewer's key and pointer events, which the screen file does not have); the
# audit trail names the recording; a device without the policy leaves none.
source "$(dirname "$0")/lib.sh"

step "start Xvnc, a UMS recording tc-1's sessions, and the device agent"
start_xvnc
# An operator, who may shadow tc-1 but not read the audit trail, nor the recordings.
add_operator() {
  sed -i 's/"users": \[{"user": "admin", "password_hash": "\([^"]*\)"}\]/"users": [{"user": "admin", "password_hash": "\1"}, {"user": "olga", "password_hash": "\1", "role": "operator", "allow": [{"devices": ["tc-1"]}]}]/' "$1"
  grep -q '"user": "olga"' "$1" || fail "test bug: no operator in the config"
}
start_ums_and_tc1 record add_operator
REC=$WORK/data/ums/recordings

step "a console session with a scripted viewer's input is recorded, and the device was told"
watch_device_input
scripted_input console "${CLI[@]}" shadow tc-1
input_arrived "recorded full control"
wait_log device "shadow request from automation (recorded)" 5
SESSION=$(sed -n 's/^session \(s-[0-9a-f]*\) is ready.*/\1/p' "$WORK/console.log")
[ -n "$SESSION" ] || fail "no session id in the console's output: $(cat "$WORK/console.log")"
wait_log ums "AUDIT session ended: device=tc-1" 10
for _ in $(seq 50); do grep -q '"state":"complete"' "$REC/$SESSION.json" 2> /dev/null && break; sleep 0.1; done
grep -q '"state":"complete"' "$REC/$SESSION.json" || fail "the recording is not complete: $(cat "$REC/$SESSION.json" 2>&1)"
[ "$(stat -c %a "$REC")" = 700 ] || fail "the recordings' directory is mode $(stat -c %a "$REC")"
for f in "$SESSION.fbs" "$SESSION.input.fbs" "$SESSION.json"; do
  [ "$(stat -c %a "$REC/$f")" = 600 ] || fail "$f is mode $(stat -c %a "$REC/$f"), not 600"
done

# fbs_has FILE HEX: the file's RFB stream (its FBS blocks' data, joined) contains the bytes HEX.
fbs_has() {
  python3 - "$1" "$2" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
assert data[:12] == b"FBS 001.000\n", "not an FBS 001.000 file"
stream, i = b"", 12
while i < len(data):
    n = int.from_bytes(data[i:i + 4], "big")
    stream += data[i + 4:i + 4 + n]
    i += 4 + (n + 3) // 4 * 4 + 4
sys.exit(0 if bytes.fromhex(sys.argv[2]) in stream and stream.startswith(b"RFB 003.00") else 1)
PY
}
# The screen: the server's greeting first, then ServerInit with the 320x240 screen.
fbs_has "$REC/$SESSION.fbs" "0140 00f0" || fail "the screen recording has no 320x240 ServerInit"
# The viewer's input: KeyEvent (4) down (1) for "a" (keysym 0x61); PointerEvent (5) at 40,50.
KEY="04 01 0000 00000061"
POINTER="05 00 0028 0032"
fbs_has "$REC/$SESSION.input.fbs" "$KEY" || fail "the input recording has no key event for a"
fbs_has "$REC/$SESSION.input.fbs" "$POINTER" || fail "the input recording has no pointer event at 40,50"
# Negative control: the screen's file has neither, and the input file has no key that was not typed.
if fbs_has "$REC/$SESSION.fbs" "$KEY"; then fail "negative control: the key event found in the screen recording"; fi
if fbs_has "$REC/$SESSION.input.fbs" "04 01 0000 00000062"; then fail "negative control: a key never typed found"; fi
echo "ok: $SESSION recorded ($(stat -c %s "$REC/$SESSION.fbs") + $(stat -c %s "$REC/$SESSION.input.fbs") bytes)"

step "the console session exports as PNG frames: the viewer kept the server's pixel format, and its 16x16 update shows"
"${CLI[@]}" recording export "$SESSION" "$WORK/console-frames" --frames | tee "$WORK/console-export.log"
grep -q "^exported recording $SESSION: 320x240" "$WORK/console-export.log" || fail "export said: $(cat "$WORK/console-export.log")"
check_checkerboard "$(ls "$WORK"/console-frames/frame-*.png | tail -1)"

step "the audit trail names the recording and its state"
audit_names_recording() {
  "${CLI[@]}" audit tc-1 --json > "$WORK/audit.jsonl"
  python3 - "$WORK/audit.jsonl" "$SESSION" <<'PY'
import json, sys
records = [json.loads(l) for l in open(sys.argv[1])]
ended = [r for r in records if r.get("session") == sys.argv[2] and r["event"] == "session_ended"]
started = [r for r in records if r.get("session") == sys.argv[2] and r["event"] == "session_started"]
assert ended and ended[0].get("recording") == sys.argv[2] and ended[0].get("recording_state") == "complete", ended
assert ended[0].get("recording_bytes", 0) > 100, ended
assert started and started[0].get("recording") == sys.argv[2], started
PY
}
# The end's record is written just after its log line: asked again for a moment.
for _ in $(seq 30); do audit_names_recording 2> /dev/null && break; sleep 0.1; done
audit_names_recording || fail "the audit trail does not name the recording: $(grep "$SESSION" "$WORK/audit.jsonl")"

step "REST: the recordings are listed and read piece by piece by admins and auditors, not by operators"
rest() { curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "$@"; }
rest "https://127.0.0.1:$UMS_PORT/api/v1/recordings" > "$WORK/list.json"
python3 - "$WORK/list.json" "$SESSION" "$(stat -c %s "$REC/$SESSION.fbs")" <<'PY' || fail "the recordings list: $(cat "$WORK/list.json")"
import json, sys
r = [x for x in json.load(open(sys.argv[1]))["recordings"] if x["session"] == sys.argv[2]]
assert r and r[0]["device"] == "tc-1" and r[0]["state"] == "complete" and r[0]["screen_bytes"] == int(sys.argv[3]), r
PY
rest -o "$WORK/screen.fbs" -D "$WORK/screen.headers" "https://127.0.0.1:$UMS_PORT/api/v1/recordings/$SESSION/screen?offset=0"
cmp "$WORK/screen.fbs" "$REC/$SESSION.fbs" || fail "the screen file read over REST differs from the recording"
grep -qi "^x-total-length: $(stat -c %s "$REC/$SESSION.fbs")" "$WORK/screen.headers" || fail "no X-Total-Length: $(cat "$WORK/screen.headers")"
rest -o "$WORK/tail.fbs" "https://127.0.0.1:$UMS_PORT/api/v1/recordings/$SESSION/input?offset=12"
cmp "$WORK/tail.fbs" <(tail -c +13 "$REC/$SESSION.input.fbs") || fail "the input file from offset 12 differs"
code() { rest -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "https://127.0.0.1:$UMS_PORT/api/v1/recordings/$SESSION/screen?offset=99999999")" = 416 ] || fail "an offset beyond the end was not refused"
[ "$(code "https://127.0.0.1:$UMS_PORT/api/v1/recordings/..%2f..%2fums.json/screen")" = 404 ] || fail "a path outside the recordings was not refused"
[ "$(code "https://127.0.0.1:$UMS_PORT/api/v1/recordings/s-0000deadbeef/screen")" = 404 ] || fail "an unknown recording was not refused"
[ "$(code "https://127.0.0.1:$UMS_PORT/api/v1/recordingsx")" = 404 ] || fail "a path that only begins like the recordings' was answered"
COOKIE=$(curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -c - -H 'Content-Type: application/json' -H "Origin: https://127.0.0.1:$UMS_PORT" \
  -d "{\"user\": \"olga\", \"password\": \"$ADMIN_PASSWORD\"}" "https://127.0.0.1:$UMS_PORT/api/v1/login" | awk '/sl_session/ {print $7}')
[ -n "$COOKIE" ] || fail "test bug: the operator could not log in"
OP_CODE=$(curl -s -o "$WORK/op.json" -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" -b "sl_session=$COOKIE" \
  -H "Origin: https://127.0.0.1:$UMS_PORT" "https://127.0.0.1:$UMS_PORT/api/v1/recordings")
[ "$OP_CODE" = 403 ] || fail "an operator read the recordings: $OP_CODE $(cat "$WORK/op.json")"
echo "ok: listed, read in full and from an offset, refusals for a bad offset, a bad id and an operator"
# The console lists them and fetches the files (0600, as on the server).
"${CLI[@]}" recordings | grep -q "^$SESSION .*tc-1 .*complete" || fail "shadowlink recordings: $("${CLI[@]}" recordings)"
mkdir "$WORK/fetched"
"${CLI[@]}" fetch-recording "$SESSION" "$WORK/fetched" > "$WORK/fetched.out" || fail "fetch-recording: $(cat "$WORK/fetched.out")"
for f in "$SESSION.fbs" "$SESSION.input.fbs"; do
  cmp "$WORK/fetched/$f" "$REC/$f" || fail "the fetched $f differs from the recording"
  [ "$(stat -c %a "$WORK/fetched/$f")" = 600 ] || fail "the fetched $f is mode $(stat -c %a "$WORK/fetched/$f")"
done
if "${CLI[@]}" fetch-recording s-0000deadbeef "$WORK/fetched" > "$WORK/unknown.out" 2>&1; then fail "fetching an unknown recording succeeded"; fi
grep -q "cannot fetch recording s-0000deadbeef: no such recording" "$WORK/unknown.out" || fail "unclear error: $(cat "$WORK/unknown.out")"
echo "ok: shadowlink recordings lists it, fetch-recording copies both files"
# A recording of several MiB (a viewer pulling full raw screens) comes over in several pieces.
start bulk-console "${CLI[@]}" shadow tc-1 --listen 127.0.0.1:0
BULK_PORT=$(listen_port bulk-console 20)
BULK=$(sed -n 's/^session \(s-[0-9a-f]*\) is ready.*/\1/p' "$WORK/bulk-console.log")
start bulk-viewer timeout 60 python3 "$(dirname "$0")/../tools/rfb_watch.py" 127.0.0.1 "$BULK_PORT" 0.02
for _ in $(seq 100); do [ "$(stat -c %s "$REC/$BULK.fbs" 2> /dev/null || echo 0)" -gt 3500000 ] && break; sleep 0.1; done
kill "$LAST_PID"
wait_count ums "AUDIT session ended: device=tc-1" 2 10
for _ in $(seq 50); do grep -q '"state":"complete"' "$REC/$BULK.json" 2> /dev/null && break; sleep 0.1; done
"${CLI[@]}" fetch-recording "$BULK" "$WORK/fetched" > /dev/null
[ "$(stat -c %s "$REC/$BULK.fbs")" -gt 3500000 ] || fail "test bug: the bulk recording has only $(stat -c %s "$REC/$BULK.fbs") bytes"
cmp "$WORK/fetched/$BULK.fbs" "$REC/$BULK.fbs" || fail "the fetched multi-piece recording differs"
echo "ok: a $(stat -c %s "$REC/$BULK.fbs")-byte recording fetched in pieces of 1 MiB"
# Export decodes all of it (dozens of full screens, more than a socket buffer holds) to the end.
"${CLI[@]}" recording export "$BULK" "$WORK/bulk-frames" --frames --fps 1 > "$WORK/bulk-export.log" 2>&1 || fail "bulk export: $(cat "$WORK/bulk-export.log")"
grep -q "warning" "$WORK/bulk-export.log" && fail "the bulk export stopped early: $(cat "$WORK/bulk-export.log")"
check_checkerboard "$(ls "$WORK"/bulk-frames/frame-*.png | tail -1)"
echo "ok: the bulk recording exported to its end: $(cat "$WORK/bulk-export.log")"

step "a Web App session is recorded too"
"$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" -u admin -p "$ADMIN_PASSWORD" snapshot --webapp tc-1 "$WORK/webapp.png"
check_checkerboard "$WORK/webapp.png"
wait_log ums "via=webapp" 10
WEB_SESSION=$(grep "AUDIT session ended: device=tc-1 user=admin via=webapp" "$WORK/ums.log" | sed -n 's/.*\[ums\/\(s-[0-9a-f]*\)\].*/\1/p' | tail -1)
[ -n "$WEB_SESSION" ] || fail "no Web App session in the UMS's log"
for _ in $(seq 50); do [ -s "$REC/$WEB_SESSION.fbs" ] && break; sleep 0.1; done
fbs_has "$REC/$WEB_SESSION.fbs" "0140 00f0" || fail "the Web App session's screen was not recorded"
for _ in $(seq 50); do grep -q '"state":"complete"' "$REC/$WEB_SESSION.json" 2> /dev/null && break; sleep 0.1; done
"${CLI[@]}" recording export "$WEB_SESSION" "$WORK/webapp-frames" --frames > /dev/null
check_checkerboard "$(ls "$WORK"/webapp-frames/frame-*.png | tail -1)"
echo "ok: the Web App session (libvncclient's pixel format and Tight) exports the screen it showed"

step "the device's user reads that the session is recorded (the indicator's text)"
kill "$DEVICE_PID"
wait_log ums "device tc-1 offline" 10
python3 - "$WORK/tc1.json" "$WORK/indicator.txt" "$VNC_DISPLAY" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
s = config["services"][0]["settings"]
# The indicator writes the words it shows to a file, and stays up as an indicator does.
s.update(consent="notify", display=sys.argv[3],
         notify_command=["sh", "-c", 'printf "%s\\n" "$1" > "$2"; exec sleep 60', "sh", "{message}", sys.argv[2]])
json.dump(config, open(sys.argv[1], "w"))
PY
start device-notify "$BIN/shadowlinkd" --config "$WORK/tc1.json"
wait_count ums "device tc-1 online" 2 15
"${CLI[@]}" snapshot tc-1 "$WORK/notified.png" > /dev/null
for _ in $(seq 30); do [ -s "$WORK/indicator.txt" ] && break; sleep 0.1; done
grep -q "^automation asks to see and control your screen. The session is recorded.$" "$WORK/indicator.txt" ||
  fail "the indicator said: $(cat "$WORK/indicator.txt" 2>&1)"
echo "ok: the indicator said: $(cat "$WORK/indicator.txt")"

step "a device without the policy leaves no recording"
BEFORE=$(ls "$REC" | wc -l)
write_device_config "$WORK/tc2.json" tc-2 tc-2-credential "$UMS_PORT" "$VNC_SOCKET"
start device2 "$BIN/shadowlinkd" --config "$WORK/tc2.json"
wait_log ums "device tc-2 online" 15
"${CLI[@]}" snapshot tc-2 "$WORK/tc2.png" > /dev/null
check_checkerboard "$WORK/tc2.png"
wait_log ums "AUDIT session ended: device=tc-2" 10
[ "$(ls "$REC" | wc -l)" = "$BEFORE" ] || fail "tc-2's session was recorded: $(ls "$REC")"
if grep -q "shadow request from automation (recorded)" "$WORK/device2.log"; then fail "tc-2 was told it is recorded"; fi
echo "recording: all checks passed"
