#!/usr/bin/env bash
# shadowlinkd as operators meet it: bad configs get one clear line and exit code 2; SIGINT and
# SIGTERM stop it cleanly.
source "$(dirname "$0")/lib.sh"

expect_config_error() {  # expect_config_error JSON EXPECTED_TEXT
  echo "$1" > "$WORK/bad.json"
  set +e
  timeout 30 "$BIN/shadowlinkd" --config "$WORK/bad.json" > "$WORK/out.txt" 2>&1  # a config taken by mistake would run on
  local rc=$?
  set -e
  [ $rc -ne 124 ] || fail "shadowlinkd ran with a bad config (expected '$2'): $(cat "$WORK/out.txt")"
  [ $rc -eq 2 ] || fail "exit code $rc for a bad config (expected 2): $(cat "$WORK/out.txt")"
  [ "$(wc -l < "$WORK/out.txt")" -eq 1 ] || fail "expected one line of error, got: $(cat "$WORK/out.txt")"
  grep -qF "$2" "$WORK/out.txt" || fail "expected '$2' in: $(cat "$WORK/out.txt")"
  echo "ok: $(cat "$WORK/out.txt")"
}

step "TLS is wolfSSL ($WOLFSSL_BUILD build): no binary of ours links or calls OpenSSL (only libpq does, for its own TLS to the database)"
for b in "$BIN/shadowlinkd" "$BIN/shadowlink"; do
  # Captured first: with pipefail, `ldd | grep -q` fails when grep's early exit SIGPIPEs ldd.
  libs=$(ldd "$b")
  needed=$(readelf -d "$b")
  if grep -Eq 'libssl|libcrypto' <<<"$needed"; then fail "$b links OpenSSL: $(grep -E 'libssl|libcrypto' <<<"$needed")"; fi
  # OpenSSL comes into the daemon with libpq (the registry's PostgreSQL client) and with nothing else.
  if grep -Eq 'libssl|libcrypto' <<<"$libs"; then
    grep -q 'libpq\.so' <<<"$needed" || fail "$b loads OpenSSL without libpq: $(grep -E 'libssl|libcrypto' <<<"$libs")"
    [ "$b" = "$BIN/shadowlinkd" ] || fail "$b (the console) loads OpenSSL"
  fi
  undefined=$(nm -D --undefined-only "$b")
  if grep -q '@OPENSSL' <<<"$undefined"; then fail "$b calls OpenSSL: $(grep '@OPENSSL' <<<"$undefined" | head -3)"; fi
  # wolfSSL defines a few OpenSSL names: none may be exported, or OpenSSL's own calls would reach them.
  exported=$(nm -D --defined-only "$b")
  if grep -Eq ' (SSL_|ERR_|EVP_|X509|BIO_|wolfSSL)' <<<"$exported"; then fail "$b exports TLS symbols: $(grep -E ' (SSL_|ERR_|EVP_|X509|BIO_|wolfSSL)' <<<"$exported" | head -3)"; fi
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
# Credentials a process presents come from files only its user may read; what a server checks a
# peer's credential against is its SHA-256. Plain text in the main config is refused (the demo aside).
expect_config_error '{"services": [{"type": "device", "settings": {"device_id": "d", "credential": "device-credential-0123", "server": "wss://x/up"}}]}' "settings.credential: plain-text secrets are refused in the main config: put it in a file only the service's user can read and name it in credential_file"
expect_config_error '{"services": [{"type": "icg", "settings": {"ums_credential": "0123456789abcdef0123"}}]}' "settings.ums_credential: plain-text secrets are refused: put \"ums_credential_sha256\""
expect_config_error '{"services": [{"type": "ums", "settings": {"devices": [{"id": "d", "credential": "device-credential-0123"}], "users": [{"user": "a", "password_hash": "'"$ADMIN_HASH"'"}]}}]}' "settings.devices[0].credential: plain-text secrets are refused: put \"credential_sha256\""
expect_config_error '{"services": [{"type": "ums", "settings": {"devices": [{"id": "d", "credential_sha256": "0123"}], "users": [{"user": "a", "password_hash": "'"$ADMIN_HASH"'"}]}}]}' "settings.devices[0].credential_sha256: expected 64 lowercase hex digits"
expect_config_error '{"services": [{"type": "ums", "settings": {"gateways": [{"name": "icg", "url": "wss://10.1.0.9:9443", "credential": "0123456789abcdef0123"}], "users": [{"user": "a", "password_hash": "'"$ADMIN_HASH"'"}]}}]}' "settings.gateways[0].credential: plain-text secrets are refused in the main config"
LOOSE=$(credential_file loose-credential-0123); chmod 644 "$LOOSE"
expect_config_error '{"services": [{"type": "device", "settings": {"device_id": "d", "credential_file": "'"$LOOSE"'", "server": "wss://x/up"}}]}' "settings.credential_file: $LOOSE is readable by others"
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
D='"device_id": "d", "credential_file": "'"$(credential_file device-credential-0123)"'"'
expect_config_error "{\"services\": [{\"type\": \"device\", \"settings\": {$D, \"server\": \"ws://x/up\", \"pin\": \"ab\"}}]}" "must be a wss:// URL"
expect_config_error "{\"services\": [{\"type\": \"device\", \"settings\": {$D, \"server\": \"wss://x/up\", \"pin\": \"ab\"}}]}" "settings.pin: expected a SHA-256 fingerprint"
expect_config_error '{"services": [' "not valid JSON"
# The TLS listener's settings, checked once by the framework for the UMS and the gateway alike.
U='"users": [{"user": "a", "password_hash": "'"$ADMIN_HASH"'"}]'
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"names\": [], $U}}]}" "settings.names: give at least one host name"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"public_url\": \"ws://ums.example:8443\", $U}}]}" "settings.public_url: must be a wss:// URL"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"cert_file\": \"/x.pem\", $U}}]}" "settings.key_file: cert_file and key_file go together"
G='"ums_credential_sha256": "'"$(sha256_of 0123456789abcdef0123)"'"'
expect_config_error "{\"services\": [{\"type\": \"icg\", \"settings\": {\"names\": [], $G}}]}" "settings.names: give at least one host name"
expect_config_error "{\"services\": [{\"type\": \"icg\", \"settings\": {\"external_url\": \"ws://gw.example:9443\", $G}}]}" "settings.external_url: must be a wss:// URL"
DEV='"id": "d", "credential_sha256": "'"$(sha256_of device-credential-0123)"'"'
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"devices\": [{$DEV, \"consent\": \"maybe\"}], $U}}]}" "devices[0].consent: expected none, notify or ask"
expect_config_error "{\"services\": [{\"type\": \"device\", \"settings\": {$D, \"server\": \"wss://x/up\", \"ca_file\": \"/x\", \"consent\": \"sometimes\"}}]}" "settings.consent: expected none, notify or ask"
GW='"name": "icg", "url": "wss://10.1.0.9:9443", "credential_file": "'"$(credential_file 0123456789abcdef0123)"'"'
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"gateways\": [{$GW, \"external_url\": \"ws://gw.example:9443\"}], $U}}]}" "gateways[0].external_url: must be a wss:// URL"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"gateways\": [{$GW}, {$GW}], $U}}]}" "gateways[1].name: duplicate gateway 'icg'"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"devices\": [{$DEV}, {$DEV}], $U}}]}" "devices[1].id: duplicate device id 'd'"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"port\": 1, \"port\": 2, $U}}]}" "settings.port: given twice in one object"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"devices\": [{$DEV, \"colour\": \"red\"}], $U}}]}" "settings.devices[0].colour: unknown key"
expect_config_error "{\"services\": [{\"type\": \"ums\", \"settings\": {\"login_idle_timeout_s\": 0, $U}}]}" "settings.login_idle_timeout_s"
set +e; "$BIN/shadowlinkd" --config "$WORK/missing.json" > "$WORK/out.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "cannot read the file" "$WORK/out.txt" || fail "missing file: rc=$rc $(cat "$WORK/out.txt")"
set +e; "$BIN/shadowlinkd" --bogus > "$WORK/out.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] || fail "unknown option: rc=$rc"

