#!/usr/bin/env bash
# The UMS's REST API as a browser's login cookie meets it: another site cannot ride on the cookie
# (Origin / Sec-Fetch-Site checks), logout revokes the login, an idle login expires; bearer tokens
# (scripts, the console) are unaffected. The UMS is the shipped binary, the client curl.
source "$(dirname "$0")/lib.sh"
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0, "names": ["localhost"],
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}],
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "tc-1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"}], "login_idle_timeout_s": 3,
  "proxy_protocol_from": ["127.0.0.2"], "request_timeout_s": 3, "metrics_token_sha256": "$(sha256_of "$METRICS_TOKEN")"}}]}
JSON
start_daemon ums "$WORK/ums.json"
PORT=$(daemon_port ums)
OWN="https://localhost:$PORT"
EVIL="https://evil.example"
[ "$EVIL" != "$OWN" ] || fail "test bug: the foreign origin equals the UMS's own"

# status METHOD PATH [curl options...]: the HTTP status of one request.
status() {
  local method=$1 path=$2; shift 2
  curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" -X "$method" "$@" \
    "https://localhost:$PORT$path" || true
}
login() {  # login JAR: logs in (from the UMS's own page) and keeps the cookie in JAR
  [ "$(status POST /api/v1/login -c "$1" -H "Origin: $OWN" -H 'Content-Type: application/json' \
       -d '{"user":"admin","password":"s3cret-pass"}')" = 200 ] || fail "login failed: $(cat "$WORK/body")"
}
expect() {  # expect STATUS WHAT METHOD PATH [curl options...]
  local want=$1 what=$2; shift 2
  local got; got=$(status "$@")
  [ "$got" = "$want" ] || fail "$what: HTTP $got (expected $want): $(cat "$WORK/body")"
  echo "ok: $what -> $got $(head -c 120 "$WORK/body")"
}

step "the login cookie works from the UMS's own pages"
login "$WORK/jar"
expect 200 "GET with the cookie, from the own origin" GET /api/v1/devices -b "$WORK/jar" -H "Origin: $OWN"
expect 200 "GET with the cookie, a same-origin fetch (browsers send no Origin on GET)" GET /api/v1/devices -b "$WORK/jar" -H "Sec-Fetch-Site: same-origin"
expect 404 "POST with the cookie from the own origin reaches the API (unknown device)" POST /api/v1/sessions -b "$WORK/jar" \
  -H "Origin: $OWN" -H 'Content-Type: application/json' -d '{"device":"nope"}'

step "another site cannot use the cookie"
expect 403 "GET with the cookie from a foreign Origin" GET /api/v1/devices -b "$WORK/jar" -H "Origin: $EVIL"
expect 403 "GET with the cookie, cross-site fetch" GET /api/v1/devices -b "$WORK/jar" -H "Sec-Fetch-Site: cross-site"
expect 403 "POST with the cookie from a foreign Origin" POST /api/v1/sessions -b "$WORK/jar" \
  -H "Origin: $EVIL" -H 'Content-Type: application/json' -d '{"device":"tc-1"}'
expect 403 "POST with the cookie and no Origin" POST /api/v1/sessions -b "$WORK/jar" -H 'Content-Type: application/json' -d '{"device":"tc-1"}'
expect 403 "DELETE with the cookie and no Origin" DELETE /api/v1/sessions/s-000000000000 -b "$WORK/jar"
expect 404 "DELETE with the cookie from the own origin reaches the API" DELETE /api/v1/sessions/s-000000000000 -b "$WORK/jar" -H "Origin: $OWN"
expect 403 "a login posted from a foreign page" POST /api/v1/login -H "Origin: $EVIL" -H 'Content-Type: application/json' \
  -d '{"user":"admin","password":"s3cret-pass"}'
grep -q "cross-site request refused" "$WORK/ums.log" || fail "refusals are not logged"

step "bearer tokens (scripts, the console) need no Origin"
expect 200 "GET with an API token" GET /api/v1/devices -H "Authorization: Bearer 0123456789abcdef0123"
expect 404 "POST with an API token" POST /api/v1/sessions -H "Authorization: Bearer 0123456789abcdef0123" \
  -H 'Content-Type: application/json' -d '{"device":"nope"}'

step "oversized requests get the statuses that say so"
head -c 20000 /dev/zero | tr '\0' 'x' > "$WORK/big-header"
head -c 100000 /dev/zero | tr '\0' 'x' > "$WORK/big-body"
expect 431 "a 20 KB header (limit 8 KiB)" GET /api/v1/devices -H "Authorization: Bearer $API_TOKEN" -H "X-Big: $(cat "$WORK/big-header")"
expect 413 "a 100 KB body (limit 64 KiB)" POST /api/v1/sessions -H "Authorization: Bearer $API_TOKEN" \
  -H 'Content-Type: application/json' --data-binary @"$WORK/big-body"
expect 200 "the same connection limits leave normal requests alone" GET /api/v1/devices -H "Authorization: Bearer $API_TOKEN"

step "logout revokes the cookie's login"
expect 200 "logout with the cookie" POST /api/v1/logout -b "$WORK/jar" -c "$WORK/jar-after" -H "Origin: $OWN"
grep -q "sl_session" "$WORK/jar" || fail "test bug: no cookie was kept"
expect 401 "the old cookie after logout" GET /api/v1/devices -b "$WORK/jar" -H "Origin: $OWN"

