#!/usr/bin/env bash
# shadowlinkd as operators meet it: bad configs get one clear line and exit code 2; SIGINT and
# SIGTERM stop it cleanly.
source "$(dirname "$0")/lib.sh"

expect_config_error() {  # expect_config_error JSON EXPECTED_TEXT
  echo "$1" > "$WORK/bad.json"
  set +e
  "$BIN/shadowlinkd" --config "$WORK/bad.json" > "$WORK/out.txt" 2>&1
  local rc=$?
  set -e
  [ $rc -eq 2 ] || fail "exit code $rc for a bad config (expected 2): $(cat "$WORK/out.txt")"
  [ "$(wc -l < "$WORK/out.txt")" -eq 1 ] || fail "expected one line of error, got: $(cat "$WORK/out.txt")"
  grep -qF "$2" "$WORK/out.txt" || fail "expected '$2' in: $(cat "$WORK/out.txt")"
  echo "ok: $(cat "$WORK/out.txt")"
}

step "TLS is wolfSSL ($WOLFSSL_BUILD build): no binary links OpenSSL"
for b in "$BIN/shadowlinkd" "$BIN/shadowlink"; do
  # Captured first: with pipefail, `ldd | grep -q` fails when grep's early exit SIGPIPEs ldd.
  libs=$(ldd "$b")
  if grep -Eq 'libssl|libcrypto' <<<"$libs"; then fail "$b links OpenSSL: $(grep -E 'libssl|libcrypto' <<<"$libs")"; fi
  symbols=$(nm "$b")
  case "$WOLFSSL_BUILD" in
    optimized)  # linked statically, with the AES-GCM assembly in the binary
      if grep -q libwolfssl <<<"$libs"; then fail "$b links the shared wolfSSL, not the optimized static one"; fi
      grep -q ' wolfSSL_new$' <<<"$symbols" || fail "$b has no wolfSSL inside"
      grep -q 'AES_GCM_encrypt_avx2$' <<<"$symbols" || fail "$b has wolfSSL without the AES-GCM assembly";;
    system)
      grep -q libwolfssl <<<"$libs" || fail "$b does not link Debian's shared wolfSSL"
      if grep -q 'AES_GCM_encrypt_avx2$' <<<"$symbols"; then fail "$b carries a static wolfSSL"; fi;;
    *) fail "WOLFSSL_BUILD is '$WOLFSSL_BUILD'";;
  esac
done

step "the secrets-in-logs check (run when every e2e test passes) catches a leak: negative control"
echo '{"users": [{"user": "a", "password": "leaky-password-123"}]}' > "$WORK/leak.json"
echo "2026-11-28T00:00:00.000Z INFO  [ums] login ok with leaky-password-123" > "$WORK/leak.log"
if check_no_secrets > "$WORK/leak.out"; then fail "the secrets check missed a password in a log"; fi
grep -q "leak.log: leak" "$WORK/leak.out" || fail "the secrets check did not name the log: $(cat "$WORK/leak.out")"
rm "$WORK/leak.json" "$WORK/leak.log"
check_no_secrets > /dev/null || fail "the secrets check fails without a leak"

step "secrets in the config: plain text refused, hashes checked, duplicates named"
expect_config_error '{"services": [{"type": "ums", "settings": {"users": [{"user": "a", "password": "b"}]}}]}' "settings.users[0].password: plain-text secrets are refused: put \"password_hash\""
expect_config_error '{"services": [{"type": "ums", "settings": {"api_tokens": [{"token": "0123456789abcdef0123", "user": "x"}]}}]}' "settings.api_tokens[0].token: plain-text secrets are refused"
expect_config_error '{"services": [{"type": "ums", "settings": {"users": [{"user": "a", "password_hash": "pbkdf2-sha256$10$00$11"}]}}]}' "settings.users[0].password_hash: expected the output of"
expect_config_error '{"services": [{"type": "ums", "settings": {"api_tokens": [{"token_sha256": "abc", "user": "x"}]}}]}' "settings.api_tokens[0].token_sha256: expected 64 lowercase hex digits"
expect_config_error '{"services": [{"type": "ums", "settings": {"users": [{"user": "a", "password_hash": "'"$ADMIN_HASH"'"}, {"user": "a", "password_hash": "'"$ADMIN_HASH"'"}]}}]}' "settings.users[1].user: duplicate user 'a'"
HASH=$("$BIN/shadowlinkd" hash-password <<<"correct horse")
[[ "$HASH" =~ ^pbkdf2-sha256\$600000\$[0-9a-f]{32}\$[0-9a-f]{64}$ ]] || fail "hash-password printed '$HASH'"
[ "$HASH" != "$("$BIN/shadowlinkd" hash-password <<<"correct horse")" ] || fail "two hashes of one password share their salt"
set +e; "$BIN/shadowlinkd" hash-password --iterations 10 <<<"x" > "$WORK/out.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "at least 1000" "$WORK/out.txt" || fail "hash-password accepted 10 iterations"
echo "ok: hash-password prints $(cut -c1-30 <<<"$HASH")..."

