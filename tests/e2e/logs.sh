#!/usr/bin/env bash
# Logs as machines read them: `log_format: "json"` gives one JSON object per line, a session's
# lines naming its device and user; under systemd (stderr is the journal's stream, as
# $JOURNAL_STREAM says) the events go to the journal with PRIORITY, SESSION_ID, DEVICE and USER.
# No journald runs here: in a private mount namespace a datagram socket at
# /run/systemd/journal/socket (tests/tools/journal_listener.py) stands in for the journal's.
source "$(dirname "$0")/lib.sh"
LISTENER="$(dirname "$0")/../tools/journal_listener.py"
[ "$(id -u)" = 0 ] || fail "this test needs root (a private mount namespace for the journal's socket)"
# $CLOSED_VNC_SOCKET: nobody listens, the device refuses each session after asking starts it.

# session_attempt PORT: a session through that UMS (it fails at the device's VNC server); its id.
session_attempt() {
  "$BIN/shadowlink" --server "https://127.0.0.1:$1" --ca "$WORK/data/ca.pem" --token "$API_TOKEN" \
    snapshot tc-1 "$WORK/never.png" > "$WORK/attempt.out" 2>&1 && fail "a session without a VNC server succeeded"
  grep -q "tc-1" "$WORK/attempt.out" || fail "the attempt said nothing about tc-1: $(cat "$WORK/attempt.out")"
}

step "json: every line is one object with time, level, scope and message; a session's lines name its device and user"
write_ums_config "$WORK/ums.json"
sed -i 's|^{"log_level": "info",|{"log_level": "info", "log_format": "json",|' "$WORK/ums.json"
grep -q '"log_format": "json"' "$WORK/ums.json" || fail "test bug: the json format was not set"
# A JOURNAL_STREAM that is not our stderr (negative control) must not divert the lines.
start ums env JOURNAL_STREAM=1:1 "$BIN/shadowlinkd" --config "$WORK/ums.json" --port-file "$WORK/ums.ports"
UMS_PORT=$(daemon_port ums)
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$CLOSED_VNC_SOCKET"
start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
wait_log ums "device tc-1 online" 15
session_attempt "$UMS_PORT"
wait_log ums "AUDIT session ended" 10
python3 - "$WORK/ums.log" <<'PY' || fail "json log: see above"
import json, re, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
objs = [json.loads(l) for l in lines]  # every line parses
for o in objs:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o
    assert o["level"] in ("debug", "info", "warn", "error") and o["scope"] and "message" in o, o
ours = [o for o in objs if "session" in o]
assert ours, "no line carries a session"
assert all(o["device"] == "tc-1" and o["user"] == "automation" and o["scope"].endswith(o["session"]) for o in ours), ours
assert any("AUDIT session ended" in o["message"] for o in ours), "the session's end is not among its lines"
print(f"ok: {len(objs)} JSON lines, {len(ours)} of them the session's")
PY

step "journal: with stderr as the journal's stream, events go to the journal with their fields"
sed -e 's|"log_format": "json", ||' "$WORK/ums.json" > "$WORK/journal.json"
: > "$WORK/journal.log"   # the daemon's stderr: its device and inode are the stream's
STREAM=$(stat -c '%d:%i' "$WORK/journal.log")
start journal unshare -m -- bash -c '
  mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal || exit 1
  timeout 120 python3 "$1" /run/systemd/journal/socket "$2" & echo $! > "$2.pid"
  for _ in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
  exec env JOURNAL_STREAM="$3" "$4" --config "$5" --port-file "$6"' sh "$LISTENER" "$WORK/records.jsonl" "$STREAM" \
  "$BIN/shadowlinkd" "$WORK/journal.json" "$WORK/journal.ports"
J_PORT=$(daemon_port journal)
sed -e "s|:$UMS_PORT/up|:$J_PORT/up|" -e "s|device-data|device2-data|" "$WORK/tc1.json" > "$WORK/tc1-j.json"
PIDS+=("$(cat "$WORK/records.jsonl.pid")")  # the stand-in journal, stopped with the rest
start device2 "$BIN/shadowlinkd" --config "$WORK/tc1-j.json"
touch "$WORK/records.jsonl"
wait_until() { for _ in $(seq $(($2 * 10))); do grep -q -- "$1" "$WORK/records.jsonl" && return 0; sleep 0.1; done; fail "'$1' not in the journal within $2 s"; }
wait_until "device tc-1 online" 15
# A failed login is logged as a warning: the journal must get it with warning priority.
curl -s -o /dev/null --max-time 10 --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' \
  -d '{"user": "admin", "password": "not-the-password"}' "https://127.0.0.1:$J_PORT/api/v1/login"
session_attempt "$J_PORT"
wait_until "AUDIT session ended" 10
python3 - "$WORK/records.jsonl" <<'PY' || fail "journal records: see above"
import json, sys
records = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert records, "the journal got nothing"
assert all(r["SYSLOG_IDENTIFIER"] == "shadowlinkd" and r["MESSAGE"].startswith("[") for r in records), records[:3]
assert any(r["PRIORITY"] == "6" and "listening on" in r["MESSAGE"] for r in records), "no info record"
assert any(r["PRIORITY"] == "4" and "failed login" in r["MESSAGE"] for r in records), "the failed login is not a warning record"
ours = [r for r in records if "SESSION_ID" in r]
assert ours and all(r["DEVICE"] == "tc-1" and r["USER"] == "automation" and r["SHADOWLINK_SCOPE"].endswith(r["SESSION_ID"]) for r in ours), ours
assert any("AUDIT session ended" in r["MESSAGE"] for r in ours), "the session's end is not in the journal"
print(f"ok: {len(records)} journal records, {len(ours)} with the session's fields")
PY
if grep -q "listening on" "$WORK/journal.log"; then fail "with the journal connected, lines still went to stderr"; fi
echo "logs: all checks passed"
