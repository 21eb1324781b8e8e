#!/usr/bin/env bash
# Device certificates with the shipped binaries (SECURITY.md, "Device identity"): a device enrolls
# over the link its credential opened — directly at the UMS and through the gateway — comes back
# after a restart with its certificate alone (no credential in its config, none on the wire), is
# shadowed, a certificate from another CA fails the TLS handshake, and a revoked certificate loses
# its link at the gateway at once and opens nothing; the device never falls back to its credential
# on a server's word, and enrolls again once its certificate and key are moved away.
source "$(dirname "$0")/lib.sh"
CRED=icg-ums-credential-0123456789

# device_config FILE NAME SERVER_URL [CREDENTIAL]: a device agent (data in $WORK/device-data/NAME).
device_config() {
  cat > "$1" <<JSON
{"log_level": "info", "data_dir": "$WORK/device-data", "services": [{"type": "device", "name": "$2", "settings": {
  "device_id": "$2", ${4:+\"credential_file\": \"$(credential_file "$4")\", }"server": "$3",
  "ca_file": "$WORK/data/ca.pem", "vnc_socket": "$VNC_SOCKET", "reconnect_min_ms": 200, "reconnect_max_ms": 1000}}]}
JSON
}
device_json() {  # device_json ID: the UMS's entry for the device, as JSON
  curl -s --max-time 5 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "https://127.0.0.1:$UMS_PORT/api/v1/devices" |
    python3 -c "import json,sys; print(json.dumps(next(d for d in json.load(sys.stdin)['devices'] if d['id'] == '$1')))"
}
field() { python3 -c "import json,sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$1" "$2"; }
wait_field() {  # wait_field ID EXPR VALUE SECONDS: until EXPR of the device's entry is VALUE
  local got=
  for _ in $(seq $(($4 * 10))); do
    got=$(field "$(device_json "$1")" "$2" 2> /dev/null || true)
    [ "$got" = "$3" ] && return 0
    sleep 0.1
  done
  fail "$1: $2 is '$got', expected '$3' within $4 s"
}
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }

step "Xvnc, the gateway, the UMS and two devices: tc-1 at the UMS, remote-1 behind the gateway, each with its credential"
start_xvnc
start_gateway "$CRED"
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "name": "ums", "settings": {"port": 0,
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "tc-1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"},
              {"id": "remote-1", "credential_sha256": "$(sha256_of remote-1-credential)", "consent": "none"}],
  "gateways": [$(gateway_entry "$CRED")]}}]}
JSON
start_daemon ums "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
device_config "$WORK/tc1.json" tc-1 "wss://127.0.0.1:$UMS_PORT/up" tc-1-credential
device_config "$WORK/remote1.json" remote-1 "wss://localhost:$ICG_PORT/up" remote-1-credential
start tc1 "$BIN/shadowlinkd" --config "$WORK/tc1.json"; TC1_PID=$LAST_PID
start remote1 "$BIN/shadowlinkd" --config "$WORK/remote1.json"; REMOTE1_PID=$LAST_PID

step "both enroll over their first link: a key of their own (0600) and a certificate naming them, recorded at the UMS"
wait_log ums "device tc-1 enrolled (direct)" 20
wait_log ums "device remote-1 enrolled (gateway icg)" 20
for d in tc-1 remote-1; do
  dir=$WORK/device-data/$d
  for _ in $(seq 50); do [ -s "$dir/device.pem" ] && break; sleep 0.1; done
  [ "$(stat -c %a "$dir/device.key")" = 600 ] || fail "$d: device.key is mode $(stat -c %a "$dir/device.key")"
  openssl x509 -in "$dir/device.pem" -noout -subject | grep -q "CN = $d" || fail "$d: $(openssl x509 -in "$dir/device.pem" -noout -subject)"
  openssl verify -CAfile "$WORK/data/ca.pem" "$dir/device.pem" > /dev/null || fail "$d: the certificate is not the installation CA's"
  wait_field "$d" "d['certificate']['fingerprint']" "$(fingerprint "$dir/device.pem")" 5
