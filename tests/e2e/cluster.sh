#!/usr/bin/env bash
# Three UMS nodes on one PostgreSQL database behind haproxy (TCP, TLS passed through): devices
# link to whichever node the load balancer picks; a console on another node shadows them (the
# session is made where it was asked for, step 2 and the device's answers pass through the
# device's node, the device's tunnel comes to the session's node); every node lists where each
# device is online and every node's sessions, and ends another node's; a node killed with SIGKILL loses its devices to the other nodes within their
# back-off, and they are shadowed there.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

step "start Xvnc and three UMS nodes a, b and c on one database"
start_xvnc
start_nodes '{}' a b c

step "haproxy in front of them: TCP mode, TLS passed through, health checks"
hold_port; HA_PORT=$HELD_PORT
cat > "$WORK/haproxy.cfg" <<CFG
global
  maxconn 2000
defaults
  mode tcp
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  retries 2
  option redispatch
frontend ums
  bind 127.0.0.1:$HA_PORT
  default_backend nodes
backend nodes
  balance roundrobin
  server a 127.0.0.1:${NODE_PORT[a]} check inter 500 fall 2 rise 2
  server b 127.0.0.1:${NODE_PORT[b]} check inter 500 fall 2 rise 2
  server c 127.0.0.1:${NODE_PORT[c]} check inter 500 fall 2 rise 2
CFG
release_port "$HELD_PID"
start haproxy haproxy -db -f "$WORK/haproxy.cfg"
wait_port "$HA_PORT" 10

step "devices tc-1 and tc-2 link through haproxy"
for d in 1 2; do
  write_device_config "$WORK/tc$d.json" "tc-$d" "tc-$d-credential" "wss://127.0.0.1:$HA_PORT/up" "$VNC_SOCKET"
  start "device-$d" "$BIN/shadowlinkd" --config "$WORK/tc$d.json"
done
HOME_1=$(wait_presence tc-1)
HOME_2=$(wait_presence tc-2)
wait_log "ums-$HOME_1" "device tc-1 online" 10
echo "tc-1 is linked to node $HOME_1, tc-2 to node $HOME_2"

step "every node lists both devices online, and where"
for n in a b c; do
  curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" \
    "https://127.0.0.1:${NODE_PORT[$n]}/api/v1/devices" > "$WORK/devices-$n.json"
  python3 - "$WORK/devices-$n.json" "$HOME_1" "$HOME_2" <<'PY' || fail "node $n's device list: $(cat "$WORK/devices-$n.json")"
import json, sys
devices = {d["id"]: d for d in json.load(open(sys.argv[1]))["devices"]}
for device, node in (("tc-1", sys.argv[2]), ("tc-2", sys.argv[3])):
    d = devices[device]
    assert d["online"] is True and d["node"] == node, (device, d)
PY
done
echo "ok: the three nodes list tc-1 on $HOME_1 and tc-2 on $HOME_2"

step "a console on another node than tc-1's shadows it: the picture is tc-1's screen"
ASK_AT=$(other_node "$HOME_1")
read -ra CLI <<<"$(cli_at "${NODE_PORT[$ASK_AT]}")"
"${CLI[@]}" snapshot tc-1 "$WORK/cross.png" > "$WORK/cross.log" 2>&1 || fail "cross-node snapshot: $(cat "$WORK/cross.log")"
check_checkerboard "$WORK/cross.png"
SESSION=$(grep -o "/s-[0-9a-f]*\] device tc-1 is linked to node $HOME_1" "$WORK/ums-$ASK_AT.log" | tail -1 | sed 's#/\(s-[0-9a-f]*\)\].*#\1#')
[ -n "$SESSION" ] || fail "node $ASK_AT did not route the session to node $HOME_1"
grep -q "device tc-1: shadow request $SESSION of node $ASK_AT" "$WORK/ums-$HOME_1.log" || fail "node $HOME_1 did not pass on $SESSION"
# The VNC data ran at the session's node: the device's tunnel came there, not to the device's node.
grep -q "$SESSION.*active: viewer .* <-> device" "$WORK/ums-$ASK_AT.log" || fail "$SESSION was not spliced at node $ASK_AT"
if grep -q "$SESSION.*active" "$WORK/ums-$HOME_1.log"; then fail "$SESSION was spliced at the device's node $HOME_1 too"; fi
wait_log "ums-$ASK_AT" "$SESSION.*AUDIT session ended" 10

