#!/usr/bin/env bash
# A gateway (ICG) serving a cluster: UMS nodes a and b on one database each keep their own link to
# it. The gateway announces its devices to one node, its home; the other node shadows them through
# its own link (the session is that node's alone, its reports come back on its link). The home
# node killed with SIGKILL, the gateway announces its devices to the other node, and the session
# that node runs through the gateway goes on. A node without a link to the gateway refuses with
# the node to ask. And an OS 11 device linked to one node is shadowed from the other (console and
# Web App): the device's node says its legacy port and certificate, both derive the password.
# Node b's clock is 90 s ahead (faketime): the nodes' times follow the database server's, so its
# sealed messages are taken all the same.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"
CRED=cluster-gateway-credential-0123456789
secret "$CRED"

step "start Xvnc, a gateway, and UMS nodes a and b on one database, both linked to the gateway"
start_xvnc
start_gateway "$CRED"
DEVICES="[{\"id\": \"remote-1\", \"name\": \"Home office\", \"credential_sha256\": \"$(sha256_of remote-1-credential)\", \"consent\": \"none\"},
          {\"id\": \"tc-11\", \"name\": \"Legacy\", \"credential_sha256\": \"$(sha256_of tc-11-credential)\", \"consent\": \"none\"}]"
# (libfaketime preloaded by env, which execs the daemon: its PID is the one the test stops. The
# faketime program would run it as a child of its own, left behind when the test stops faketime.)
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketime.so.1 2> /dev/null | head -1)
[ -n "$FAKETIME_LIB" ] || fail "libfaketime is not installed (Debian package faketime)"
NODE_WRAP[b]="env LD_PRELOAD=$FAKETIME_LIB FAKETIME=+90s FAKETIME_DONT_FAKE_MONOTONIC=1"
start_nodes "{\"devices\": $DEVICES, \"heartbeat_s\": 1, \"gateways\": [$(gateway_entry "$CRED")]}" a b
wait_log ums-b "this node's clock is 90 s ahead of the database server's" 5
gateway_stat() {  # gateway_stat KEY: a value of the gateway's /stats
  curl -s --max-time 5 --cacert "$WORK/data/ca.pem" "https://127.0.0.1:$ICG_PORT/stats" | python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"
}
for _ in $(seq 100); do [ "$(gateway_stat ums_links)" = 2 ] && break; sleep 0.1; done
[ "$(gateway_stat ums_links)" = 2 ] || fail "the gateway holds $(gateway_stat ums_links) UMS link(s), not one of each node"
grep -q "UMS node a connected" "$WORK/icg.log" && grep -q "UMS node b connected" "$WORK/icg.log" || fail "the nodes did not name themselves to the gateway"
if grep -q "replaced by a newer connection" "$WORK/ums-a.log" "$WORK/ums-b.log"; then fail "one node's link replaced the other's"; fi

step "a device behind the gateway is announced to one node, the gateway's home"
cat > "$WORK/remote.json" <<JSON
{"data_dir": "$WORK/remote-data", "services": [{"type": "device", "name": "remote-1", "settings": {
  "device_id": "remote-1", "credential_file": "$(credential_file remote-1-credential)", "server": "wss://localhost:$ICG_PORT/up",
  "enroll": false, "ca_file": "$WORK/data/ca.pem", "vnc_socket": "$VNC_SOCKET", "reconnect_min_ms": 200, "reconnect_max_ms": 1000}}]}
JSON
start remote "$BIN/shadowlinkd" --config "$WORK/remote.json"
HOME_NODE=$(wait_presence remote-1)
OTHER=$(other_node "$HOME_NODE")
[ "$(gateway_stat home_node)" = "$HOME_NODE" ] || fail "remote-1 is online at node $HOME_NODE, the gateway's home is $(gateway_stat home_node)"
[ "$(sql "SELECT via FROM presence WHERE device = 'remote-1'")" = icg ] || fail "the registry does not say remote-1 is behind gateway icg"
if grep -q "device remote-1 online" "$WORK/ums-$OTHER.log"; then fail "remote-1 was announced to node $OTHER as well"; fi
echo "the gateway's home is node $HOME_NODE; node $OTHER asks it on its own link"

