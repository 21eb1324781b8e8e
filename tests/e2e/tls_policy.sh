#!/usr/bin/env bash
# The UMS's TLS listener as a client we did not build (OpenSSL's s_client) sees it: TLS 1.0 and
# 1.1 and non-AEAD suites are refused. Each refusal has a positive control: the same s_client
# command succeeds against an OpenSSL s_server that allows it, so a failure is the UMS's refusal
# and not OpenSSL 3 refusing old protocols on its own side.
source "$(dirname "$0")/lib.sh"
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0,
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}], "metrics_token_sha256": "$(sha256_of "$METRICS_TOKEN")"}}]}
JSON
start_daemon ums "$WORK/ums.json"
PORT=$(daemon_port ums)
for _ in $(seq 50); do [ -f "$WORK/data/ca.pem" ] && break; sleep 0.1; done

# handshake PORT S_CLIENT_OPTIONS...: prints the negotiated protocol and cipher, or "refused".
handshake() {
  local port=$1; shift
  local out
  # -brief prints the negotiated protocol and suite as soon as the handshake is done.
  out=$(echo | timeout 10 openssl s_client -brief -connect "127.0.0.1:$port" -servername localhost "$@" 2>&1 || true)
  if grep -q "^CONNECTION ESTABLISHED" <<<"$out"; then
    echo "$(sed -n 's/^Protocol version: *//p' <<<"$out" | head -1) $(sed -n 's/^Ciphersuite: *//p' <<<"$out" | head -1)"
  else
    echo "refused"
  fi
}
# control_server S_SERVER_OPTIONS...: an OpenSSL server that accepts what the options allow, on a
# port of its own ($CONTROL).
control_server() {
  start control openssl s_server -accept 127.0.0.1:0 -cert "$WORK/data/ums/server.pem" -key "$WORK/data/ums/server.key" \
    -quiet "$@"
  CONTROL_PID=$LAST_PID
  CONTROL=$(pid_port "$CONTROL_PID")
}
expect_refused() {  # expect_refused WHAT PROTOCOL S_SERVER_OPTIONS -- S_CLIENT_OPTIONS
  local what=$1 expect_protocol=$2; shift 2
  local server=() client=()
  while [ "$1" != -- ]; do server+=("$1"); shift; done; shift
  client=("$@")
  local got; got=$(handshake "$PORT" "${client[@]}")
  [ "$got" = refused ] || fail "$what: the UMS accepted it: $got"
  control_server "${server[@]}"
  local control; control=$(handshake "$CONTROL" "${client[@]}")
  [ "$control" != refused ] || fail "$what: the positive control failed too (OpenSSL refuses it itself?)"
  [ "${control%% *}" = "$expect_protocol" ] || fail "$what: the control negotiated $control, not $expect_protocol"
  echo "ok: $what refused by the UMS; the same client gets '$control' from a server that allows it"
}

step "a current client gets TLS 1.3 with an AEAD suite"
GOT=$(handshake "$PORT" -CAfile "$WORK/data/ca.pem")
grep -Eq "^TLSv1.3 TLS_(AES_128_GCM_SHA256|CHACHA20_POLY1305_SHA256)$" <<<"$GOT" || fail "modern client: $GOT"
echo "ok: $GOT"

step "old protocols and non-AEAD suites are refused"
LEGACY='DEFAULT:@SECLEVEL=0'
expect_refused "TLS 1.0" TLSv1 -tls1 -cipher "$LEGACY" -- -tls1 -cipher "$LEGACY"
expect_refused "TLS 1.1" TLSv1.1 -tls1_1 -cipher "$LEGACY" -- -tls1_1 -cipher "$LEGACY"
expect_refused "TLS 1.2 with AES-CBC (no AEAD)" TLSv1.2 -tls1_2 -cipher "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0" -- -tls1_2 -cipher "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"
expect_refused "TLS 1.2 with AES-CBC and SHA-256 (no AEAD)" TLSv1.2 -tls1_2 -cipher "ECDHE-ECDSA-AES128-SHA256" -- -tls1_2 -cipher "ECDHE-ECDSA-AES128-SHA256"
grep -q "TLS handshake with 127.0.0.1:.* failed" "$WORK/ums.log" || fail "refused handshakes are not logged as warnings with the peer"
# The metric counts them, by reason, from the fixed set (every refusal above is an old version or
# a suite we do not offer).
curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $METRICS_TOKEN" "https://127.0.0.1:$PORT/metrics" > "$WORK/metrics.txt"
FAILED=$(awk '/^shadowlink_tls_handshake_failures_total\{/ { n += $2 } END { print n + 0 }' "$WORK/metrics.txt")
[ "$FAILED" -ge 4 ] || fail "the refused handshakes are not counted: $(grep tls_handshake "$WORK/metrics.txt")"
if grep -q '^shadowlink_tls_handshake_failures_total{reason="other"}' "$WORK/metrics.txt"; then
  fail "refusals counted as 'other': $(grep tls_handshake "$WORK/metrics.txt")"