step "what nodes send one another is sealed: a message on a node's channel that no node sealed is refused, and the device stays linked"
# (The session above is the positive control: node $ASK_AT's sealed step 2 was taken by node $HOME_1.)
FORGED="{\"from\":\"$ASK_AT\",\"what\":\"drop\",\"device\":\"tc-1\",\"up\":\"{}\"}"
sql "NOTIFY \"shadowlink-node-$HOME_1\", '$FORGED'" > /dev/null
sql "NOTIFY \"shadowlink-node-$HOME_1\", 'v1 $(date +%s%3N) $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n') $(printf %064d 0) $FORGED'" > /dev/null
wait_log "ums-$HOME_1" "cluster: refused a message on this node's channel: not sealed by a node" 5
wait_log "ums-$HOME_1" "cluster: refused a message on this node's channel: a seal that does not match" 5
sleep 1
[ "$(node_of tc-1)" = "$HOME_1" ] || fail "tc-1 left node $HOME_1 after a forged drop"
if grep -q "tc-1.*\(dropped\|offline\)" "$WORK/ums-$HOME_1.log"; then fail "node $HOME_1 acted on a forged message"; fi

step "the same through haproxy, whichever node it reaches (the console follows the session's node), and the Web App's way"
read -ra CLI <<<"$(cli_at "$HA_PORT")"
for i in 1 2 3; do
  "${CLI[@]}" snapshot "tc-$(( i % 2 + 1 ))" "$WORK/lb-$i.png" > "$WORK/lb-$i.log" 2>&1 || fail "snapshot through haproxy ($i): $(cat "$WORK/lb-$i.log")"
  check_checkerboard "$WORK/lb-$i.png"
done
WEB_AT=$(other_node "$HOME_2")
"$BIN/shadowlink" --server "https://127.0.0.1:${NODE_PORT[$WEB_AT]}" --ca "$WORK/data/ca.pem" -u admin -p "$ADMIN_PASSWORD" \
  snapshot tc-2 "$WORK/web.png" --webapp > "$WORK/web.log" 2>&1 || fail "Web App snapshot at node $WEB_AT: $(cat "$WORK/web.log")"
check_checkerboard "$WORK/web.png"
grep -q "device tc-2 is linked to node $HOME_2" "$WORK/ums-$WEB_AT.log" || fail "node $WEB_AT's Web App session did not go through node $HOME_2"

