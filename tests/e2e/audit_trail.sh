#!/usr/bin/env bash
# The audit trail as an administrator or auditor reads it: every session's request, the device's
# answer, its start and its end (with bytes and duration), sessions ended by an administrator,
# logins, failed logins and API token use; filters in the REST API and `shadowlink audit`; written
# whatever the log level, rotated by size without losing a record, and a session cut off by a
# killed UMS (SIGKILL) is ended "unknown, server restarted" when it comes back.
source "$(dirname "$0")/lib.sh"
TOKEN=0123456789abcdef0123
records() { "${CLI[@]}" audit "$@" --json --limit 100000; }  # one JSON object per line
# has PATTERN RECORDS-ARGS...: (captured first: with pipefail, `records | grep -q` fails when grep's
# early exit cuts the pipe)
has() { local pattern=$1; shift; local all; all=$(records "$@"); grep -q -- "$pattern" <<<"$all"; }
count() { local all; all=$(records "$@"); grep -c . <<<"$all" || true; }
# Records other than API token use (each audit request adds one of those itself).
count_events() { local all; all=$(records "$@"); grep -vc '"event":"api_token_used"' <<<"$all" || true; }
field_of() {  # field_of SESSION EVENT FIELD: the field of that session's record of that event
  records | python3 -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get('session') == '$1' and r.get('event') == '$2': print(r.get('$3', '')); break"
}

step "start Xvnc, the UMS (log level warn, audit files rotated at 4 KiB) and a device"
start_xvnc
cat > "$WORK/ums.json" <<JSON
{"log_level": "warn", "data_dir": "$WORK/data", "services": [{"type": "ums", "name": "ums", "settings": {"port": 0,
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}],
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "tc-1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"}, {"id": "tc-2", "credential_sha256": "$(sha256_of tc-2-credential)", "consent": "none"}],
  "audit_rotate_bytes": 4096, "heartbeat_s": 2}}]}
JSON
start_daemon ums "$WORK/ums.json"; UMS_PID=$LAST_PID
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$TOKEN")
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
for _ in $(seq 100); do "${CLI[@]}" devices 2>/dev/null | grep -Eq '^tc-1 .* yes' && break; sleep 0.2; done
grep -q "connected to wss://127.0.0.1:$UMS_PORT/up as tc-1 (heartbeat every 2 s, " "$WORK/device.log" \
  || fail "the device does not use the heartbeat the UMS asked for (heartbeat_s: 2; its own default is 5)"

