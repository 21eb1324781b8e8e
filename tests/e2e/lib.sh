# Helpers for the end-to-end tests: every process is started by PID and stopped on exit, every
# wait is bounded. Sourced by the test scripts; $BIN (the build's apps dir) and $TOOLS are set by ctest.
set -euo pipefail

WORK=$(mktemp -d /tmp/shadowlink-e2e.XXXXXX)
PIDS=()

SECRETS=()  # secrets a test minted at run time (session tokens); `secret VALUE` adds one

# The credentials the tests use, and what configs store of them (never the plain text): the admin
# password's PBKDF2 hash (at a test's low cost) and the API token's SHA-256.
ADMIN_PASSWORD=s3cret-pass
API_TOKEN=0123456789abcdef0123
METRICS_TOKEN=metrics-scrape-token-0123456789
ADMIN_HASH=$("$BIN/shadowlinkd" hash-password --iterations 1000 <<<"$ADMIN_PASSWORD")
TOKEN_SHA=$(printf %s "$API_TOKEN" | sha256sum | cut -c1-64)
SECRETS+=("$ADMIN_PASSWORD" "$API_TOKEN" "$METRICS_TOKEN")

secret() { SECRETS+=("$@"); }

# What configs hold instead of a credential: a process's own credential sits in a file only its
# user may read (`credential_file VALUE` writes one and prints its path); what a server checks a
# peer's credential against is its SHA-256 (`sha256_of VALUE`). Both run in $(...) subshells, so
# check_no_secrets reads the files back instead of relying on SECRETS.
sha256_of() { printf %s "$1" | sha256sum | cut -c1-64; }
credential_file() {
  local f="$WORK/secrets/$(sha256_of "$1" | cut -c1-12)"
  mkdir -p "$WORK/secrets"
  (umask 077; printf '%s\n' "$1" > "$f")
  echo "$f"
}

# check_no_secrets: no log of this test contains a password, token or credential it used: those
# in its JSON files (keys password, credential, token, ums_credential; 8 characters or more), in
# its credential files and those added with `secret`. Logs are every *.log in $WORK (daemons, consoles, tools).
check_no_secrets() {
  python3 - "$WORK" "${SECRETS[@]}" <<'PY'
import glob, json, os, sys
work, extra = sys.argv[1], sys.argv[2:]
extra += [open(f).read().strip() for f in glob.glob(os.path.join(work, "secrets", "*"))]
secrets = set(s for s in extra if len(s) >= 8)
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("password", "credential", "token", "ums_credential") and isinstance(x, str) and len(x) >= 8:
                secrets.add(x)
            walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
for f in glob.glob(os.path.join(work, "*.json")):
    try: walk(json.load(open(f)))
    except (ValueError, OSError): pass
leaks = []
for f in glob.glob(os.path.join(work, "*.log")):
    text = open(f, errors="replace").read()
    leaks += [f"{os.path.basename(f)}: {s[:4]}... ({len(s)} characters)" for s in secrets if s in text]
if leaks:
    print("FAIL: secrets in logs:", *leaks, sep="\n  ")
    sys.exit(1)
print(f"no secret in the logs ({len(secrets)} secrets checked)")
PY
}

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ $rc -eq 0 ]; then check_no_secrets || rc=1; fi
  if [ $rc -ne 0 ]; then
    echo "---- logs ($WORK) ----"
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -40 "$f"; }; done
  fi
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- [${SECONDS}s] $*"; }  # seconds since the script started: where a slow run spent its time