step "node $OTHER shadows remote-1 through its own link to the gateway: console and Web App"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$OTHER]}")"
"${CLI[@]}" snapshot remote-1 "$WORK/other.png" > "$WORK/other.log" 2>&1 || fail "snapshot at node $OTHER: $(cat "$WORK/other.log")"
check_checkerboard "$WORK/other.png"
SESSION=$(grep -o "ums-$OTHER/s-[0-9a-f]*\] console session requested by automation for device remote-1 via gateway icg" "$WORK/ums-$OTHER.log" |
  tail -1 | sed 's#ums-[ab]/\(s-[0-9a-f]*\)\].*#\1#')
[ -n "$SESSION" ] || fail "node $OTHER did not ask the gateway itself"
wait_log icg "$SESSION\] asked device remote-1 for automation" 5
wait_log "ums-$OTHER" "$SESSION\] AUDIT session ended" 10
if grep -q "$SESSION" "$WORK/ums-$HOME_NODE.log"; then fail "node $HOME_NODE took part in $OTHER's session $SESSION"; fi
"$BIN/shadowlink" --server "https://127.0.0.1:${NODE_PORT[$OTHER]}" --ca "$WORK/data/ca.pem" -u admin -p "$ADMIN_PASSWORD" \
  snapshot remote-1 "$WORK/other-web.png" --webapp > "$WORK/other-web.log" 2>&1 || fail "Web App snapshot at node $OTHER: $(cat "$WORK/other-web.log")"
check_checkerboard "$WORK/other-web.png"
grep -q "web app session by admin for device remote-1 via gateway icg" "$WORK/ums-$OTHER.log" || fail "node $OTHER's Web App session did not go through its gateway link"

step "an OS 11 device linked to node a is shadowed from node b: console and Web App"
cat > "$WORK/tc11.json" <<JSON
{"data_dir": "$WORK/tc11-data", "services": [{"type": "device", "name": "tc-11", "settings": {
  "device_id": "tc-11", "credential_file": "$(credential_file tc-11-credential)", "server": "wss://127.0.0.1:${NODE_PORT[a]}/up", "ca_file": "$WORK/data/ca.pem",
  "vnc_socket": "$VNC_SOCKET", "os": "11", "legacy_listen": "127.0.0.1", "legacy_port": 0,
  "consent": "ask", "consent_command": ["sleep", "1"], "display": "$VNC_DISPLAY"}}]}
JSON
start_daemon tc11 "$WORK/tc11.json"
[ "$(wait_presence tc-11)" = a ] || fail "tc-11 is not online at node a"
read -ra CLI <<<"$(cli_at "${NODE_PORT[b]}")"
"${CLI[@]}" snapshot tc-11 "$WORK/os11.png" > "$WORK/os11.log" 2>&1 || fail "OS 11 snapshot at node b: $(cat "$WORK/os11.log")"
check_checkerboard "$WORK/os11.png"
LEGACY=$(grep -o "ums-b/s-[0-9a-f]*\] device tc-11 is linked to node a" "$WORK/ums-b.log" | tail -1 | sed 's#ums-b/\(s-[0-9a-f]*\)\].*#\1#')
[ -n "$LEGACY" ] || fail "node b did not route tc-11's session through node a"
grep -q "device tc-11: shadow request $LEGACY of node b" "$WORK/ums-a.log" || fail "node a did not pass on $LEGACY"
wait_log tc11 "presented the session password on the legacy port" 5
wait_log ums-b "$LEGACY\] AUDIT session ended" 15
"$BIN/shadowlink" --server "https://127.0.0.1:${NODE_PORT[b]}" --ca "$WORK/data/ca.pem" -u admin -p "$ADMIN_PASSWORD" \
  snapshot tc-11 "$WORK/os11-web.png" --webapp > "$WORK/os11-web.log" 2>&1 || fail "OS 11 Web App snapshot at node b: $(cat "$WORK/os11-web.log")"
check_checkerboard "$WORK/os11-web.png"
wait_log ums-b "web app session (OS 11) by admin for device tc-11" 5
if grep -q "refused a message" "$WORK/ums-a.log" "$WORK/ums-b.log"; then fail "a node refused the other's sealed message: $(grep -h "refused a message" "$WORK"/ums-?.log)"; fi