step "tokens shaped like a login's that nobody made are asked of the registry slowly from one address, and hold up nobody else"
for _ in $(seq 20); do
  case "$(status GET /api/v1/devices --interface 127.0.0.6 -H "Authorization: Bearer $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')")" in
    401) ;;
    429) grep -q "too many unknown tokens from this address" "$WORK/body" || fail "a 429 without the reason: $(cat "$WORK/body")" ;;
    *) fail "a made-up token: $(cat "$WORK/body")" ;;
  esac
done
scrape "$OWN/metrics" "$WORK/metrics.txt"
# (Every refused token counts as "token"; those refused unasked count as "token_throttled" too.)
HELD=$(metric "$WORK/metrics.txt" 'shadowlink_auth_failures_total{what="token_throttled"}')
[ "$HELD" -ge 10 ] || fail "20 made-up tokens from one address: only $HELD refused without a registry lookup"
echo "ok: of 20 made-up tokens from 127.0.0.6, $HELD were refused without a registry lookup"
expect 200 "an API token from that address at once" GET /api/v1/devices --interface 127.0.0.6 -H "Authorization: Bearer $API_TOKEN"
login "$WORK/after-guesses"
expect 200 "a login from another address at once" GET /api/v1/devices -b "$WORK/after-guesses" -H "Origin: $OWN"

step "an idle login expires (login_idle_timeout_s: 3); one in use does not"
login "$WORK/idle"
login "$WORK/busy"
for _ in 1 2 3 4 5; do
  sleep 1
  expect 200 "a login in use stays valid" GET /api/v1/devices -b "$WORK/busy" -H "Origin: $OWN"
done
expect 401 "a login idle for 5 s (limit 3 s)" GET /api/v1/devices -b "$WORK/idle" -H "Origin: $OWN"
step "guessing an administrator's password from one address does not lock the administrator out elsewhere"
guess() {  # guess ADDRESS: a wrong password for admin from ADDRESS; the HTTP status
  curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" --interface "$1" \
    -H 'Content-Type: application/json' -d '{"user":"admin","password":"a-guess"}' "$OWN/api/v1/login" || true
}
[ "$(guess 127.0.0.5)" = 401 ] || fail "a wrong password: $(cat "$WORK/body")"
[ "$(guess 127.0.0.5)" = 429 ] || fail "the guesser's next attempt was heard at once: $(cat "$WORK/body")"
login "$WORK/admin-elsewhere"  # (from 127.0.0.1, right away)
echo "ok: the guesser waits (429), the administrator logs in from another address at once"

step "behind a TCP load balancer (haproxy, send-proxy-v2 from 127.0.0.2): the UMS sees the client's address"
hold_port; LB_PORT=$HELD_PORT
cat > "$WORK/haproxy.cfg" <<CFG
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend clients
  bind 127.0.0.1:$LB_PORT
  default_backend ums
backend ums
  server ums 127.0.0.1:$PORT send-proxy-v2 source 127.0.0.2
CFG
release_port "$HELD_PID"
start haproxy haproxy -db -f "$WORK/haproxy.cfg"
wait_port "$LB_PORT" 10
# A failed login from 127.0.0.3 through the balancer: logged (and limited) as 127.0.0.3's.
code=$(curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" --interface 127.0.0.3 \
  --connect-to "localhost:$LB_PORT:127.0.0.1:$LB_PORT" -H 'Content-Type: application/json' \
  -d '{"user":"mallory","password":"guess"}' "https://localhost:$LB_PORT/api/v1/login" || true)
[ "$code" = 401 ] || fail "a login through the balancer: HTTP $code $(cat "$WORK/body")"
wait_log ums "failed login for 'mallory' from 127.0.0.3:[0-9]*" 5
# Through the balancer an administrator from another address logs in: the guesser's penalty is
# 127.0.0.3's, not the balancer's (which every client shares).
code=$(curl -s -o "$WORK/body" -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" --interface 127.0.0.4 \
  --connect-to "localhost:$LB_PORT:127.0.0.1:$LB_PORT" -H 'Content-Type: application/json' -H "Origin: $OWN" \
  -d "{\"user\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "https://localhost:$LB_PORT/api/v1/login" || true)
[ "$code" = 200 ] || fail "an administrator's login through the balancer: HTTP $code $(cat "$WORK/body")"
# The balancer's address without a header (anyone could claim to be it) gets nothing.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" --interface 127.0.0.2 "$OWN/health" || true)
[ "$code" = 000 ] || fail "a connection from the balancer's address without a PROXY header was served: HTTP $code"
wait_log ums "connection from balancer 127.0.0.2:[0-9]* closed: not a PROXY protocol v2 header" 5
# Everyone else connects directly as before (the positive control).
[ "$(status GET /health)" = 200 ] || fail "a direct connection is no longer served"
echo "ok: through haproxy the UMS saw 127.0.0.3 and 127.0.0.4; the balancer's address without a header was refused"
step "a request that trickles in (one header byte every 0.3 s) is cut off at request_timeout_s (3 s), not before"
CUT=$(python3 - "$WORK/data/ca.pem" "$PORT" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5), server_hostname="localhost")
start = time.monotonic()
s.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
s.settimeout(0.3)
while time.monotonic() - start < 20:
    try:
        s.sendall(b"x")
        if not s.recv(1):
            break
    except socket.timeout:
        continue
    except (OSError, ssl.SSLError):
        break
print(f"{time.monotonic() - start:.1f}")
PY
)
python3 -c "import sys; t = float(sys.argv[1]); sys.exit(0 if 2.5 <= t <= 10 else 1)" "$CUT" || fail "the trickling request was cut off after $CUT s (deadline 3 s)"
echo "ok: the trickling request was cut off after $CUT s"
[ "$(status GET /health)" = 200 ] || fail "positive control: a whole request is not served"
echo "rest security: all checks passed"