step "bad configurations"
expect_config_error '{"services": [{"type": "ums", "settings": {"prot": 1, "users": [{"user": "a", "password_hash": "'"$ADMIN_HASH"'"}]}}]}' "config.services[0].settings.prot: unknown key"
expect_config_error '{"services": [{"type": "teleporter"}]}' "unknown service type 'teleporter'"
expect_config_error '{"services": [{"type": "ums", "settings": {"port": "x", "users": [{"user": "a", "password_hash": "'"$ADMIN_HASH"'"}]}}]}' "settings.port: expected an integer"
expect_config_error '{"services": [{"type": "ums", "settings": {}}]}' "at least one user or API token is required"
expect_config_error '{"services": [{"type": "device", "settings": {"device_id": "d", "credential": "c", "server": "ws://x/up", "pin": "ab"}}]}' "must be a wss:// URL"
expect_config_error '{"services": [{"type": "device", "settings": {"device_id": "d", "credential": "c", "server": "wss://x/up", "pin": "ab"}}]}' "settings.pin: expected a SHA-256 fingerprint"
expect_config_error '{"services": [' "not valid JSON"
# The TLS listener's settings, checked once by the framework for the UMS and the gateway alike.
U='"users": [{"user": "a", "password_hash": "'"$ADMIN_HASH"'"}]'
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"names\": [], $U}}]}" "settings.names: give at least one host name"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"public_url\": \"ws://ums.example:8443\", $U}}]}" "settings.public_url: must be a wss:// URL"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"cert_file\": \"/x.pem\", $U}}]}" "settings.key_file: cert_file and key_file go together"
G='"ums_credential": "0123456789abcdef0123"'
expect_config_error "{\"services\": [{\"type\": \"icg\", \"settings\": {\"names\": [], $G}}]}" "settings.names: give at least one host name"
expect_config_error "{\"services\": [{\"type\": \"icg\", \"settings\": {\"external_url\": \"ws://gw.example:9443\", $G}}]}" "settings.external_url: must be a wss:// URL"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"devices\": [{\"id\": \"d\", \"credential\": \"c\", \"consent\": \"maybe\"}], $U}}]}" "devices[0].consent: expected none, notify or ask"
expect_config_error '{"services": [{"type": "device", "settings": {"device_id": "d", "credential": "c", "server": "wss://x/up", "ca_file": "/x", "consent": "sometimes"}}]}' "settings.consent: expected none, notify or ask"
GW='"name": "icg", "url": "wss://10.1.0.9:9443", "credential": "0123456789abcdef0123"'
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"gateways\": [{$GW, \"external_url\": \"ws://gw.example:9443\"}], $U}}]}" "gateways[0].external_url: must be a wss:// URL"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"login_idle_timeout_s\": 0, $U}}]}" "settings.login_idle_timeout_s"
set +e; "$BIN/shadowlinkd" --config "$WORK/missing.json" > "$WORK/out.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "cannot read the file" "$WORK/out.txt" || fail "missing file: rc=$rc $(cat "$WORK/out.txt")"
set +e; "$BIN/shadowlinkd" --bogus > "$WORK/out.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || fail "unknown option: rc=$rc"

for sig in INT TERM; do
  step "SIGINT/SIGTERM: clean stop ($sig)"
  PORT=$(free_port)
  cat > "$WORK/ok.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": $PORT, "users": [{"user": "a", "password_hash": "$ADMIN_HASH"}]}}]}
JSON
  start daemon "$BIN/shadowlinkd" --config "$WORK/ok.json"
  pid=$LAST_PID
  wait_port "$PORT" 15
  kill -"$sig" "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "shadowlinkd still running 5 s after SIG$sig"
  wait "$pid" || fail "shadowlinkd exited with $? after SIG$sig"
  grep -q "stopped" "$WORK/daemon.log" || fail "no 'stopped' line"
done

step "the generated private keys are readable by the owner only"
[ "$(stat -c %a "$WORK/data/ca.key")" = 600 ] || fail "ca.key mode $(stat -c %a "$WORK/data/ca.key")"
[ "$(stat -c %a "$WORK/data/ums/server.key")" = 600 ] || fail "server.key mode"
echo "daemon cli: all checks passed"