step "a device enrolls with a key made on one node, through haproxy; another node knows it from its hello and shadows it; a third removes it, and its link closes"
read -ra CLI <<<"$(cli_at "${NODE_PORT[a]}")"
KEY=$("${CLI[@]}" enrollment-key create --folder lab --valid-for 600 2> "$WORK/key.err") || fail "enrollment-key create: $(cat "$WORK/key.err")"
secret "$KEY"
write_device_config "$WORK/tc9.json" tc-9 unused "wss://127.0.0.1:$HA_PORT/up" "$VNC_SOCKET"
sed -i "s#\"credential_file\": \"[^\"]*\"#\"enrollment_key_file\": \"$(credential_file "$KEY")\"#" "$WORK/tc9.json"
grep -q enrollment_key_file "$WORK/tc9.json" || fail "test bug: no enrollment key in tc-9's config"
start device-9 "$BIN/shadowlinkd" --config "$WORK/tc9.json"; TC9_PID=$LAST_PID
ENROLLED_AT=$(wait_presence tc-9)
for _ in $(seq 100); do [ -s "$WORK/device-data/tc-9/device.pem" ] && break; sleep 0.1; done
[ -s "$WORK/device-data/tc-9/device.pem" ] || fail "tc-9 got no certificate"
[ "$(sql "SELECT count(*) FROM device_certificates WHERE device = 'tc-9' AND fingerprint != ''")" = 1 ] || fail "tc-9's certificate is not in the registry"
# (gone: wait_gone DEVICE: within 5 s no node has it online, and for 2 s more none takes it back.)
wait_gone() {
  for _ in $(seq 50); do [ -z "$(node_of "$1")" ] && break; sleep 0.1; done
  [ -z "$(node_of "$1")" ] || fail "$1 is still online on node $(node_of "$1")"
  for _ in $(seq 20); do [ -z "$(node_of "$1")" ] || fail "$1 came back on node $(node_of "$1")"; sleep 0.1; done
}
kill "$TC9_PID"; wait "$TC9_PID" 2> /dev/null || true
wait_gone tc-9
# It comes back with its certificate alone, to a node that did not enroll it.
HOME_9=$(other_node "$ENROLLED_AT")
sed -i "s#wss://127.0.0.1:$HA_PORT/up#wss://127.0.0.1:${NODE_PORT[$HOME_9]}/up#" "$WORK/tc9.json"
start device-9-again "$BIN/shadowlinkd" --config "$WORK/tc9.json"; TC9_PID=$LAST_PID
[ "$(wait_presence tc-9)" = "$HOME_9" ] || fail "tc-9 is not on node $HOME_9"
wait_log device-9-again "heartbeat every .*device certificate)" 10
grep -q "device tc-9 online from .*certificate)" "$WORK/ums-$HOME_9.log" || fail "node $HOME_9 did not take tc-9 by its certificate"
SHADOW_AT=$(other_node "$HOME_9")
read -ra CLI <<<"$(cli_at "${NODE_PORT[$SHADOW_AT]}")"
"${CLI[@]}" snapshot tc-9 "$WORK/tc9.png" > "$WORK/tc9-snap.log" 2>&1 || fail "tc-9 from node $SHADOW_AT: $(cat "$WORK/tc9-snap.log")"
check_checkerboard "$WORK/tc9.png"
REMOVE_AT=$(other_node "$HOME_9" "$SHADOW_AT")
read -ra CLI <<<"$(cli_at "${NODE_PORT[$REMOVE_AT]}")"
"${CLI[@]}" remove-device tc-9 > "$WORK/remove.log" 2>&1 || fail "remove-device at node $REMOVE_AT: $(cat "$WORK/remove.log")"
wait_log "ums-$HOME_9" "device tc-9 forgotten: " 5
wait_gone tc-9
wait_log device-9-again "refused the device certificate" 10
kill "$TC9_PID"; wait "$TC9_PID" 2> /dev/null || true
read -ra CLI <<<"$(cli_at "${NODE_PORT[$SHADOW_AT]}")"
if "${CLI[@]}" snapshot tc-9 "$WORK/gone.png" > "$WORK/gone.log" 2>&1; then fail "removed tc-9 was shadowed at node $SHADOW_AT"; fi
grep -q "unknown device\|device is offline" "$WORK/gone.log" || fail "unclear refusal: $(cat "$WORK/gone.log")"
# Its used key, presented again without the certificate, opens nothing at any node.
mv "$WORK/device-data/tc-9/device.pem" "$WORK/device-data/tc-9/device.key" "$WORK/"
for n in a b c; do
  sed -i "s#wss://127.0.0.1:[0-9]*/up#wss://127.0.0.1:${NODE_PORT[$n]}/up#" "$WORK/tc9.json"
  start "device-9-key-$n" "$BIN/shadowlinkd" --config "$WORK/tc9.json"; KEY_PID=$LAST_PID
  wait_log "device-9-key-$n" "refused the device" 10
  kill "$KEY_PID"; wait "$KEY_PID" 2> /dev/null || true
  if grep -q "connected to .* as tc-9" "$WORK/device-9-key-$n.log"; then fail "node $n let removed tc-9 in with its used key"; fi
done
echo "ok: removed tc-9's certificate and used key are refused at every node"

