#!/usr/bin/env bash
# A console's session with a recorded device that the console would otherwise reach without the
# UMS — behind a gateway, or an OS 11 device's legacy port — is relayed by the UMS, which records
# it: the snapshot shows the device's screen, the UMS says it relays it, and the recording holds
# the screen's 320x240 ServerInit.
source "$(dirname "$0")/lib.sh"
CRED=gateway-credential-0123456789
start_xvnc
start_gateway "$CRED"
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0,
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "remote-1", "credential_sha256": "$(sha256_of remote-1-credential)", "consent": "none", "record": "on"},
              {"id": "tc-11", "credential_sha256": "$(sha256_of tc-11-credential)", "consent": "none", "record": "on"}],
  "gateways": [$(gateway_entry "$CRED")]}}]}
JSON
start_daemon ums "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
write_device_config "$WORK/remote.json" remote-1 remote-1-credential "wss://localhost:$ICG_PORT/up" "$VNC_SOCKET"
start remote "$BIN/shadowlinkd" --config "$WORK/remote.json"
cat > "$WORK/tc11.json" <<JSON
{"data_dir": "$WORK/tc11-data", "services": [{"type": "device", "name": "tc-11", "settings": {
  "device_id": "tc-11", "credential_file": "$(credential_file tc-11-credential)", "server": "wss://127.0.0.1:$UMS_PORT/up",
  "ca_file": "$WORK/data/ca.pem", "vnc_socket": "$VNC_SOCKET", "os": "11", "legacy_listen": "127.0.0.1", "legacy_port": 0}}]}
JSON
start tc11 "$BIN/shadowlinkd" --config "$WORK/tc11.json"
wait_log ums "device remote-1 online through gateway icg" 20
wait_log ums "device tc-11 online" 15
REC=$WORK/data/ums/recordings
# recorded DEVICE: the console's snapshot of DEVICE shows its screen and its session's recording
# holds the 320x240 ServerInit.
recorded() {
  "${CLI[@]}" snapshot "$1" "$WORK/$1.png" > "$WORK/$1.out" 2>&1 || fail "snapshot of $1: $(cat "$WORK/$1.out")"
  check_checkerboard "$WORK/$1.png"
  wait_log ums "AUDIT session ended: device=$1" 10
  local session
  session=$(grep "AUDIT session ended: device=$1" "$WORK/ums.log" | sed -n 's/.*\[ums\/\(s-[0-9a-f]*\)\].*/\1/p' | tail -1)
  grep -q "\[ums/$session\] console session.*relayed by the UMS to be recorded" "$WORK/ums.log" || fail "$1: the UMS did not relay the session"
  for _ in $(seq 50); do grep -q '"state":"complete"' "$REC/$session.json" 2> /dev/null && break; sleep 0.1; done
  python3 - "$REC/$session.fbs" <<'PY' || fail "$1: the recording has no 320x240 ServerInit"
import sys
data = open(sys.argv[1], "rb").read()
stream, i = b"", 12
while i < len(data):
    n = int.from_bytes(data[i:i + 4], "big")
    stream += data[i + 4:i + 4 + n]
    i += 4 + (n + 3) // 4 * 4 + 4
assert data[:12] == b"FBS 001.000\n" and stream.startswith(b"RFB 003.00") and bytes.fromhex("014000f0") in stream
PY
  echo "ok: $1's console session was relayed by the UMS and recorded ($session)"
}
step "behind the gateway: console -> UMS -> gateway <- device"
recorded remote-1
step "an OS 11 device: console -> UMS -> the device's legacy port"
recorded tc-11
echo "recording paths: all checks passed"
