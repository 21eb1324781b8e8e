#!/usr/bin/env bash
# Enrollment with a one-time key: an administrator makes a key for a folder (a device group); a
# device agent nobody configured presents it once — directly, and through a gateway — and is in
# the registry from then on, with its own certificate and its folder's policy; a used, wrong or
# expired key enrolls nobody; the enrolled device survives its agent's restart and the UMS being
# killed with SIGKILL; an administrator removes it, and its link closes and stays closed.
source "$(dirname "$0")/lib.sh"

CRED=icg-ums-credential-0123456789
# REGISTRY=postgresql: the UMS keeps its registry in a database of its own on the test suite's
# PostgreSQL server (ctest's postgresql fixture names it in SHADOWLINK_TEST_POSTGRESQL).
REGISTRY=${REGISTRY:-sqlite}
if [ "$REGISTRY" = postgresql ]; then
  [ -r "${SHADOWLINK_TEST_POSTGRESQL:-}" ] || fail "test bug: SHADOWLINK_TEST_POSTGRESQL names no connection string"
  PG_SERVER=$(cat "$SHADOWLINK_TEST_POSTGRESQL")
  PG_DB=e2e_$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
  psql "$PG_SERVER dbname=postgres" -qc "CREATE DATABASE $PG_DB" || fail "cannot create the test database"
  secret "$(cut -d: -f5 "$(sed -n 's/.*passfile=\([^ ]*\).*/\1/p' <<<"$PG_SERVER")")"
fi
registry_sql() {  # the registry's rows, as "a|b|c" lines, read by the engine's own client
  if [ "$REGISTRY" = postgresql ]; then psql "$PG_SERVER dbname=$PG_DB" -Atc "$1"
  else python3 -c 'import sqlite3, sys; [print("|".join(map(str, r))) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]' \
         "$WORK/data/ums/registry.sqlite3" "$1"; fi
}

step "start Xvnc, a gateway, and a UMS with the device group reception (consent: none)"
start_xvnc
start_gateway "$CRED"
add_group_and_gateway() {
  python3 - "$1" "[$(gateway_entry "$CRED")]" "${PG_SERVER:+$PG_SERVER dbname=$PG_DB}" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
ums = config["services"][0]["settings"]
ums["device_groups"] = [{"name": "reception", "devices": [], "consent": "none"}]
ums["gateways"] = json.loads(sys.argv[2])
if sys.argv[3]:
    ums["postgresql"] = sys.argv[3]
json.dump(config, open(sys.argv[1], "w"), indent=1)
PY
  grep -q '"reception"' "$1" || fail "test bug: no device group in the config"
}
start_ums_and_tc1 - add_group_and_gateway
UMS_PID=$(pgrep -f -- "--config $WORK/ums.json")
[ -n "$UMS_PID" ] || fail "test bug: no UMS process"
wait_log ums "connected to gateway" 15

step "an administrator makes a one-time key for the folder reception"
KEY=$("${CLI[@]}" enrollment-key create --folder reception --valid-for 600 2> "$WORK/key.err") || fail "enrollment-key create: $(cat "$WORK/key.err")"
secret "$KEY"
[[ $KEY =~ ^[0-9a-f]{64}$ ]] || fail "the key is not 64 hex digits: $KEY"
KEY_ID=$(sha256_of "$KEY" | cut -c1-12)
grep -q "enrollment key $KEY_ID, valid until .*, folder reception" "$WORK/key.err" || fail "create said: $(cat "$WORK/key.err")"
"${CLI[@]}" enrollment-key list | grep -q "^$KEY_ID  *unused  *reception  *automation" || fail "list: $("${CLI[@]}" enrollment-key list)"
if "${CLI[@]}" enrollment-key create --folder nowhere > /dev/null 2> "$WORK/nofolder.err"; then fail "a key for a folder that does not exist was made"; fi
grep -q "no folder or device group named nowhere" "$WORK/nofolder.err" || fail "unclear refusal: $(cat "$WORK/nofolder.err")"