step "tc-2's certificate is revoked on a node its link is not on: its link closes there within seconds"
REVOKE_AT=$(other_node "$HOME_2")
read -ra CLI <<<"$(cli_at "${NODE_PORT[$REVOKE_AT]}")"
BEFORE=$(grep -c "device tc-2 offline" "$WORK/ums-$HOME_2.log" || true)
"${CLI[@]}" revoke-certificate tc-2 > "$WORK/revoke.log" 2>&1 || fail "revoke at node $REVOKE_AT: $(cat "$WORK/revoke.log")"
wait_count "ums-$HOME_2" "device tc-2 offline" $((BEFORE + 1)) 5
wait_gone tc-2
wait_log device-2 "refused the device certificate" 10

step "a right granted on one node holds on the others within seconds, and so does a deny"
GRANT_AT=$(other_node "$HOME_1")
USE_AT=$(other_node "$HOME_1" "$GRANT_AT")
olga_at() { "$BIN/shadowlink" --server "https://127.0.0.1:${NODE_PORT[$1]}" --ca "$WORK/data/ca.pem" -u olga -p "$ADMIN_PASSWORD" "${@:2}"; }
olga_devices_at() { olga_at "$1" devices --json | python3 -c '
import json, sys
print(" ".join(d["id"] + "=" + d["access"] for d in json.load(sys.stdin)["devices"]))'; }
[ -z "$(olga_devices_at "$USE_AT")" ] || fail "olga sees $(olga_devices_at "$USE_AT") before any right"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$GRANT_AT]}")"
"${CLI[@]}" folder add lab > /dev/null || fail "folder add at node $GRANT_AT"
"${CLI[@]}" right grant user:olga view --folder / > /dev/null || fail "right grant at node $GRANT_AT"
for _ in $(seq 50); do [ "$(olga_devices_at "$USE_AT")" = "tc-1=view_only tc-2=view_only" ] && break; sleep 0.1; done
[ "$(olga_devices_at "$USE_AT")" = "tc-1=view_only tc-2=view_only" ] || fail "at node $USE_AT olga sees $(olga_devices_at "$USE_AT") 5 s after the grant at node $GRANT_AT"
# (tc-1's link is on a third node: the right is checked where the session is asked for.)
olga_at "$USE_AT" snapshot tc-1 "$WORK/olga.png" --view-only > "$WORK/olga.log" 2>&1 || fail "olga's view at node $USE_AT: $(cat "$WORK/olga.log")"
check_checkerboard "$WORK/olga.png"
if olga_at "$USE_AT" snapshot tc-1 "$WORK/x.png" > "$WORK/olga-full.log" 2>&1; then fail "olga got full control at node $USE_AT"; fi
grep -q "only view-only sessions" "$WORK/olga-full.log" || fail "unclear refusal: $(cat "$WORK/olga-full.log")"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$HOME_1]}")"
"${CLI[@]}" right deny user:olga view --folder / > /dev/null || fail "right deny at node $HOME_1"
for _ in $(seq 50); do [ -z "$(olga_devices_at "$USE_AT")" ] && break; sleep 0.1; done
[ -z "$(olga_devices_at "$USE_AT")" ] || fail "at node $USE_AT olga still sees $(olga_devices_at "$USE_AT") 5 s after the deny at node $HOME_1"
if olga_at "$USE_AT" snapshot tc-1 "$WORK/x.png" --view-only > "$WORK/olga-denied.log" 2>&1; then fail "olga viewed tc-1 after the deny"; fi
echo "ok: granted at node $GRANT_AT, used at node $USE_AT, denied at node $HOME_1 and refused at node $USE_AT"