# start NAME CMD...: runs CMD in the background with its output in $WORK/NAME.log; sets $LAST_PID.
start() {
  local name=$1; shift
  "$@" > "$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# Tests give every listener port 0 and read the port the kernel chose: no test draws a free port
# that another process could take before it binds. A restarted server is given the port its first
# run reported.
# start_daemon NAME CONFIG [WRAP]: shadowlinkd on CONFIG (under WRAP, e.g. env with a preload), output in NAME.log, the ports its services
# listen on in NAME.ports (--port-file); sets $LAST_PID.
start_daemon() {
  rm -f "$WORK/$1.ports"
  # shellcheck disable=SC2086  # (WRAP: a command and its words, which must exec the daemon: its PID is the one stopped)
  start "$1" ${3:-} "$BIN/shadowlinkd" --config "$2" --port-file "$WORK/$1.ports"
}
# daemon_port NAME [SERVICE]: the port service SERVICE (default: the first listening one) of the
# daemon started as NAME listens on, once it has started.
daemon_port() {
  local f=$WORK/$1.ports p
  for _ in $(seq 150); do [ -f "$f" ] && break; sleep 0.1; done
  [ -f "$f" ] || fail "shadowlinkd $1 wrote no port file within 15 s"
  p=$(awk -v s="${2:-}" 's == "" || $1 == s { print $2; exit }' "$f")
  [ -n "$p" ] || fail "$1.ports has no port for '${2:-}': $(cat "$f")"
  echo "$p"
}
# pid_port PID: the TCP port process PID listens on, for programs that do not say (s_server, tinyproxy).
pid_port() {
  local p
  for _ in $(seq 100); do
    p=$(ss -Hltnp | awk -v k="pid=$1," 'index($0, k) && !found { n = split($4, a, ":"); print a[n]; found = 1 }' || true)
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.1
  done
  fail "process $1 listens on no TCP port after 10 s"
}
# hold_port: a port the kernel picked, held by a bound socket that does not listen (connections to
# it are refused), for the few programs that need a number in advance: tinyproxy, and servers that
# must appear later at an address their clients were already given. Sets HELD_PORT and HELD_PID;
# `release_port PID` frees it just before such a program binds it.
hold_port() {
  local name=held-${#PIDS[@]}
  start "$name" python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1], flush=True); time.sleep(3600)'
  HELD_PID=$LAST_PID HELD_PORT=
  for _ in $(seq 50); do HELD_PORT=$(head -1 "$WORK/$name.log" 2> /dev/null || true); [ -n "$HELD_PORT" ] && return 0; sleep 0.1; done
  fail "hold_port: the holder reported no port"
}
release_port() { kill "$1"; wait "$1" 2> /dev/null || true; }
# start_gateway CREDENTIAL [SETTINGS]: the ICG (config icg.json, log icg.log; more settings as
# JSON members) that accepts the UMS presenting CREDENTIAL. It starts first: it creates the
# installation CA in the UMS's data directory ($WORK/data), and the UMS's config names its port.
# Sets ICG_PORT and ICG_PID.
start_gateway() {
  cat > "$WORK/icg.json" <<JSON
{"data_dir": "$WORK/icg-data", "services": [{"type": "icg", "name": "icg", "settings": {"port": 0,
  "ums_credential_sha256": "$(sha256_of "$1")", "ca_dir": "$WORK/data"${2:+, $2}}}]}
JSON
  start_daemon icg "$WORK/icg.json"; ICG_PID=$LAST_PID
  ICG_PORT=$(daemon_port icg)
}
# gateway_entry CREDENTIAL [SETTINGS]: the UMS's "gateways" entry for that gateway.
gateway_entry() {
  echo "{\"name\": \"icg\", \"url\": \"wss://127.0.0.1:$ICG_PORT\", \"external_url\": \"wss://localhost:$ICG_PORT\",
    \"credential_file\": \"$(credential_file "$1")\"${2:+, $2}}"
}
# keep_port CONFIG PORT: the listener's "port": 0 in CONFIG becomes PORT, for a restart on the
# port its clients were given.
keep_port() {
  grep -q '"port": 0\b' "$1" || fail "keep_port: $1 has no \"port\": 0"
  sed -i "s/\"port\": 0\b/\"port\": $2/" "$1"
}
# listen_port NAME [SECONDS]: the port a process reported in NAME.log: a console whose session is
# ready ("vncviewer ADDRESS::PORT"), a daemon without a port file ("listening on ADDRESS:PORT").
listen_port() {
  local p
  for _ in $(seq $((${2:-15} * 10))); do
    p=$(grep -oE "listening on [^ ]*:[0-9]+|vncviewer [^ ]*::[0-9]+" "$WORK/$1.log" 2>/dev/null |
        tail -1 | grep -oE '[0-9]+$' || true)
    [ -n "$p" ] && { echo "$p"; return 0; }
    sleep 0.1
  done
  fail "$1.log reports no listening port within ${2:-15} s"
}

wait_port() {  # wait_port PORT SECONDS: for a server restarted on the port its first run reported
  for _ in $(seq $(($2 * 10))); do port_free "$1" || return 0; sleep 0.1; done
  fail "nothing listens on port $1 after $2 s"
}

wait_log() {  # wait_log NAME PATTERN SECONDS
  for _ in $(seq $(($3 * 10))); do grep -q -- "$2" "$WORK/$1.log" 2>/dev/null && return 0; sleep 0.1; done
  fail "'$2' did not appear in $1.log within $3 s"
}