# new_device ID KEY [SERVER]: a device agent with only an enrollment key, started as ID.
new_device() {
  write_device_config "$WORK/$1.json" "$1" unused "${3:-$UMS_PORT}" "$VNC_SOCKET"
  sed -i "s#\"credential_file\": \"[^\"]*\"#\"enrollment_key_file\": \"$(credential_file "$2")\", \"name\": \"Reception $1\"#" "$WORK/$1.json"
  grep -q enrollment_key_file "$WORK/$1.json" || fail "test bug: no enrollment key in $1's config"
  start "$1" "$BIN/shadowlinkd" --config "$WORK/$1.json"
}

step "a new device enrolls with it: online, in its folder (shadowed without asking), with its own certificate"
new_device tc-9 "$KEY"; TC9_PID=$LAST_PID
wait_log ums "device tc-9 enrolled from 127.0.0.1:[0-9]* with key $KEY_ID into folder reception" 15
wait_log ums "device tc-9 online from" 10
for _ in $(seq 100); do [ -s "$WORK/device-data/tc-9/device.pem" ] && break; sleep 0.1; done
[ -s "$WORK/device-data/tc-9/device.pem" ] || fail "tc-9 got no certificate"
"${CLI[@]}" enrollment-key list | grep -q "^$KEY_ID  *used  *reception .* tc-9$" || fail "list: $("${CLI[@]}" enrollment-key list)"
# Its settings came over its link (it had no certificate yet), and its own name is its name.
wait_log ums "device tc-9 reports its settings: name \"Reception tc-9\", IP 127.0.0.1, MAC 00:00:00:00:00:00, OS 12, shadowlink-device/[^ ]* (seen from 127.0.0.1)" 10
grep -q 'settings sent over the link: name "Reception tc-9"' "$WORK/tc-9.log" || fail "tc-9 did not say how it sent its settings"
"${CLI[@]}" devices | grep -q "^tc-9  *Reception tc-9  *yes" || fail "devices: $("${CLI[@]}" devices)"
"${CLI[@]}" snapshot tc-9 "$WORK/tc9.png" > /dev/null
check_checkerboard "$WORK/tc9.png"
# Now that tc-9 holds its certificate, its key opens nothing: an impostor with the key file and
# the id (its own data directory, no certificate) is refused.
write_device_config "$WORK/impostor.json" tc-9 unused "$UMS_PORT" "$VNC_SOCKET"
sed -i "s#\"credential_file\": \"[^\"]*\"#\"enrollment_key_file\": \"$(credential_file "$KEY")\"#; s#$WORK/device-data#$WORK/impostor-data#" "$WORK/impostor.json"
start impostor "$BIN/shadowlinkd" --config "$WORK/impostor.json"
wait_log ums "device tc-9 from .* refused: its enrollment key is used up" 10
kill "$LAST_PID"
if [ "$REGISTRY" = postgresql ]; then
  [ ! -e "$WORK/data/ums/registry.sqlite3" ] || fail "an SQLite registry was made beside the PostgreSQL one"
  wait_log ums "registry: PostgreSQL database $PG_DB at 127.0.0.1" 1
else
  [ "$(stat -c %a "$WORK/data/ums/registry.sqlite3")" = 600 ] || fail "the registry is mode $(stat -c %a "$WORK/data/ums/registry.sqlite3")"
fi