step "an administrator made at one node logs in at another; a login made at one node holds at the others, and a logout at one ends it at all"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$GRANT_AT]}")"
secret nina-cluster-password
SHADOWLINK_NEW_PASSWORD=nina-cluster-password "${CLI[@]}" administrator add nina --role auditor > /dev/null || fail "administrator add at node $GRANT_AT"
login_at() {  # login_at NODE USER PASSWORD: a login's token
  curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' -d "{\"user\":\"$2\",\"password\":\"$3\"}" \
    "https://127.0.0.1:${NODE_PORT[$1]}/api/v1/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
status_at() {  # status_at NODE TOKEN [METHOD PATH]
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $2" \
    -X "${3:-GET}" "https://127.0.0.1:${NODE_PORT[$1]}${4:-/api/v1/devices}"
}
NINA=$(login_at "$USE_AT" nina nina-cluster-password) || fail "nina cannot log in at node $USE_AT"
secret "$NINA"
for n in a b c; do [ "$(status_at "$n" "$NINA")" = 200 ] || fail "nina's login from node $USE_AT is refused at node $n"; done
[ "$(status_at "$HOME_1" 0000"$NINA")" = 401 ] || fail "a wrong token was taken (the negative control)"
[ "$(status_at "$GRANT_AT" "$NINA" POST /api/v1/logout)" = 200 ] || fail "logout at node $GRANT_AT"
[ "$(status_at "$GRANT_AT" "$NINA")" = 401 ] || fail "the login holds at node $GRANT_AT after its logout there"
# (Each node checks a login it holds with the registry again within 10 s.)
for _ in $(seq 120); do [ "$(status_at "$USE_AT" "$NINA")" = 401 ] && break; sleep 0.1; done
[ "$(status_at "$USE_AT" "$NINA")" = 401 ] || fail "the login still holds at node $USE_AT 12 s after its logout at node $GRANT_AT"
# Removed at one node, an administrator's login ends at the others as well.
NINA=$(login_at "$USE_AT" nina nina-cluster-password) || fail "nina cannot log in again at node $USE_AT"
secret "$NINA"
[ "$(status_at "$HOME_1" "$NINA")" = 200 ] || fail "nina's new login is refused at node $HOME_1"
"${CLI[@]}" administrator remove nina > /dev/null || fail "administrator remove at node $GRANT_AT"
for _ in $(seq 120); do [ "$(status_at "$HOME_1" "$NINA")" = 401 ] && break; sleep 0.1; done
[ "$(status_at "$HOME_1" "$NINA")" = 401 ] || fail "removed nina's login still holds at node $HOME_1 12 s later"
echo "ok: nina, made at node $GRANT_AT, logged in at node $USE_AT, used everywhere, logged out at node $GRANT_AT and refused at node $USE_AT; removed, her next login ended everywhere"

step "an API token and a folder's policy made at one node hold at the others within seconds, and a token deleted at one opens nothing at the others"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$GRANT_AT]}")"
secret tara-cluster-password
SHADOWLINK_NEW_PASSWORD=tara-cluster-password "${CLI[@]}" administrator add tara --role operator > /dev/null || fail "administrator add tara at node $GRANT_AT"
TARA_TOKEN=$("${CLI[@]}" api-token create tara 2> "$WORK/token.err") || fail "api-token create at node $GRANT_AT: $(cat "$WORK/token.err")"
secret "$TARA_TOKEN"
"${CLI[@]}" folder policy lab --record on > /dev/null || fail "folder policy at node $GRANT_AT"
for _ in $(seq 50); do [ "$(status_at "$USE_AT" "$TARA_TOKEN")" = 200 ] && break; sleep 0.1; done
[ "$(status_at "$USE_AT" "$TARA_TOKEN")" = 200 ] || fail "tara's token made at node $GRANT_AT is refused at node $USE_AT 5 s later"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$USE_AT]}")"
"${CLI[@]}" folder list | grep -q "^lab  .*  recorded$" || fail "node $USE_AT does not know lab's policy: $("${CLI[@]}" folder list)"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$HOME_1]}")"
"${CLI[@]}" api-token delete "$(printf %s "$TARA_TOKEN" | sha256sum | cut -c1-12)" > /dev/null || fail "api-token delete at node $HOME_1"
for _ in $(seq 50); do [ "$(status_at "$USE_AT" "$TARA_TOKEN")" = 401 ] && break; sleep 0.1; done
[ "$(status_at "$USE_AT" "$TARA_TOKEN")" = 401 ] || fail "tara's token deleted at node $HOME_1 still opens node $USE_AT 5 s later"