# ensure_playwright: the browser tests' driver (tests/browser, playwright-core pinned in its lock file).
BROWSER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../browser" && pwd)
ensure_playwright() {
  command -v chromium > /dev/null || fail "Debian's chromium is not installed (scripts/deps.sh installs it)"
  [ -d "$BROWSER_DIR/node_modules/playwright-core" ] && return 0
  step "installing playwright-core from the npm registry (tests/browser/package-lock.json)"
  (cd "$BROWSER_DIR" && timeout 300 npm ci --no-audit --no-fund) || fail "npm ci in tests/browser failed"
}

# browse URL USER PASSWORD DEVICE DISPLAY NAME: tests/browser/webapp.mjs against the Web App for
# DEVICE (shown on X display DISPLAY); screenshots in $ARTIFACTS/NAME, output in $WORK/browser-NAME.log.
browse() {
  local dir=${ARTIFACTS:-$WORK}/$6
  mkdir -p "$dir"
  DEVICE_DISPLAY=$5 EXPECT_STEP=${EXPECT_STEP:-} REFUSED_DEVICE=${REFUSED_DEVICE:-} EXPECT_OS=${EXPECT_OS:-OS 12} timeout 150 node "$BROWSER_DIR/webapp.mjs" "$1" "$2" "$3" "$4" "$dir" | tee "$WORK/browser-$6.log"
  grep -q "ok: after logout" "$WORK/browser-$6.log" || fail "the browser test ($6) did not finish"
}

wait_count() {  # wait_count NAME PATTERN N SECONDS: until PATTERN is on at least N lines of NAME.log
  local n
  for _ in $(seq $(($4 * 10))); do
    n=$(grep -c -- "$2" "$WORK/$1.log" 2>/dev/null || true)
    [ "${n:-0}" -ge "$3" ] && return 0
    sleep 0.1
  done
  fail "'$2' did not appear $3 times in $1.log within $4 s"
}

# start_xvnc: a TigerVNC server showing a red/blue checkerboard (16x16 tiles of 8x8 squares,
# red at the top-left), listening on a Unix socket only. Sets VNC_SOCKET (a device agent's
# vnc_socket) and VNC_DISPLAY (":N", for X clients on that screen).
start_xvnc() {
  local display
  for display in $(shuf -i 100-400 -n 50); do
    [ -e "/tmp/.X$display-lock" ] || [ -e "/tmp/.X11-unix/X$display" ] || break
  done
  VNC_SOCKET=$WORK/vnc.sock
  start xvnc Xvnc ":$display" -geometry 320x240 -depth 24 -rfbport -1 -rfbunixpath "$VNC_SOCKET" \
    -nolisten tcp -SecurityTypes None -AlwaysShared
  for _ in $(seq 100); do [ -S "$VNC_SOCKET" ] && break; sleep 0.1; done
  [ -S "$VNC_SOCKET" ] || fail "Xvnc made no socket $VNC_SOCKET within 10 s"
  printf '#define cb_width 16\n#define cb_height 16\nstatic unsigned char cb_bits[] = {\n%s\n%s};\n' \
    "$(printf '0xff,0x00,%.0s' $(seq 8))" "$(printf '0x00,0xff,%.0s' $(seq 8) | sed 's/,$//')" > "$WORK/cb.xbm"
  DISPLAY=":$display" timeout 10 xsetroot -bitmap "$WORK/cb.xbm" -fg red -bg blue
  VNC_DISPLAY=":$display"
}
# Where a device's VNC server is not running: nothing listens on this socket path.
CLOSED_VNC_SOCKET=$WORK/no-vnc-server.sock

# check_checkerboard FILE [DX DY]: red at (4,4) and (12,12), blue at (12,4) and (4,12) (shifted by
# DX, DY when the picture is inside a window), and the negative control: the same probe must reject
# the wrong colour.
check_checkerboard() {
  local f=$1 dx=${2:-0} dy=${3:-0}
  [ -s "$f" ] || fail "$f was not written"
  probe() { "$TOOLS/png_probe" "$f" $(($1 + dx)) $(($2 + dy)) "${@:3}"; }
  probe 4 4 255 0 0 >/dev/null || fail "$f: (4,4) is $(probe 4 4), expected red"
  probe 12 12 255 0 0 >/dev/null || fail "$f: (12,12) is not red"
  probe 12 4 0 0 255 >/dev/null || fail "$f: (12,4) is $(probe 12 4), expected blue"
  probe 4 12 0 0 255 >/dev/null || fail "$f: (4,12) is not blue"
  if probe 4 4 0 0 255 >/dev/null; then fail "negative control: (4,4) passed as blue"; fi
  if probe 12 4 255 0 0 >/dev/null; then fail "negative control: (12,4) passed as red"; fi
  echo "pixels ok in $(basename "$f") (red/blue checkerboard, negative control rejected)"
}