fi
echo "ok: $(grep '^shadowlink_tls_handshake_failures_total' "$WORK/metrics.txt" | tr '\n' ' ')"
step "a server whose certificate has expired is refused by the console and the device agent, trusting its CA or pinning it"
EXPIRED=$(cd "$(dirname "$0")/../framework/data" && pwd)  # (a committed fixture: valid until 2020, CA included)
cat > "$WORK/expired.json" <<JSON
{"data_dir": "$WORK/expired-data", "services": [{"type": "ums", "name": "ums", "settings": {"port": 0,
  "cert_file": "$EXPIRED/expired-chain.pem", "key_file": "$EXPIRED/expired.key",
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "tc-1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"}]}}]}
JSON
start_daemon expired "$WORK/expired.json"
EPORT=$(daemon_port expired)
LEAF_PIN=$(openssl x509 -in "$EXPIRED/expired-chain.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
[ ${#LEAF_PIN} = 64 ] || fail "test bug: no fingerprint of the expired certificate"
for trust in "--ca $EXPIRED/expired-ca.pem" "--pin $LEAF_PIN"; do
  set +e
  # shellcheck disable=SC2086
  "$BIN/shadowlink" --server "https://127.0.0.1:$EPORT" $trust --token "$API_TOKEN" devices > "$WORK/expired.out" 2>&1; rc=$?
  set -e
  [ $rc -ne 0 ] && grep -Eq "ASN date error, current date after|has expired" "$WORK/expired.out" || fail "the console accepted an expired certificate ($trust): rc=$rc $(cat "$WORK/expired.out")"
done
# The positive control: the same console with the same token against the UMS whose certificate is valid.
"$BIN/shadowlink" --server "https://127.0.0.1:$PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN" devices > /dev/null \
  || fail "the positive control failed: the console does not reach the valid UMS"
cat > "$WORK/expired-device.json" <<JSON
{"data_dir": "$WORK/expired-device", "services": [{"type": "device", "name": "tc-1", "settings": {
  "device_id": "tc-1", "credential_file": "$(credential_file tc-1-credential)", "server": "wss://127.0.0.1:$EPORT/up",
  "ca_file": "$EXPIRED/expired-ca.pem", "vnc_socket": "$CLOSED_VNC_SOCKET", "reconnect_min_ms": 200, "reconnect_max_ms": 1000}}]}
JSON
start expired-device "$BIN/shadowlinkd" --config "$WORK/expired-device.json"
wait_log expired-device "cannot reach wss://127.0.0.1:$EPORT/up" 10
grep -Eq "cannot reach wss://127.0.0.1:$EPORT/up: .*(ASN date error, current date after|has expired)" "$WORK/expired-device.log" || fail "the device's refusal does not say why: $(tail -3 "$WORK/expired-device.log")"
if grep -q "device tc-1 online" "$WORK/expired.log"; then fail "the device connected to a server with an expired certificate"; fi
echo "ok: console (CA and pin) and device refused the expired certificate; the valid server is reached"
step "in pin mode, an attacker's own leaf sent together with the genuine CA certificate is refused"
# The attacker has the CA's certificate (public) but not its key: their leaf names the right host
# and travels with the genuine CA certificate, whose fingerprint is what the clients pin.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$WORK/attacker.key" -out "$WORK/attacker-leaf.pem" 2> /dev/null
cat "$WORK/attacker-leaf.pem" "$WORK/data/ca.pem" > "$WORK/attacker-chain.pem"
CA_PIN=$(openssl x509 -in "$WORK/data/ca.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
ATTACKER_LEAF=$(openssl x509 -in "$WORK/attacker-leaf.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
[ ${#CA_PIN} = 64 ] && [ "$CA_PIN" != "$ATTACKER_LEAF" ] || fail "test bug: the pins"
cat > "$WORK/attacker.json" <<JSON
{"data_dir": "$WORK/attacker-data", "services": [{"type": "ums", "name": "ums", "settings": {"port": 0,
  "cert_file": "$WORK/attacker-chain.pem", "key_file": "$WORK/attacker.key",
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "tc-1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"}]}}]}
JSON
start_daemon attacker "$WORK/attacker.json"
APORT=$(daemon_port attacker)
# The chain really goes out with the genuine CA certificate in it.
SENT=$(timeout 10 openssl s_client -connect "127.0.0.1:$APORT" -showcerts < /dev/null 2> /dev/null || true)
grep -Eq "^ *1 s:.*CN ?= ?shadowlink installation CA" <<<"$SENT" || fail "test bug: the attacker's server does not send the CA certificate second"
set +e
"$BIN/shadowlink" --server "https://127.0.0.1:$APORT" --pin "$CA_PIN" --token "$API_TOKEN" devices > "$WORK/attacker.out" 2>&1; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "certificate pin mismatch" "$WORK/attacker.out" || fail "the console accepted the attacker's leaf: rc=$rc $(cat "$WORK/attacker.out")"
if grep -q "$API_TOKEN" "$WORK/attacker.log"; then fail "the token reached the attacker"; fi
cat > "$WORK/attacker-device.json" <<JSON
{"data_dir": "$WORK/attacker-device", "services": [{"type": "device", "name": "tc-1", "settings": {
  "device_id": "tc-1", "credential_file": "$(credential_file tc-1-credential)", "server": "wss://127.0.0.1:$APORT/up",
  "pin": "$CA_PIN", "vnc_socket": "$CLOSED_VNC_SOCKET", "reconnect_min_ms": 200, "reconnect_max_ms": 1000}}]}
JSON
start attacker-device "$BIN/shadowlinkd" --config "$WORK/attacker-device.json"
wait_log attacker-device "cannot reach wss://127.0.0.1:$APORT/up: .*certificate pin mismatch" 10
if grep -q "device tc-1 online" "$WORK/attacker.log"; then fail "the device gave its credential to the attacker"; fi
# The positive control: the same pin reaches the genuine UMS, whose leaf the CA signed.
"$BIN/shadowlink" --server "https://127.0.0.1:$PORT" --pin "$CA_PIN" --token "$API_TOKEN" devices > /dev/null \
  || fail "the positive control failed: pinning the CA does not reach the genuine UMS"
echo "ok: pinning the CA, the console and the device refused the attacker's leaf that came with the genuine CA certificate"
echo "tls policy: all checks passed"