step "the session list is the cluster's: a session running at one node is listed at another, and an administrator there ends it"
RUN_AT=$(other_node "$HOME_1")
LIST_AT=$(other_node "$HOME_1" "$RUN_AT")
read -ra CLI <<<"$(cli_at "${NODE_PORT[$RUN_AT]}")"
watch_session watch tc-1
[ -n "$SESSION" ] || fail "test bug: no session id in watch.log"
listed_at() {  # listed_at NODE: its session list, as "id node state" lines
  curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "https://127.0.0.1:${NODE_PORT[$1]}/api/v1/sessions" |
    python3 -c 'import json, sys; [print(s["id"], s.get("node", "-"), s["state"]) for s in json.load(sys.stdin)["sessions"]]'
}
for _ in $(seq 50); do listed_at "$LIST_AT" | grep -q "^$SESSION $RUN_AT active$" && break; sleep 0.1; done
listed_at "$LIST_AT" | grep -q "^$SESSION $RUN_AT active$" || fail "node $LIST_AT does not list $SESSION (node $RUN_AT, active): $(listed_at "$LIST_AT")"
listed_at "$RUN_AT" | grep -q "^$SESSION $RUN_AT active$" || fail "node $RUN_AT lists: $(listed_at "$RUN_AT")"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$LIST_AT]}")"
"${CLI[@]}" end "$SESSION" > "$WORK/end.log" 2>&1 || fail "ending $SESSION at node $LIST_AT: $(cat "$WORK/end.log")"
wait_log "ums-$RUN_AT" "session $SESSION ended by automation at node $LIST_AT" 5
wait_log "ums-$RUN_AT" "$SESSION\] AUDIT session ended: .*outcome=\"ended by automation at node $LIST_AT\"" 10
grep -q "\"event\":\"session_end_requested\".*\"by\":\"automation at node $LIST_AT\"\|\"by\":\"automation at node $LIST_AT\".*\"event\":\"session_end_requested\"" "$WORK/data/ums-$RUN_AT/audit.jsonl" \
  || fail "node $RUN_AT's audit trail does not say who ended $SESSION"
for _ in $(seq 50); do listed_at "$LIST_AT" | grep -q "^$SESSION " || break; sleep 0.1; done
if listed_at "$LIST_AT" | grep -q "^$SESSION "; then fail "node $LIST_AT still lists ended $SESSION"; fi
for _ in $(seq 100); do kill -0 "$WATCH_CONSOLE" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$WATCH_CONSOLE" 2>/dev/null; then fail "the console of $SESSION did not end"; fi
# An operator's rights are those of the node asked: an unknown id is no session at all.
if "${CLI[@]}" end s-000000000000 > "$WORK/end-none.log" 2>&1; then fail "an unknown session was ended"; fi
grep -q "no such session" "$WORK/end-none.log" || fail "unclear refusal: $(cat "$WORK/end-none.log")"

step "the audit trail is the cluster's: node $LIST_AT reads node $RUN_AT's records of $SESSION"
audit_at() {  # audit_at NODE QUERY: its audit records, as "event node session" lines
  curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $API_TOKEN" "https://127.0.0.1:${NODE_PORT[$1]}/api/v1/audit?$2" |
    python3 -c 'import json, sys; [print(r["event"], r.get("node", "-"), r.get("session", "-")) for r in json.load(sys.stdin)["records"]]'
}
# (Captured before grep: with pipefail, grep's early exit would fail the pipe.)
for _ in $(seq 100); do SEEN=$(audit_at "$LIST_AT" device=tc-1); grep -q "^session_ended $RUN_AT $SESSION$" <<<"$SEEN" && break; sleep 0.1; done
grep -q "^session_ended $RUN_AT $SESSION$" <<<"$SEEN" || fail "node $LIST_AT's audit trail lacks node $RUN_AT's end of $SESSION: $(tail -5 <<<"$SEEN")"
grep -q "^session_end_requested $RUN_AT $SESSION$" <<<"$SEEN" || fail "node $LIST_AT's audit trail lacks who ended $SESSION"
# Not node $LIST_AT's own records: its file holds no end of that session.
if grep '"event":"session_ended"' "$WORK/data/ums-$LIST_AT/audit.jsonl" | grep -q "$SESSION"; then fail "test bug: node $LIST_AT's own file ends $SESSION"; fi