# write_ums_config FILE [PORT]: a UMS with one admin and two devices, on PORT (0: any free port).
write_ums_config() {
  cat > "$1" <<JSON
{"log_level": "info", "data_dir": "$WORK/data", "services": [
  {"type": "ums", "name": "ums", "settings": {
    "port": ${2:-0},
    "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}],
    "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
    "metrics_token_sha256": "$(sha256_of "$METRICS_TOKEN")",
    "devices": [{"id": "tc-1", "name": "Thin client 1", "credential_sha256": "$(sha256_of tc-1-credential)", "consent": "none"},
                {"id": "tc-2", "name": "Thin client 2", "credential_sha256": "$(sha256_of tc-2-credential)", "consent": "none"}]}}]}
JSON
}

# record_tc1 CONFIG: tc-1's sessions are recorded (in a config of write_ums_config's).
record_tc1() {
  sed -i 's/"id": "tc-1", \(.*\)"consent": "none"}/"id": "tc-1", \1"consent": "none", "record": "on"}/' "$1"
  grep -q '"record": "on"' "$1" || fail "test bug: the config does not record tc-1"
}

# start_ums_and_tc1 [record|-] [EDIT]: the UMS of write_ums_config (tc-1 recorded with "record";
# EDIT, a command, is given the config file to change before it is used) and tc-1's agent on
# start_xvnc's screen, tc-1 online. Sets UMS_PORT and CLI (the console with the API token).
start_ums_and_tc1() {
  write_ums_config "$WORK/ums.json"
  [ "${1:-}" = record ] && record_tc1 "$WORK/ums.json"
  [ -n "${2:-}" ] && "$2" "$WORK/ums.json"
  start_daemon ums "$WORK/ums.json"
  UMS_PORT=$(daemon_port ums)
  CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
  write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
  start device "$BIN/shadowlinkd" --config "$WORK/tc1.json"
  DEVICE_PID=$LAST_PID
  wait_log ums "device tc-1 online" 15
}

# free_display FIRST LAST: an X display number in that range that no server uses.
free_display() {
  local d
  for d in $(shuf -i "$1-$2" -n 50); do [ -e "/tmp/.X$d-lock" ] || [ -e "/tmp/.X11-unix/X$d" ] || break; done
  echo "$d"
}