step "a used key, a wrong key and an expired key enroll nobody"
# (Each refused agent is stopped once refused: its retries would slow every hello from 127.0.0.1.)
new_device tc-10 "$KEY"
wait_log ums "enrollment of device tc-10 from .* refused: unknown or used enrollment key" 10
kill "$LAST_PID"
WRONG=$(printf %s "$KEY" | tr 0-9a-f 1-9a-f0)
[ "$WRONG" != "$KEY" ] || fail "test bug: the wrong key is the key"
new_device tc-11 "$WRONG"
wait_log ums "enrollment of device tc-11 from .* refused: unknown or used enrollment key" 10
kill "$LAST_PID"
SHORT=$("${CLI[@]}" enrollment-key create --valid-for 1 2> /dev/null)
secret "$SHORT"
sleep 2.1
new_device tc-12 "$SHORT"
wait_log ums "enrollment of device tc-12 from .* refused: the enrollment key has expired" 10
kill "$LAST_PID"
"${CLI[@]}" enrollment-key list | grep -q "^$(sha256_of "$SHORT" | cut -c1-12)  *expired" || fail "list: $("${CLI[@]}" enrollment-key list)"
"${CLI[@]}" devices --json | grep -q '"tc-1[012]"' && fail "a refused device is listed: $("${CLI[@]}" devices)"
# Only admins make keys: an unused one can be deleted, a used one cannot.
UNUSED=$("${CLI[@]}" enrollment-key create 2> /dev/null)
secret "$UNUSED"
"${CLI[@]}" enrollment-key delete "$(sha256_of "$UNUSED" | cut -c1-12)" || fail "an unused key could not be deleted"
if "${CLI[@]}" enrollment-key delete "$KEY_ID" 2> /dev/null; then fail "a used key was deleted"; fi

step "a device that reaches only a gateway enrolls the same way"
GW_KEY=$("${CLI[@]}" enrollment-key create --folder reception 2> /dev/null)
secret "$GW_KEY"
new_device remote-9 "$GW_KEY" "wss://localhost:$ICG_PORT/up"; REMOTE9_PID=$LAST_PID
wait_log ums "device remote-9 enrolled from gateway icg with key $(sha256_of "$GW_KEY" | cut -c1-12) into folder reception" 15
wait_log ums "device remote-9 online through gateway icg" 10
for _ in $(seq 100); do [ -s "$WORK/device-data/remote-9/device.pem" ] && break; sleep 0.1; done
[ -s "$WORK/device-data/remote-9/device.pem" ] || fail "remote-9 got no certificate"
"${CLI[@]}" snapshot remote-9 "$WORK/remote9.png" > /dev/null
check_checkerboard "$WORK/remote9.png"

step "enrolled devices survive: the agent restarts with its certificate, and the UMS killed with SIGKILL still knows both"
kill "$TC9_PID"; wait "$TC9_PID" 2> /dev/null || true
start tc-9-again "$BIN/shadowlinkd" --config "$WORK/tc-9.json"; TC9_AGAIN_PID=$LAST_PID
wait_log ums "device tc-9 online from .*, certificate)" 15
kill -KILL "$UMS_PID"; wait "$UMS_PID" 2> /dev/null || true
keep_port "$WORK/ums.json" "$UMS_PORT"
# A device group in the config may name enrolled devices (known once the registry is open), not a
# device nobody configured or enrolled: that is a config error at start (exit 2), and at a reload.
with_group() {  # with_group IN OUT NAME DEVICE: OUT is IN with a group NAME of DEVICE (consent none)
  python3 - "$@" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["services"][0]["settings"]["device_groups"].append({"name": sys.argv[3], "devices": [sys.argv[4]], "consent": "none"})
json.dump(config, open(sys.argv[2], "w"), indent=1)
PY
}
with_group "$WORK/ums.json" "$WORK/ums.json" desk tc-9
with_group "$WORK/ums.json" "$WORK/ums-ghost.json" ghost tc-99
RC=0; "$BIN/shadowlinkd" --config "$WORK/ums-ghost.json" > "$WORK/ums-ghost.log" 2>&1 || RC=$?
[ "$RC" = 2 ] || fail "a group naming a device nobody has: exit $RC, $(cat "$WORK/ums-ghost.log")"
grep -q "config error: .*device_groups: group ghost: no device with id tc-99, configured or enrolled" "$WORK/ums-ghost.log" ||
  fail "unclear refusal: $(cat "$WORK/ums-ghost.log")"