for sig in INT TERM; do
  step "SIGINT/SIGTERM: clean stop ($sig)"
  cat > "$WORK/ok.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0, "users": [{"user": "a", "password_hash": "$ADMIN_HASH"}]}}]}
JSON
  start_daemon daemon "$WORK/ok.json"
  pid=$LAST_PID
  daemon_port daemon > /dev/null
  kill -"$sig" "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "shadowlinkd still running 5 s after SIG$sig"
  wait "$pid" || fail "shadowlinkd exited with $? after SIG$sig"
  grep -q "stopped" "$WORK/daemon.log" || fail "no 'stopped' line"
  [ ! -e "$WORK/daemon.ports" ] || fail "the port file outlived the daemon"
done

step "the command lines: --version, --help without internal options, usage errors before trust errors"
VERSION=$(sed -n 's/^project(shadowlink VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
[ -n "$VERSION" ] || fail "test bug: no version in CMakeLists.txt"
[ "$("$BIN/shadowlinkd" --version)" = "shadowlinkd $VERSION" ] || fail "shadowlinkd --version: $("$BIN/shadowlinkd" --version)"
[ "$("$BIN/shadowlink" --version)" = "shadowlink $VERSION" ] || fail "shadowlink --version: $("$BIN/shadowlink" --version)"
"$BIN/shadowlink" --help > "$WORK/help.txt"
for want in SHADOWLINK_SERVER SHADOWLINK_TOKEN SHADOWLINK_PASSWORD SHADOWLINK_CA "Exit codes" "sessions \[--json\]"; do
  grep -q "$want" "$WORK/help.txt" || fail "shadowlink --help does not mention $want"
done
if grep -Eq -- '--(command|device|output)\b' "$WORK/help.txt"; then fail "--help shows internal options: $(grep -E -- '--(command|device|output)' "$WORK/help.txt")"; fi
set +e; env -u SHADOWLINK_CA "$BIN/shadowlink" --token x bogus > "$WORK/out.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "unknown command 'bogus'" "$WORK/out.txt" || fail "unknown command: rc=$rc $(cat "$WORK/out.txt")"
set +e; "$BIN/shadowlinkd" > "$WORK/out.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "give --config FILE (or --demo" "$WORK/out.txt" || fail "shadowlinkd without a config: rc=$rc $(cat "$WORK/out.txt")"
echo "ok: versions, help, usage errors"

step "--check-config: a good file says so, a bad one gets its one line; data_dir must be absolute"
hold_port  # another process has the port: --check-config, which binds nothing, must not mind
cat > "$WORK/good.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": $HELD_PORT, "users": [{"user": "a", "password_hash": "$ADMIN_HASH"}]}}]}
JSON
[ "$("$BIN/shadowlinkd" --check-config "$WORK/good.json")" = "$WORK/good.json: good" ] || fail "a good config was not called good"
release_port "$HELD_PID"
sed 's|"data_dir": "[^"]*"|"data_dir": "relative-data"|' "$WORK/good.json" > "$WORK/relative.json"
set +e; "$BIN/shadowlinkd" --check-config "$WORK/relative.json" > "$WORK/out.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "config.data_dir: give an absolute path" "$WORK/out.txt" || fail "relative data_dir: rc=$rc $(cat "$WORK/out.txt")"
echo "ok: --check-config"