done
# The records are in the registry (readable by the service user only), not in a file of their own.
[ "$(stat -c %a "$WORK/data/ums/registry.sqlite3")" = 600 ] || fail "the UMS's registry is readable by others"
[ ! -e "$WORK/data/ums/device-certificates.json" ] || fail "certificate records were written to device-certificates.json"
RECORDS=$(python3 -c 'import sqlite3, sys; print(" ".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT device FROM device_certificates WHERE fingerprint != \x27\x27 ORDER BY device")))' "$WORK/data/ums/registry.sqlite3")
[ "$RECORDS" = "remote-1 tc-1" ] || fail "the registry's certificate records are for: '$RECORDS'"

step "restarted without a credential, both come back with their certificates alone and are shadowed"
for d in tc1 remote1; do
  pid_var=${d^^}_PID
  kill "${!pid_var}"; wait "${!pid_var}" 2> /dev/null || true
done
device_config "$WORK/tc1.json" tc-1 "wss://127.0.0.1:$UMS_PORT/up"
device_config "$WORK/remote1.json" remote-1 "wss://localhost:$ICG_PORT/up"
if grep -q credential_file "$WORK/tc1.json" "$WORK/remote1.json"; then fail "test bug: a credential is still configured"; fi
start tc1-again "$BIN/shadowlinkd" --config "$WORK/tc1.json"
start remote1-again "$BIN/shadowlinkd" --config "$WORK/remote1.json"; REMOTE1_PID=$LAST_PID
wait_field tc-1 "d.get('authenticated_by')" certificate 20
wait_field remote-1 "d.get('authenticated_by')" certificate 20
wait_field remote-1 "d.get('connector')" icg 5
"${CLI[@]}" snapshot tc-1 "$WORK/tc1.png" || fail "no snapshot of tc-1"
check_checkerboard "$WORK/tc1.png"
"${CLI[@]}" snapshot remote-1 "$WORK/remote1.png" || fail "no snapshot of remote-1 through the gateway"
check_checkerboard "$WORK/remote1.png"

step "a certificate for remote-1 from another CA fails the TLS handshake at the gateway"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=rogue CA" \
  -keyout "$WORK/rogue-ca.key" -out "$WORK/rogue-ca.pem" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=remote-1" -keyout "$WORK/rogue.key" -out "$WORK/rogue.csr" 2> /dev/null
openssl x509 -req -in "$WORK/rogue.csr" -CA "$WORK/rogue-ca.pem" -CAkey "$WORK/rogue-ca.key" -CAcreateserial -days 30 \
  -out "$WORK/rogue.pem" 2> /dev/null
[ "$(fingerprint "$WORK/rogue.pem")" != "$(fingerprint "$WORK/device-data/remote-1/device.pem")" ] || fail "test bug: the rogue certificate"
for cert in rogue device-data/remote-1/device; do
  key=$WORK/${cert%.pem}.key; [ "$cert" = rogue ] || key=$WORK/device-data/remote-1/device.key
  # TLS 1.3: the server judges a client's certificate after the client's handshake; an HTTP
  # request shows whether the connection survived that judgement.
  printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
    timeout 10 openssl s_client -quiet -connect "127.0.0.1:$ICG_PORT" -CAfile "$WORK/data/ca.pem" -cert "$WORK/$cert.pem" -key "$key" \
    > "$WORK/$(basename "$cert").out" 2>&1 || true
done
if grep -q "HTTP/1.1 200" "$WORK/rogue.out"; then fail "the gateway served a client whose certificate another CA signed"; fi
grep -q "HTTP/1.1 200" "$WORK/device.out" || fail "positive control: the genuine certificate is not served: $(cat "$WORK/device.out")"
wait_log icg "TLS handshake with 127.0.0.1:[0-9]* failed" 5