step "node $HOME_1 is killed with SIGKILL: tc-1 comes back through haproxy on another node and is shadowed there"
read -ra CLI <<<"$(cli_at "${NODE_PORT[$HOME_1]}")"
"${CLI[@]}" snapshot tc-1 "$WORK/same-node.png" > "$WORK/same-node.log" 2>&1 || fail "same-node snapshot: $(cat "$WORK/same-node.log")"
check_checkerboard "$WORK/same-node.png"
wait_log "ums-$HOME_1" "AUDIT session ended: device=tc-1" 10
# (The log line comes before the record is on disk: the kill waits for the records of every
# session the node logged as ended.)
LOGGED=$(grep -c "AUDIT session ended" "$WORK/ums-$HOME_1.log")
for _ in $(seq 50); do [ "$(grep -c '"event":"session_ended"' "$WORK/data/ums-$HOME_1/audit.jsonl")" -ge "$LOGGED" ] && break; sleep 0.1; done
kill -KILL "${NODE_PID[$HOME_1]}"
NEW_1=$(wait_presence tc-1 "$HOME_1")
echo "tc-1 moved from node $HOME_1 to node $NEW_1"
wait_log "ums-$NEW_1" "device tc-1 online" 10
ASK_AT=$(other_node "$HOME_1" "$NEW_1")
read -ra CLI <<<"$(cli_at "${NODE_PORT[$ASK_AT]}")"
for _ in $(seq 20); do  # (a node learns the killed one is dead from its silence: 15 s at most)
  "${CLI[@]}" snapshot tc-1 "$WORK/after-kill.png" > "$WORK/after-kill.log" 2>&1 && break
  sleep 1
done
check_checkerboard "$WORK/after-kill.png"
# What the killed node wrote is still there: the audit record of every session it logged as ended.
ENDED=$(grep -o 'ums-[abc]/s-[0-9a-f]*\] AUDIT session ended' "$WORK/ums-$HOME_1.log" | sed 's#.*/\(s-[0-9a-f]*\)\].*#\1#' || true)
[ -n "$ENDED" ] || fail "test bug: node $HOME_1 had made no session before it was killed"
for s in $ENDED; do
  grep -q "\"session\":\"$s\".*\"event\":\"session_ended\"\|\"event\":\"session_ended\".*\"session\":\"$s\"" "$WORK/data/ums-$HOME_1/audit.jsonl" \
    || fail "session $s's end is not in node $HOME_1's audit trail"
done
echo "ok: node $HOME_1's audit trail holds the end of its $(wc -w <<<"$ENDED") session(s)"

step "node $HOME_1 starts again (at its address): the cluster's audit trail then holds every end it had written"
python3 - "$WORK/ums-$HOME_1.json" "${NODE_PORT[$HOME_1]}" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["services"][0]["settings"]["port"] = int(sys.argv[2])
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
mv "$WORK/ums-$HOME_1.log" "$WORK/ums-$HOME_1-killed.log"
# What it had shipped is taken out of the table: all of it must come again from its file.
sql "DELETE FROM audit WHERE node = '$HOME_1'" > /dev/null
[ "$(sql "SELECT count(*) FROM audit WHERE node = '$HOME_1'")" = 0 ] || fail "test bug: node $HOME_1's records are still in the table"
start_daemon "ums-$HOME_1" "$WORK/ums-$HOME_1.json"; NODE_PID[$HOME_1]=$LAST_PID
wait_log "ums-$HOME_1" "listening for the other nodes' messages" 15
missing() {
  local s seen
  seen=$(audit_at "$ASK_AT" limit=100000)
  for s in $ENDED; do grep -q "^session_ended $HOME_1 $s$" <<<"$seen" || echo "$s"; done
}
for _ in $(seq 100); do [ -z "$(missing)" ] && break; sleep 0.1; done
[ -z "$(missing)" ] || fail "node $ASK_AT's audit trail lacks node $HOME_1's end of: $(missing)"
echo "ok: node $ASK_AT reads the end of node $HOME_1's $(wc -w <<<"$ENDED") session(s)"

echo "PASS: cluster"