step "sessions: request, the device's answer, start and end with bytes and duration"
for i in 1 2 3 4 5 6; do "${CLI[@]}" snapshot tc-1 "$WORK/snap-$i.png" > /dev/null; done
check_checkerboard "$WORK/snap-6.png"
SESSIONS=$(records tc-1 | python3 -c "
import json, sys
print(' '.join(sorted({json.loads(l)['session'] for l in sys.stdin if json.loads(l)['event'] == 'session_requested'})))")
[ "$(wc -w <<<"$SESSIONS")" = 6 ] || fail "expected 6 requested sessions for tc-1, found: $SESSIONS"
for s in $SESSIONS; do
  [ "$(field_of "$s" session_requested user)" = automation ] || fail "$s: request without its user"
  [ "$(field_of "$s" device_answer answer)" = accepted ] || fail "$s: no accepted answer recorded"
  [ -n "$(field_of "$s" session_started session)" ] || fail "$s: no start recorded"
  [ "$(field_of "$s" session_ended outcome)" = "viewer closed" ] || fail "$s: end: $(field_of "$s" session_ended outcome)"
  [ "$(field_of "$s" session_ended bytes_to_viewer)" -gt 200 ] || fail "$s: bytes to the viewer not recorded (a snapshot of the checkerboard is a few hundred bytes in Tight)"
  [ -n "$(field_of "$s" session_ended duration_s)" ] || fail "$s: no duration"
done
echo "ok: 6 sessions, each requested, accepted, started and ended with its bytes"
if "${CLI[@]}" snapshot tc-2 "$WORK/x.png" 2>/dev/null; then fail "offline tc-2 was shadowed"; fi
has '"event":"session_refused".*"user":"automation".*"reason":"device is offline"' tc-2 \
  || fail "the refused request for tc-2 was not recorded with its reason: $(records tc-2)"

step "logins, failed logins and API token use"
curl -s -o /dev/null --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' \
  -d '{"user":"admin","password":"s3cret-pass"}' "https://127.0.0.1:$UMS_PORT/api/v1/login"
curl -s -o /dev/null --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' \
  -d '{"user":"admin","password":"wrong-password"}' "https://127.0.0.1:$UMS_PORT/api/v1/login"
for _ in $(seq 30); do has login_failed --by admin && break; sleep 0.1; done
has '"event":"login"' --by admin || fail "login not recorded"
has '"event":"login_failed"' --by admin || fail "failed login not recorded"
has '"event":"api_token_used".*"request":"GET /api/v1/devices"' --by automation || fail "API token use not recorded"

step "filters: time range, and the table for people"
FUTURE=2999-01-01T00:00:00Z; PAST=2000-01-01T00:00:00Z
[ "$(count --since "$FUTURE")" = 0 ] || fail "records after $FUTURE"
[ "$(count --until "$PAST")" = 0 ] || fail "records before $PAST"
[ "$(count_events --since "$PAST" --until "$FUTURE")" = "$(count_events)" ] || fail "the full time range does not return everything"
MIDDLE=$(records | python3 -c "import json,sys; r=[json.loads(l) for l in sys.stdin]; print(r[len(r)//2]['time'])")
BEFORE=$(count_events --until "$MIDDLE"); AFTER=$(count_events --since "$MIDDLE")
[ "$BEFORE" -gt 0 ] && [ "$AFTER" -gt 0 ] && [ "$BEFORE" -lt "$(count_events)" ] || fail "--until/--since $MIDDLE: $BEFORE and $AFTER of $(count_events)"
"${CLI[@]}" audit tc-1 --limit 5 | tee "$WORK/table.out"
head -1 "$WORK/table.out" | grep -q "^TIME .*EVENT .*USER .*DEVICE .*SESSION .*DETAILS" || fail "no table header"
[ "$(wc -l < "$WORK/table.out")" = 6 ] || fail "--limit 5 did not give 5 rows"

step "an administrator ends a session through REST: recorded with who ended it"
start console "${CLI[@]}" shadow tc-1 --listen 127.0.0.1:0
VIEW_PORT=$(listen_port console 20)
exec 3<>"/dev/tcp/127.0.0.1/$VIEW_PORT"  # a viewer that holds the session open
LIVE=$("${CLI[@]}" sessions --json | python3 -c "import json,sys; print(json.load(sys.stdin)['sessions'][0]['id'])")
for _ in $(seq 50); do [ -n "$(field_of "$LIVE" session_started session)" ] && break; sleep 0.1; done
"${CLI[@]}" end "$LIVE"
for _ in $(seq 50); do [ -n "$(field_of "$LIVE" session_ended outcome)" ] && break; sleep 0.1; done
[ "$(field_of "$LIVE" session_end_requested by)" = automation ] || fail "who ended the session is not recorded"
[ "$(field_of "$LIVE" session_ended outcome)" = "ended by automation" ] || fail "end: $(field_of "$LIVE" session_ended outcome)"
exec 3<&-

step "the UMS killed (SIGKILL) mid-session: the session is ended 'unknown, server restarted' on the next start"
start console2 "${CLI[@]}" shadow tc-1 --listen 127.0.0.1:0
VIEW_PORT=$(listen_port console2 20)
exec 3<>"/dev/tcp/127.0.0.1/$VIEW_PORT"
CUT=$("${CLI[@]}" sessions --json | python3 -c "import json,sys; print(json.load(sys.stdin)['sessions'][0]['id'])")
for _ in $(seq 50); do [ -n "$(field_of "$CUT" session_started session)" ] && break; sleep 0.1; done
[ -n "$(field_of "$CUT" session_started session)" ] || fail "the session did not start"
kill -KILL "$UMS_PID"
wait "$UMS_PID" 2> /dev/null || true  # gone, listening socket and all: wait_port below must see the new one
exec 3<&-
keep_port "$WORK/ums.json" "$UMS_PORT"
start_daemon ums2 "$WORK/ums.json"; UMS_PID=$LAST_PID
daemon_port ums2 > /dev/null
[ "$(field_of "$CUT" session_ended outcome)" = "unknown, server restarted" ] || fail "the cut session's end: '$(field_of "$CUT" session_ended outcome)'"
[ "$(field_of "$CUT" session_ended user)" = automation ] || fail "the restart record lost the session's user"
echo "ok: $CUT ended 'unknown, server restarted'"

step "written whatever the log level, rotated by size, nothing lost"
if grep -q " INFO " "$WORK/ums.log"; then fail "log level warn printed INFO lines"; fi
FILES=$(ls "$WORK/data/ums"/audit*.jsonl | wc -l)
[ "$FILES" -ge 3 ] || fail "expected rotated audit files at 4 KiB, found $FILES"
N=$(count)  # (its own token-use record included)
sleep 0.5
LINES=$(cat "$WORK/data/ums"/audit*.jsonl | wc -l)
[ "$N" = "$LINES" ] || fail "the API returns $N records, the files hold $LINES"
for f in "$WORK/data/ums"/audit*.jsonl; do
  [ "$(stat -c %a "$f")" = 600 ] || fail "$f is readable by others"
done
echo "ok: $LINES records in $FILES files, all returned by the API"
echo "audit trail: all checks passed"