start_daemon ums-again "$WORK/ums.json"; UMS_AGAIN_PID=$LAST_PID
daemon_port ums-again > /dev/null
wait_log ums-again "device tc-9 online from .*, certificate)" 20
wait_log ums-again "device remote-9 online through gateway icg" 20
"${CLI[@]}" snapshot tc-9 "$WORK/tc9-again.png" > /dev/null
check_checkerboard "$WORK/tc9-again.png"
"${CLI[@]}" enrollment-key list | grep -q "^$KEY_ID  *used  *reception .* tc-9$" || fail "after the restart: $("${CLI[@]}" enrollment-key list)"
# What each device reported about itself is in the registry (read with the engine's own client)
# and in the device list, with its folder.
registry_sql "SELECT id, agent, peer, reported_at FROM devices" > "$WORK/reported.txt"
grep -q "^tc-9|shadowlink-device/[^|]*|127\.0\.0\.1|[1-9][0-9]*$" "$WORK/reported.txt" || fail "the registry holds for tc-9: $(cat "$WORK/reported.txt")"
grep -q "^remote-9|[^|]*|gateway icg: 127\.0\.0\.1|" "$WORK/reported.txt" || fail "the registry holds for remote-9: $(cat "$WORK/reported.txt")"
"${CLI[@]}" devices --json | python3 -c '
import json, sys
d = next(d for d in json.load(sys.stdin)["devices"] if d["id"] == "tc-9")
assert d["enrolled"]["folder"] == "reception" and d["reported"]["agent"].startswith("shadowlink-device/"), d
' || fail "the device list does not show tc-9 as enrolled with what it reported"

step "devices send their settings: by REST with their certificate at the UMS, relayed over the link by the gateway; a change mid-link is reported within a heartbeat and kept"
wait_log ums "device remote-9 reports its settings: name \"Reception remote-9\", IP 127.0.0.1, MAC 00:00:00:00:00:00, .* (seen from gateway icg: 127.0.0.1)" 1
wait_log tc-9-again 'settings sent by REST: name "Reception tc-9", IP 127.0.0.1' 15
sed -i 's#"name": "Reception tc-9"#"name": "Front desk"#' "$WORK/tc-9.json"
grep -q '"name": "Front desk"' "$WORK/tc-9.json" || fail "test bug: the name was not changed"
kill -HUP "$TC9_AGAIN_PID"
wait_log tc-9-again 'settings sent by REST: name "Front desk"' 15
wait_log ums-again "device tc-9 reports its settings: name \"Front desk\", IP 127.0.0.1, MAC 00:00:00:00:00:00, OS 12, .* (seen from 127.0.0.1)" 5
[ "$(grep -c "device tc-9 online from" "$WORK/ums-again.log")" = 1 ] || fail "tc-9 reconnected to report its settings: $(grep "device tc-9" "$WORK/ums-again.log")"
[ "$(registry_sql "SELECT name, mac, ip FROM devices WHERE id = 'tc-9'")" = "Front desk|00:00:00:00:00:00|127.0.0.1" ] ||
  fail "the registry holds for tc-9: $(registry_sql "SELECT name, mac, ip FROM devices WHERE id = 'tc-9'")"
# (tc-1, configured, is back at the restarted UMS and has reported to it: a configured device's
# report lives in memory only.)
wait_log ums-again "device tc-1 reports its settings" 20
"${CLI[@]}" devices --json | python3 -c '
import json, sys
d = {d["id"]: d for d in json.load(sys.stdin)["devices"]}
assert d["tc-9"]["name"] == "Front desk", d["tc-9"]
r = d["tc-9"]["reported"]
assert (r["name"], r["ip"], r["mac"], r["peer"]) == ("Front desk", "127.0.0.1", "00:00:00:00:00:00", "127.0.0.1"), r
assert d["remote-9"]["reported"]["name"] == "Reception remote-9", d["remote-9"]
# A configured device reports too, and keeps the name its administrator gave it.
assert d["tc-1"]["name"] == "Thin client 1" and d["tc-1"]["reported"]["ip"] == "127.0.0.1", d["tc-1"]
' || fail "the device list does not show what the devices reported"
# REST takes settings only with the device's own certificate: none, another device's, a malformed body.
settings_post() {  # settings_post BODY [CURL-OPTIONS...]: the HTTP status
  local body=$1; shift
  curl -s -o "$WORK/settings.out" -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" "$@" -X POST \
    -H 'Content-Type: application/json' -d "$body" "https://127.0.0.1:$UMS_PORT/api/v1/device/settings"
}
TC1_CERT=(--cert "$WORK/device-data/tc-1/device.pem" --key "$WORK/device-data/tc-1/device.key")
EVIL='{"v":1,"type":"device_settings","device_id":"tc-9","name":"Evil"}'
[ "$(settings_post "$EVIL")" = 401 ] || fail "settings without a certificate: $(cat "$WORK/settings.out")"
[ "$(settings_post "$EVIL" "${TC1_CERT[@]}")" = 403 ] || fail "tc-1's certificate set tc-9's settings: $(cat "$WORK/settings.out")"
[ "$(settings_post '{"v":1,"type":"device_settings"}' "${TC1_CERT[@]}")" = 400 ] || fail "a malformed body: $(cat "$WORK/settings.out")"
grep -q "missing field 'device_id'" "$WORK/settings.out" || fail "unclear refusal: $(cat "$WORK/settings.out")"
[ "$(settings_post '{"v":1,"type":"device_settings","device_id":"tc-1","name":"Kiosk","ip":"10.1.2.3"}' "${TC1_CERT[@]}")" = 204 ] ||
  fail "tc-1's own settings with its certificate were refused: $(cat "$WORK/settings.out")"