step "SIGHUP: a good file is taken without a restart (log level, administrators, devices); a bad one changes nothing"
ums_with() {  # ums_with LOG_LEVEL USERS DEVICES: the reload test's UMS config (port 0 until it has one)
  cat > "$WORK/hup.json" <<JSON
{"log_level": "$1", "data_dir": "$WORK/data", "services": [{"type": "ums", "name": "ums", "settings": {"port": ${PORT:-0},
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}], "users": [$2], "devices": [$3]}}]}
JSON
}
device_entry() { echo "{\"id\": \"$1\", \"credential_sha256\": \"$(sha256_of "$1-credential")\", \"consent\": \"none\"}"; }
ums_with info '{"user": "admin", "password_hash": "'"$ADMIN_HASH"'"}' "$(device_entry tc-1)"
start_daemon ums "$WORK/hup.json"; HUP_PID=$LAST_PID
PORT=$(daemon_port ums)
HCLI=("$BIN/shadowlink" --server "https://127.0.0.1:$PORT" --ca "$WORK/data/ca.pem")
device_ids() { "${HCLI[@]}" --token "$API_TOKEN" devices --json | python3 -c "import json,sys; print(' '.join(d['id'] for d in json.load(sys.stdin)['devices']))"; }
[ "$(device_ids)" = "tc-1" ] || fail "before the reload: devices $(device_ids)"
# Without metrics_token_sha256 the metrics are off (not open to anyone); health needs no token.
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$PORT/metrics")" = 404 ] \
  || fail "/metrics without a configured token is not off"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$PORT/health")" = 200 ] || fail "/health"
