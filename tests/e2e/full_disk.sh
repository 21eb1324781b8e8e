#!/usr/bin/env bash
# A full disk under the audit trail: no session goes ahead unrecorded. The UMS's own data directory
# (where the audit trail lives) is a 512 KiB tmpfs in a private mount namespace, filled up on cue:
# a session asked for then is refused with the reason, /health answers 503 so a load balancer
# sends consoles elsewhere, nothing already recorded is lost, and once there is room again the next
# session is recorded and /health is back to 200.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "this test needs root (a private mount namespace for a small file system)"
write_ums_config "$WORK/ums.json"
mkdir -p "$WORK/data/ums"
# Inside the namespace: the tmpfs, and a helper that fills it when $WORK/fill exists and empties it
# when $WORK/empty exists (the tmpfs is invisible from outside).
start ums unshare -m -- bash -c '
  mount -t tmpfs -o size=512k tmpfs "$1/data/ums" || exit 1
  ( for _ in $(seq 1200); do
      [ -e "$1/fill" ] && [ ! -e "$1/filled" ] && { dd if=/dev/zero of="$1/data/ums/filler" bs=4k 2>/dev/null; touch "$1/filled"; }
      [ -e "$1/empty" ] && [ ! -e "$1/emptied" ] && { rm -f "$1/data/ums/filler"; touch "$1/emptied"; }
      sleep 0.1
    done ) &
  exec "$2" --config "$3" --port-file "$1/ums.ports"' sh "$WORK" "$BIN/shadowlinkd" "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$CLOSED_VNC_SOCKET"
start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
wait_log ums "device tc-1 online" 15
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
health() { curl -s -w ' %{http_code}' --max-time 5 --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$UMS_PORT/health"; }
requested() { "${CLI[@]}" audit tc-1 --json | grep -c '"event":"session_requested"' || true; }

step "with room: a session's request is recorded (positive control), health 200"
"${CLI[@]}" snapshot tc-1 "$WORK/x.png" > "$WORK/first.out" 2>&1 && fail "test bug: tc-1 has no VNC server, the session cannot succeed"
[ "$(requested)" = 1 ] || fail "the first request was not recorded: $("${CLI[@]}" audit tc-1 --json)"
[ "$(grep -c "shadow request from" "$WORK/device.log")" = 1 ] || fail "test bug: the device was not asked once"
[ "$(health)" = '{"status":"ok"} 200' ] || fail "health with room: $(health)"

step "the disk fills: the next session is refused with the reason, health says 503"
touch "$WORK/fill"
for _ in $(seq 100); do [ -e "$WORK/filled" ] && break; sleep 0.1; done
[ -e "$WORK/filled" ] || fail "the tmpfs was not filled"
# Records go on into the audit file's last, partly used page; the first one that needs a new page
# finds no room. From then on, nothing goes ahead.
REFUSED_AT=0
for i in $(seq 40); do
  if "${CLI[@]}" snapshot tc-1 "$WORK/x.png" > "$WORK/full.out" 2>&1; then fail "test bug: tc-1 has no VNC server"; fi
  grep -q "audit trail cannot be written" "$WORK/full.out" && { REFUSED_AT=$i; break; }
done
[ "$REFUSED_AT" -gt 0 ] || fail "40 sessions were recorded on a full disk: $(cat "$WORK/full.out")"
# The device was asked for the first session and for each one recorded before the refusal, not for it.
[ "$(grep -c "shadow request from" "$WORK/device.log")" = "$REFUSED_AT" ] || fail "the device was asked although the request could not be recorded"
[ "$(health)" = '{"status":"audit trail cannot be written"} 503' ] || fail "health on a full disk: $(health)"
if "${CLI[@]}" snapshot tc-1 "$WORK/x.png" > "$WORK/full2.out" 2>&1; then fail "test bug"; fi
grep -q "audit trail cannot be written" "$WORK/full2.out" || fail "a second session on the full disk: $(cat "$WORK/full2.out")"
echo "ok: refused at attempt $REFUSED_AT, health 503"

step "room again: nothing recorded before is lost, the next session is recorded, health 200"
touch "$WORK/empty"
for _ in $(seq 100); do [ -e "$WORK/emptied" ] && break; sleep 0.1; done
[ -e "$WORK/emptied" ] || fail "the tmpfs was not emptied"
"${CLI[@]}" snapshot tc-1 "$WORK/x.png" > "$WORK/again.out" 2>&1 && fail "test bug: tc-1 has no VNC server"
grep -q "audit trail cannot be written" "$WORK/again.out" && fail "still refused with room: $(cat "$WORK/again.out")"
# Every request recorded before the disk filled is still there, and the new one.
[ "$(requested)" = $((REFUSED_AT + 1)) ] || fail "expected $((REFUSED_AT + 1)) recorded requests: $("${CLI[@]}" audit tc-1 --json)"
[ "$(grep -c "shadow request from" "$WORK/device.log")" = $((REFUSED_AT + 1)) ] || fail "the device was not asked once there was room"
[ "$(health)" = '{"status":"ok"} 200' ] || fail "health once there is room: $(health)"
echo "full disk: all checks passed"