step "node $OTHER watches remote-1 through the gateway; node $HOME_NODE is killed: the gateway announces its devices to node $OTHER, and the session goes on"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$OTHER]}")"
watch_session watch remote-1
WATCHED=$SESSION
[ -n "$WATCHED" ] || fail "test bug: no session id in watch.log"
kill -KILL "${NODE_PID[$HOME_NODE]}"
wait_log icg "devices are announced to UMS node $OTHER" 15
[ "$(wait_presence remote-1 "$HOME_NODE")" = "$OTHER" ] || fail "remote-1 is not online at node $OTHER"
SEEN=$(grep -c "rfb_watch: [0-9]* updates" "$WORK/watch-viewer.log")
wait_count watch-viewer "rfb_watch: [0-9]* updates" $((SEEN + 2)) 20
if grep -q "$WATCHED.*session ended" "$WORK/icg.log" "$WORK/ums-$OTHER.log"; then fail "$WATCHED ended with node $HOME_NODE"; fi
kill -0 "$WATCH_CONSOLE" 2> /dev/null || fail "the console of $WATCHED ended with node $HOME_NODE"
"${CLI[@]}" end "$WATCHED" > "$WORK/end.log" 2>&1 || fail "ending $WATCHED: $(cat "$WORK/end.log")"
wait_log icg "$WATCHED\] session ended" 10
"${CLI[@]}" snapshot remote-1 "$WORK/after-kill.png" > "$WORK/after-kill.log" 2>&1 || fail "snapshot after the kill: $(cat "$WORK/after-kill.log")"
check_checkerboard "$WORK/after-kill.png"

step "node $HOME_NODE comes back without the gateway in its config: it refuses remote-1 and names the node to ask"
python3 - "$WORK/ums-$HOME_NODE.json" "${NODE_PORT[$HOME_NODE]}" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["services"][0]["settings"]["port"] = int(sys.argv[2])
del config["services"][0]["settings"]["gateways"]
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
mv "$WORK/ums-$HOME_NODE.log" "$WORK/ums-$HOME_NODE-killed.log"
start_daemon "ums-$HOME_NODE" "$WORK/ums-$HOME_NODE.json"; NODE_PID[$HOME_NODE]=$LAST_PID
wait_log "ums-$HOME_NODE" "listening for the other nodes' messages" 15
read -ra CLI <<<"$(cli_at "${NODE_PORT[$HOME_NODE]}")"
if "${CLI[@]}" snapshot remote-1 "$WORK/unlinked.png" > "$WORK/unlinked.log" 2>&1; then fail "node $HOME_NODE shadowed remote-1 without a link to its gateway"; fi
grep -q "device is behind gateway icg, which node $HOME_NODE is not linked to: ask node $OTHER" "$WORK/unlinked.log" || fail "unclear refusal: $(cat "$WORK/unlinked.log")"

step "node $HOME_NODE links to the gateway again and watches remote-1 through it; killed, its session ends at the gateway, which goes on serving node $OTHER"
kill "${NODE_PID[$HOME_NODE]}"; wait "${NODE_PID[$HOME_NODE]}" 2> /dev/null || true
python3 - "$WORK/ums-$HOME_NODE.json" "$(gateway_entry "$CRED")" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["services"][0]["settings"]["gateways"] = [json.loads(sys.argv[2])]
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
mv "$WORK/ums-$HOME_NODE.log" "$WORK/ums-$HOME_NODE-unlinked.log"
BEFORE=$(grep -c "UMS node $HOME_NODE connected" "$WORK/icg.log")
start_daemon "ums-$HOME_NODE" "$WORK/ums-$HOME_NODE.json"; NODE_PID[$HOME_NODE]=$LAST_PID
wait_count icg "UMS node $HOME_NODE connected" $((BEFORE + 1)) 15
read -ra CLI <<<"$(cli_at "${NODE_PORT[$HOME_NODE]}")"
watch_session watch-again remote-1
OWNED=$SESSION
[ -n "$OWNED" ] || fail "test bug: no session id in watch-again.log"
wait_log icg "$OWNED\] asked device remote-1" 5
kill -KILL "${NODE_PID[$HOME_NODE]}"
wait_log icg "$OWNED\] session ended" 10
kill -0 "$ICG_PID" 2> /dev/null || fail "the gateway died with node $HOME_NODE's session"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$OTHER]}")"
"${CLI[@]}" snapshot remote-1 "$WORK/last.png" > "$WORK/last.log" 2>&1 || fail "snapshot at node $OTHER after node $HOME_NODE's end: $(cat "$WORK/last.log")"
check_checkerboard "$WORK/last.png"

echo "PASS: cluster_gateway"