# A login from before the reload must outlive it (its administrator stays).
LOGIN=$(curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' \
  -d "{\"user\": \"admin\", \"password\": \"$ADMIN_PASSWORD\"}" "https://127.0.0.1:$PORT/api/v1/login" | python3 -c "import json,sys; print(json.load(sys.stdin)['token'])")
secret "$LOGIN"
login_of() {  # login_of USER: a login token (the test's one password)
  curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' \
    -d "{\"user\": \"$1\", \"password\": \"$ADMIN_PASSWORD\"}" "https://127.0.0.1:$PORT/api/v1/login" | python3 -c "import json,sys; print(json.load(sys.stdin)['token'])"
}
status_with() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $1" "https://127.0.0.1:$PORT/api/v1/devices"; }
# A connected device that the reload removes loses its link at once (and is refused when it comes back).
write_device_config "$WORK/hup-device.json" tc-1 tc-1-credential "$PORT" "$CLOSED_VNC_SOCKET"
start hupdevice "$BIN/shadowlinkd" --config "$WORK/hup-device.json"
wait_log ums "device tc-1 online" 15
ums_with debug '{"user": "admin", "password_hash": "'"$ADMIN_HASH"'"}, {"user": "bob", "password_hash": "'"$ADMIN_HASH"'", "role": "auditor"}' \
  "$(device_entry tc-2), $(device_entry tc-3)"
kill -HUP "$HUP_PID"
wait_log ums "SIGHUP: reloaded" 10
grep -q "SIGHUP: log level info -> debug" "$WORK/ums.log" || fail "the log level change was not logged"
grep -q "reloaded administrators, rights and devices: 2 devices (2 added, 1 removed); administrators: +bob$" "$WORK/ums.log" || fail "the changes were not logged"
[ "$(device_ids)" = "tc-2 tc-3" ] || fail "after the reload: devices $(device_ids)"
SHADOWLINK_PASSWORD="$ADMIN_PASSWORD" "${HCLI[@]}" -u bob devices > /dev/null || fail "the administrator added by the reload cannot log in"
[ "$(status_with "$LOGIN")" = 200 ] || fail "a login from before the reload was dropped"
wait_log ums "device tc-1 offline" 10
# (Refused by its credential, or by the certificate it may have enrolled for before the reload.)
wait_log ums "device connection from 127.0.0.1:[0-9]* refused: \(unknown device or wrong credential\|device certificate not accepted\)" 15
step "SIGHUP: a removed administrator's login ends with it; the others' stay"
BOB=$(login_of bob); secret "$BOB"
[ "$(status_with "$BOB")" = 200 ] || fail "bob's fresh login does not work"
ums_with debug '{"user": "admin", "password_hash": "'"$ADMIN_HASH"'"}' "$(device_entry tc-2), $(device_entry tc-3)"
kill -HUP "$HUP_PID"
wait_count ums "SIGHUP: reloaded" 2 10
[ "$(status_with "$BOB")" = 401 ] || fail "the login of a removed administrator still works"
grep -q "0 removed); administrators: -bob$" "$WORK/ums.log" || fail "the removed administrator was not logged"
[ "$(status_with "$LOGIN")" = 200 ] || fail "the remaining administrator's login was dropped"
sed -i 's/"log_level": "debug"/"log_level": "loud"/' "$WORK/hup.json"
kill -HUP "$HUP_PID"
wait_log ums "not reloaded, the running configuration stays: config.log_level: expected one of debug, info, warn, error" 10
kill -0 "$HUP_PID" || fail "a bad reload killed the daemon"
[ "$(device_ids)" = "tc-2 tc-3" ] || fail "a bad reload changed the devices: $(device_ids)"
echo "ok: SIGHUP reload"

step "the console asks for the password on its terminal (never in argv), and lists sessions as a table"
cat > "$WORK/prompt.py" <<'PY'
import os, pty, select, signal, sys, time
password, argv = sys.argv[1], sys.argv[2:]
env = {k: v for k, v in os.environ.items() if not k.startswith("SHADOWLINK_")}
pid, fd = pty.fork()
if pid == 0:
    os.execve(argv[0], argv, env)
out, sent, deadline = b"", False, time.time() + 20
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try: chunk = os.read(fd, 4096)
        except OSError: break
        if not chunk: break
        out += chunk
    if not sent and b"Password for admin: " in out:
        os.write(fd, password.encode() + b"\n"); sent = True
text = out.decode(errors="replace")
print(text)
# The terminal reports its end (EIO) when the console closes it, a moment before the console has
# finished exiting: wait for that a little (bounded), never unbounded.
for _ in range(50):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done: break
    time.sleep(0.1)
if done == 0:  # still running: never wait for it unbounded
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    print("HUNG: the console did not exit within 20 s")
    sys.exit(3)
assert sent, "no prompt"
assert password not in text, "the password was echoed"
assert os.waitstatus_to_exitcode(status) == 0 and "tc-2" in text, text
PY
# The helper answers the instant the prompt appears: a console that printed its prompt before
# turning the echo off (and flushed the answer away with it) hung here.
set +e; python3 "$WORK/prompt.py" "$ADMIN_PASSWORD" "${HCLI[@]}" -u admin devices > "$WORK/pty.out" 2>&1; rc=$?; set -e
[ $rc -eq 0 ] || fail "password prompt: $(cat "$WORK/pty.out")"
# setsid: no controlling terminal either (a CI runner may have one, and the console would ask on it).
set +e; setsid -w timeout 20 "${HCLI[@]}" -u admin devices < /dev/null > "$WORK/out.txt" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "no password: give SHADOWLINK_PASSWORD or --password, or type it when asked" "$WORK/out.txt" \
  || fail "no password and no terminal: rc=$rc $(cat "$WORK/out.txt")"
"${HCLI[@]}" --token "$API_TOKEN" sessions > "$WORK/sessions.txt"
head -1 "$WORK/sessions.txt" | grep -Eq '^ID +DEVICE +USER +VIA +STATE +VIEW-ONLY +AGE$' || fail "sessions is not a table: $(cat "$WORK/sessions.txt")"
"${HCLI[@]}" --token "$API_TOKEN" sessions --json | python3 -c "import json,sys; assert json.load(sys.stdin)['sessions'] == []" \
  || fail "sessions --json"
echo "ok: password prompt, sessions table"

step "the generated private keys are readable by the owner only"
[ "$(stat -c %a "$WORK/data/ca.key")" = 600 ] || fail "ca.key mode $(stat -c %a "$WORK/data/ca.key")"
[ "$(stat -c %a "$WORK/data/ums/server.key")" = 600 ] || fail "server.key mode"
echo "daemon cli: all checks passed"