wait_log ums-again 'device tc-1 reports its settings: name "Kiosk", IP 10.1.2.3' 5
LISTED=$("${CLI[@]}" devices --json)
grep -q '"Kiosk"' <<<"$LISTED" || fail "tc-1's own report is not listed: $LISTED"
if grep -q '"Evil"' <<<"$LISTED"; then fail "a refused setting was taken"; fi

cp "$WORK/ums.json" "$WORK/ums-good.json"
with_group "$WORK/ums.json" "$WORK/ums.json" ghost tc-98
kill -HUP "$UMS_AGAIN_PID"
wait_log ums-again "not reloaded, the running configuration stays: .*device_groups: group ghost: no device with id tc-98, configured or enrolled" 10
cp "$WORK/ums-good.json" "$WORK/ums.json"
kill -HUP "$UMS_AGAIN_PID"
wait_log ums-again "SIGHUP: reloaded" 10

step "an administrator removes an enrolled device: its link closes within seconds and it stays out"
"${CLI[@]}" remove-device tc-9 | grep -q "removed device tc-9" || fail "remove-device did not say so"
wait_log ums-again "device tc-9 offline" 5
wait_log ums-again "device connection from .* refused: device certificate not accepted" 10
"${CLI[@]}" devices --json | grep -q '"tc-9"' && fail "the removed device is listed: $("${CLI[@]}" devices)"
if "${CLI[@]}" snapshot tc-9 "$WORK/removed.png" > /dev/null 2>&1; then fail "the removed device was shadowed"; fi
# The audit trail has what administrators did to the registry, and the enrollments.
for event in '"event":"enrollment_key_created","key":"'"$KEY_ID"'"' '"event":"device_enrolled","device":"tc-9","key":"'"$KEY_ID"'","folder":"reception"' \
             '"event":"device_enrolled","device":"remote-9"' '"event":"enrollment_key_deleted"' '"event":"device_removed","device":"tc-9","user":"automation"'; do
  for _ in $(seq 30); do grep -qF "$event" "$WORK/data/ums/audit.jsonl" && break; sleep 0.1; done
  grep -qF "$event" "$WORK/data/ums/audit.jsonl" || fail "no audit record $event"
done
# A configured device is removed from the config file, not by REST; it stays.
if "${CLI[@]}" remove-device tc-1 > /dev/null 2> "$WORK/remove-tc1.err"; then fail "a configured device was removed"; fi
grep -q "no enrolled device with this id" "$WORK/remove-tc1.err" || fail "unclear refusal: $(cat "$WORK/remove-tc1.err")"
"${CLI[@]}" devices | grep -q "^tc-1 .* yes" || fail "tc-1 went: $("${CLI[@]}" devices)"
check_no_secrets || fail "a key or credential in the logs"
echo "ok: enrollment keys"