# write_device_config FILE ID CREDENTIAL UMS_PORT|SERVER_URL VNC_SOCKET: the credential in a file of
# its own (0600), as a real installation keeps it; the UMS's port, or a connector's URL (a gateway's).
write_device_config() {
  local server=$4
  [[ $server == wss://* ]] || server="wss://127.0.0.1:$4/up"
  cat > "$1" <<JSON
{"log_level": "info", "data_dir": "$WORK/device-data", "services": [
  {"type": "device", "name": "$2", "settings": {
    "device_id": "$2", "credential_file": "$(credential_file "$3")", "server": "$server",
    "ca_file": "$WORK/data/ca.pem", "vnc_socket": "$5", "reconnect_min_ms": 200, "reconnect_max_ms": 2000}}]}
JSON
}

# scrape URL OUT: GET /metrics with the metrics token, checked by Prometheus' own promtool.
scrape() {
  local code
  code=$(curl -s -o "$2" -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $METRICS_TOKEN" "$1")
  [ "$code" = 200 ] || fail "$1 answered HTTP $code: $(cat "$2")"
  promtool check metrics < "$2" > "$WORK/promtool.out" 2>&1 || fail "promtool rejects $1: $(cat "$WORK/promtool.out")"
}
# metric FILE 'NAME{LABELS}': the sample's value (0 when absent).
metric() { awk -v k="$2 " 'index($0, k) == 1 { v = substr($0, length(k) + 1) } END { print v + 0 }' "$1"; }

# Input checks with a scripted viewer (tests/tools/rfb_input.py: a pointer move to 40,50, a click,
# the key "a" and a clipboard text). watch_device_input first puts the device's pointer at 300,200,
# its clipboard to "before" and starts an xev log of its keys ($WORK/xev.log).
RFB_INPUT="$(dirname "${BASH_SOURCE[0]}")/../tools/rfb_input.py"
watch_device_input() {
  start xev xev -display "$VNC_DISPLAY" -root -event keyboard
  sleep 0.5
  DISPLAY=$VNC_DISPLAY xdotool mousemove 300 200
  DISPLAY=$VNC_DISPLAY xclip -selection clipboard <<<"before"
}
# scripted_input NAME COMMAND...: COMMAND (a `shadowlink ... shadow DEVICE ...`) proxies a local
# port for the scripted viewer; CLIPBOARD is the device's clipboard while that viewer is connected.
scripted_input() {
  local name=$1 port; shift
  start "$name" "$@" --listen 127.0.0.1:0
  port=$(listen_port "$name" 20)
  start "$name-viewer" timeout 30 python3 "$RFB_INPUT" 127.0.0.1 "$port" 40 50 3
  wait_log "$name-viewer" "sent pointer" 20
  sleep 0.5
  CLIPBOARD=$(DISPLAY=$VNC_DISPLAY timeout 5 xclip -o -selection clipboard || true)
  wait_log "$name" "ended: viewer closed" 15
}
device_pointer_at() { [ "$(DISPLAY=$VNC_DISPLAY xdotool getmouselocation | cut -d' ' -f1-2)" = "x:$1 y:$2" ]; }
# input_stayed_off WHAT: nothing of the scripted viewer reached the device.
input_stayed_off() {
  device_pointer_at 300 200 || fail "$1: the pointer reached the device"
  if grep -q "keysym 0x61, a" "$WORK/xev.log"; then fail "$1: the key reached the device"; fi
  [ "$CLIPBOARD" = before ] || fail "$1: the clipboard text reached the device: '$CLIPBOARD'"
}
# input_arrived WHAT: all of it did (the positive control of input_stayed_off).
input_arrived() {
  for _ in $(seq 30); do grep -q "keysym 0x61, a" "$WORK/xev.log" && break; sleep 0.1; done
  grep -q "keysym 0x61, a" "$WORK/xev.log" || fail "$1: the key did not reach the device"
  device_pointer_at 40 50 || fail "$1: the pointer did not reach the device"
  [ "$CLIPBOARD" = "shadowlink clipboard check" ] || fail "$1: the device's clipboard is '$CLIPBOARD', not the viewer's text"
}

# What a process holds, for "nothing of the session stayed behind" checks.
fds() { ls "/proc/$1/fd" | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# fds_back NAME PID BASELINE: within 10 s the (living) process holds no more descriptors than BASELINE.
fds_back() {
  local n
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || fail "$1 (PID $2) is gone"
    n=$(fds "$2"); [ "$n" -le "$3" ] && { echo "ok: $1 holds $n descriptors (before the session: $3)"; return 0; }
    sleep 0.1
  done
  ls -l "/proc/$2/fd" >&2
  fail "$1 holds $n descriptors, $3 before the session: something of the session was left open"
}
# The UMS at $UMS_PORT, with the automation token: its session list; a new console session's
# answer (open_session DEVICE OUT: the JSON in OUT, its token counted as a secret).
rest_sessions() { curl -s --max-time 5 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "https://127.0.0.1:$UMS_PORT/api/v1/sessions" || echo unreachable; }
no_sessions_left() {
  for _ in $(seq 100); do [ "$(rest_sessions)" = '{"sessions":[]}' ] && { echo "ok: the UMS lists no session"; return 0; }; sleep 0.1; done
  fail "sessions left at the UMS: $(rest_sessions)"
}
open_session() {
  curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" -H "Content-Type: application/json" \
    -d "{\"device\":\"$1\"}" "https://127.0.0.1:$UMS_PORT/api/v1/sessions" > "$2"
  grep -q '"session_id"' "$2" || fail "no session for $1: $(cat "$2")"
  secret "$(sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p' "$2")"
}
# watch_session NAME DEVICE: `shadowlink shadow DEVICE` (the CLI array must be set) proxies for
# tests/tools/rfb_watch.py, which reads full screens until the session ends; returns once the
# screen flows. Sets WATCH_CONSOLE, VIEWER_PID (the viewer itself, not its `timeout`) and SESSION.
RFB_WATCH="$(dirname "${BASH_SOURCE[0]}")/../tools/rfb_watch.py"
watch_session() {
  start "$1" "${CLI[@]}" shadow "$2" --listen 127.0.0.1:0; WATCH_CONSOLE=$LAST_PID
  local port; port=$(listen_port "$1" 20)
  start "$1-viewer" timeout 120 python3 "$RFB_WATCH" 127.0.0.1 "$port" 0.05
  wait_log "$1-viewer" "rfb_watch: 3 updates" 20
  VIEWER_PID=$(pgrep -P "$LAST_PID" python3)
  SESSION=$(grep -o 'session s-[0-9a-f]*' "$WORK/$1.log" | head -1 | cut -d' ' -f2)
}