step "revoking remote-1's certificate closes its link at the gateway at once; without a credential it stays out"
OLD_FP=$(fingerprint "$WORK/device-data/remote-1/device.pem")
"${CLI[@]}" revoke-certificate remote-1 > "$WORK/revoke.out" 2>&1 || fail "revocation refused: $(cat "$WORK/revoke.out")"
grep -q "revoked certificate $OLD_FP of remote-1" "$WORK/revoke.out" || fail "revocation answer: $(cat "$WORK/revoke.out")"
wait_log icg "device remote-1: device certificate revoked" 5
wait_field remote-1 "d['online']" False 5
wait_log remote1-again "refused the device certificate (device certificate not accepted.*the device keeps presenting it and does not fall back" 10
sleep 2  # several reconnect attempts (200-1000 ms apart), each refused
[ "$(field "$(device_json remote-1)" "d['online']")" = False ] || fail "remote-1 came back with its revoked certificate"
# (Such records are written in batches: within a second.)
for _ in $(seq 50); do
  AUDIT=$("${CLI[@]}" audit remote-1 --json)
  grep -q '"event":"certificate_revoked"' <<<"$AUDIT" && break
  sleep 0.1
done
grep -q '"event":"certificate_revoked"' <<<"$AUDIT" || fail "the revocation is not in the audit trail: $AUDIT"

step "given its credential again, it still does not send it on the server's word (a gateway could claim the refusal to learn it)"
OLD_KEY=$(openssl pkey -in "$WORK/device-data/remote-1/device.key" -pubout)
kill "$REMOTE1_PID"; wait "$REMOTE1_PID" 2> /dev/null || true
device_config "$WORK/remote1.json" remote-1 "wss://localhost:$ICG_PORT/up" remote-1-credential
start remote1-third "$BIN/shadowlinkd" --config "$WORK/remote1.json"; REMOTE1_PID=$LAST_PID
wait_log remote1-third "refused the device certificate (device certificate not accepted.*the device keeps presenting it" 10
sleep 2  # several reconnect attempts, each with the certificate only
[ "$(field "$(device_json remote-1)" "d['online']")" = False ] || fail "remote-1 came back after its certificate was refused"
[ "$(grep -c "device remote-1 enrolled" "$WORK/ums.log")" = 1 ] || fail "remote-1 enrolled again on the server's word: $(grep "device remote-1 enrolled" "$WORK/ums.log")"

step "with its certificate and key moved away, it enrolls anew with its credential (a new key: the revoked one may have leaked) and is shadowed"
kill "$REMOTE1_PID"; wait "$REMOTE1_PID" 2> /dev/null || true
mkdir "$WORK/set-aside"
mv "$WORK/device-data/remote-1/device.pem" "$WORK/device-data/remote-1/device.key" "$WORK/set-aside/"
start remote1-fourth "$BIN/shadowlinkd" --config "$WORK/remote1.json"
wait_count ums "device remote-1 enrolled (gateway icg)" 2 20
NEW_FP=$(field "$(device_json remote-1)" "d['certificate']['fingerprint']")
[ ${#NEW_FP} = 64 ] && [ "$NEW_FP" != "$OLD_FP" ] || fail "no new certificate: '$NEW_FP'"
wait_field remote-1 "d['online']" True 10
NEW_KEY=$(openssl pkey -in "$WORK/device-data/remote-1/device.key" -pubout)
[ -n "$NEW_KEY" ] && [ "$NEW_KEY" != "$OLD_KEY" ] || fail "the device enrolled again with its revoked key"
[ "$(fingerprint "$WORK/device-data/remote-1/device.pem")" = "$NEW_FP" ] || fail "the device holds another certificate than the UMS's record"
"${CLI[@]}" snapshot remote-1 "$WORK/remote1-again.png" || fail "no snapshot of remote-1 after it enrolled again"
check_checkerboard "$WORK/remote1-again.png"
echo "device identity: all checks passed"
