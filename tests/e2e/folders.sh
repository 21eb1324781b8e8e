#!/usr/bin/env bash
# The folder tree and its rights, through the shipped binaries: an admin makes folders, enrolls a
# device into each with a key, and grants and denies rights on folders to operators and to a group
# of them; rights are inherited downward, a deny beats every allow, moving a device moves what may
# be done with it, the manage right makes keys and subfolders in its own part of the tree only,
# the audit right reads one device's trail, and all of it survives a restart of the UMS.
source "$(dirname "$0")/lib.sh"

step "start Xvnc and a UMS with an admin and three administrators without grants in the config"
start_xvnc
# (The config's device groups named like the folders set their devices' consent policy.)
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0,
  "device_groups": [{"name": "berlin/floor-2", "devices": [], "consent": "none"}, {"name": "munich", "devices": [], "consent": "none"}],
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"},
            {"user": "olga", "password_hash": "$ADMIN_HASH", "role": "operator"},
            {"user": "mia", "password_hash": "$ADMIN_HASH", "role": "operator"},
            {"user": "audrey", "password_hash": "$ADMIN_HASH", "role": "auditor"}],
  "devices": []}}]}
JSON
start_daemon ums "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem")
as() { local who=$1; shift; "${CLI[@]}" -u "$who" -p "$ADMIN_PASSWORD" "$@"; }
# refused WHO WORDS COMMAND...: the command fails and says WORDS.
refused() {
  local who=$1 words=$2; shift 2
  if as "$who" "$@" > "$WORK/out" 2> "$WORK/err"; then fail "$who: '$*' was allowed"; fi
  grep -q "$words" "$WORK/err" || fail "$who: '$*' failed without saying '$words': $(cat "$WORK/err")"
}
# devices_of WHO: "id=access ..." as the REST API lists them to WHO.
devices_of() {
  as "$1" devices --json | python3 -c '
import json, sys
print(" ".join(d["id"] + "=" + d["access"] for d in json.load(sys.stdin)["devices"]))'
}

step "the admin makes the tree; wrong paths and missing parents are refused with the reason"
as admin folder add berlin > /dev/null
as admin folder add berlin/floor-2 > /dev/null
as admin folder add munich > /dev/null
refused admin "no folder nowhere to hold it" folder add nowhere/x
refused admin "names separated by single '/'" folder add /berlin
refused admin "exists already" folder add munich
LIST=$(as admin folder list)
for f in berlin berlin/floor-2 munich; do grep -q "^$f  *shadow,view,manage,audit  *-$" <<<"$LIST" || fail "folder list: $LIST"; done

step "a device enrolls into each of two folders with a key made for it"
enroll() {  # enroll ID FOLDER
  local key
  key=$(as admin enrollment-key create --folder "$2" --valid-for 600 2> /dev/null) || fail "no key for $2"
  secret "$key"
  write_device_config "$WORK/$1.json" "$1" unused "$UMS_PORT" "$VNC_SOCKET"
  sed -i "s#\"credential_file\": \"[^\"]*\"#\"enrollment_key_file\": \"$(credential_file "$key")\"#" "$WORK/$1.json"
  start "$1" "$BIN/shadowlinkd" --config "$WORK/$1.json"
  wait_log ums "device $1 enrolled from .* into folder $2" 15
  wait_log ums "device $1 online from" 10
}
enroll tc-b berlin/floor-2
enroll tc-m munich
as admin devices --json | python3 -c '
import json, sys
folders = {d["id"]: d["folder"] for d in json.load(sys.stdin)["devices"]}
assert folders == {"tc-b": "berlin/floor-2", "tc-m": "munich"}, folders' || fail "devices are not in their folders"

step "without rights an operator sees nothing and shadows nothing"
[ -z "$(devices_of olga)" ] || fail "olga sees $(devices_of olga) before any right"
refused olga "not allowed to shadow this device" snapshot tc-b "$WORK/x.png"

step "a shadow right on berlin is inherited by berlin/floor-2 and reaches no other folder"
as admin right grant user:olga shadow --folder berlin > /dev/null
[ "$(devices_of olga)" = "tc-b=full_control" ] || fail "olga sees $(devices_of olga)"
as olga snapshot tc-b "$WORK/olga-b.png" || fail "the snapshot "$WORK/olga-b.png" failed"
check_checkerboard "$WORK/olga-b.png"
refused olga "not allowed to shadow this device" snapshot tc-m "$WORK/x.png"
refused admin "no administrator named olgaa" right grant user:olgaa shadow --folder berlin
refused admin "is an admin" right grant user:admin view --folder munich
refused admin "right needs list" right grant user:olga

step "a group's view right on the root holds for its member; a deny on a folder beats it there"
as admin admin-group add helpdesk mia > /dev/null
as admin right grant group:helpdesk view --folder / > /dev/null
[ "$(devices_of mia)" = "tc-b=view_only tc-m=view_only" ] || fail "mia sees $(devices_of mia)"
refused mia "only view-only sessions are allowed on this device" snapshot tc-m "$WORK/x.png"
as mia snapshot tc-m "$WORK/mia-m.png" --view-only || fail "the snapshot "$WORK/mia-m.png" failed"
check_checkerboard "$WORK/mia-m.png"
as admin right deny group:helpdesk view --folder munich > /dev/null
[ "$(devices_of mia)" = "tc-b=view_only" ] || fail "mia sees $(devices_of mia) with munich denied to her group"
refused mia "not allowed to shadow this device" snapshot tc-m "$WORK/x.png" --view-only

step "a denied shadow on a subfolder leaves viewing there"
as admin right deny user:olga shadow --folder berlin/floor-2 > /dev/null
[ "$(devices_of olga)" = "tc-b=view_only" ] || fail "olga sees $(devices_of olga) with shadow denied on floor-2"
refused olga "only view-only sessions are allowed on this device" snapshot tc-b "$WORK/x.png"
as admin right revoke user:olga shadow --folder berlin/floor-2 > /dev/null
[ "$(devices_of olga)" = "tc-b=full_control" ] || fail "olga sees $(devices_of olga) once the deny is revoked"
refused admin "no such right" right revoke user:olga shadow --folder berlin/floor-2

step "the manage right on munich: keys and subfolders there, nowhere else, and no rights for anyone"
as admin right grant user:olga manage --folder munich > /dev/null
as olga enrollment-key create --folder munich --valid-for 60 > "$WORK/olga-key" 2> /dev/null || fail "olga cannot make a key for munich"
secret "$(cat "$WORK/olga-key")"
refused olga "need the manage right on it" enrollment-key create --folder berlin --valid-for 60
as olga folder add munich/east > /dev/null
refused olga "the manage right on the folder above" folder add berlin/east
refused olga "changed by admins only" right grant user:olga shadow --folder munich
# Her list holds the keys of munich only: the admin's key for berlin/floor-2 is not in it.
KEYS=$(as olga enrollment-key list)
grep -q " munich " <<<"$KEYS" && ! grep -q "berlin" <<<"$KEYS" || fail "olga's key list: $KEYS"
as admin enrollment-key list | grep -q "berlin/floor-2" || fail "the admin's list lacks the berlin key (the negative control)"

if [ "${WITH_BROWSER:-0}" = 1 ]; then
  step "the Web App shows olga the tree she may act in, and each folder lists its own devices (Chromium)"
  ensure_playwright
  mkdir -p "${ARTIFACTS:-$WORK}/folders"
  EXPECT_TREE='{"": ["tc-b", "tc-m"], "berlin": ["tc-b"], "berlin/floor-2": ["tc-b"], "munich": ["tc-m"], "munich/east": []}' \
  EXPECT_LABELS='All devices (2) | berlin (1) | floor-2 (1) | munich (1) | east (0)' \
    timeout 120 node "$BROWSER_DIR/folders.mjs" "https://localhost:$UMS_PORT/" olga "$ADMIN_PASSWORD" "${ARTIFACTS:-$WORK}/folders" |
    tee "$WORK/browser.log"
  grep -q "ok: the folder tree" "$WORK/browser.log" || fail "the browser's tree check did not finish"
fi

step "moving a device moves what may be done with it; moving needs the manage right on both folders"
refused olga "the manage right on both folders" move-device tc-m berlin
refused olga "the manage right on both folders" move-device tc-b munich
as admin move-device tc-m berlin/floor-2 > /dev/null
[ "$(devices_of mia)" = "tc-b=view_only tc-m=view_only" ] || fail "mia sees $(devices_of mia) after tc-m left munich"
[ "$(devices_of olga)" = "tc-b=full_control tc-m=full_control" ] || fail "olga sees $(devices_of olga) after tc-m came to berlin"
as olga snapshot tc-m "$WORK/olga-m.png" || fail "the snapshot "$WORK/olga-m.png" failed"
check_checkerboard "$WORK/olga-m.png"
refused admin "no folder nowhere" move-device tc-m nowhere

step "a manager does not move a device out of a deny's reach, nor out of a config group's policy, nor remove a folder rights are set on"
as admin folder add lab > /dev/null && as admin folder add lab/a > /dev/null
as admin move-device tc-m lab/a > /dev/null
as admin right grant user:olga manage --folder lab > /dev/null
as admin right deny group:helpdesk view --folder lab/a > /dev/null
refused olga "a deny of view for group:helpdesk on folder lab/a holds for the device where it is" move-device tc-m lab
as olga folder add lab/a/b > /dev/null
as olga move-device tc-m lab/a/b > /dev/null || fail "olga cannot move tc-m within the deny's reach (the positive control)"
refused olga "rights are set on folder lab/a: only an admin removes it" folder remove lab/a
as admin move-device tc-m munich > /dev/null
refused olga "the config.s device group munich sets the policy of its devices" move-device tc-m munich/east
as admin move-device tc-m berlin/floor-2 > /dev/null

step "a folder's policy, set by admins only, holds in and below it: the strictest consent of the folders above, recording if any records"
refused olga "changed by admins only" folder policy lab --record on
as admin move-device tc-m lab/a > /dev/null
# (Without a policy of its folder or a config group, an enrolled device's user is asked: tc-m has nobody to ask.)
refused admin "the device's user cannot be asked: no display configured" snapshot tc-m "$WORK/asked.png"
as admin folder policy lab --consent none > /dev/null
as admin snapshot tc-m "$WORK/plain.png" > /dev/null || fail "the snapshot "$WORK/plain.png" failed"
check_checkerboard "$WORK/plain.png"
if grep -q "(recorded)" "$WORK/tc-m.log"; then fail "tc-m was recorded before any policy said so"; fi
as admin folder policy lab --record on > /dev/null
as admin folder policy lab/a/b --consent ask > /dev/null
refused admin "consent: ask, notify, none or inherit" folder policy lab --consent maybe
refused admin "no folder nowhere" folder policy nowhere --record on
LIST=$(as admin folder list)
grep -q "^lab  .*  consent none, recorded$" <<<"$LIST" && grep -q "^lab/a  .*  consent none (from above), recorded (from above)$" <<<"$LIST" &&
  grep -q "^lab/a/b  .*  consent ask, recorded (from above)$" <<<"$LIST" || fail "folder list: $LIST"
as admin snapshot tc-m "$WORK/recorded.png" > /dev/null || fail "the snapshot "$WORK/recorded.png" failed"
check_checkerboard "$WORK/recorded.png"
wait_log tc-m "shadow request from admin (recorded)" 5
grep -q '"event":"session_started".*"device":"tc-m".*"recording"\|"recording".*"device":"tc-m".*"event":"session_started"' "$WORK"/data/*/audit.jsonl ||
  fail "tc-m's session in folder lab/a was not recorded"
# A manager keeps a device under the policy it is under; an admin moves it, and the stricter consent holds there.
refused olga "hold different consent or recording policies: only an admin moves a device between them" move-device tc-m lab/a/b
as admin move-device tc-m lab/a/b > /dev/null
ASKED=$(grep -c "asking the device's user" "$WORK/tc-m.log")
refused admin "the device's user cannot be asked: no display configured" snapshot tc-m "$WORK/asked.png"
[ "$(grep -c "asking the device's user" "$WORK/tc-m.log")" -gt "$ASKED" ] || fail "tc-m was not told to ask its user"
as admin folder policy lab/a/b --consent inherit > /dev/null
as admin move-device tc-m berlin/floor-2 > /dev/null

step "a running session ends when its administrator loses the right to it"
start olga-session "${CLI[@]}" -u olga -p "$ADMIN_PASSWORD" shadow tc-b --listen 127.0.0.1:0
PORT=$(listen_port olga-session 20)
exec 3<>"/dev/tcp/127.0.0.1/$PORT"  # (a viewer holds it open)
SESSION=$(sed -n 's/^session \(s-[0-9a-f]*\) is ready.*/\1/p' "$WORK/olga-session.log")
[ -n "$SESSION" ] || fail "no session id in olga's console"
as admin right deny user:olga view --folder berlin > /dev/null
wait_log ums "$SESSION\] ended: olga may no longer control tc-b" 5
for _ in $(seq 50); do grep -q "\"event\":\"session_ended\".*\"session\":\"$SESSION\"" "$WORK"/data/*/audit.jsonl && break; sleep 0.1; done
grep -q "\"event\":\"session_ended\".*\"session\":\"$SESSION\".*rights changed" "$WORK"/data/*/audit.jsonl || fail "the session's end and why is not in the audit trail"
exec 3>&-
as admin right revoke user:olga view --folder berlin > /dev/null

step "the audit right on a folder reads one device's trail there"
refused olga "the audit right on the device's folder" audit tc-b
as admin right grant user:olga audit --folder berlin > /dev/null
as olga audit tc-b --json > "$WORK/olga-audit.json" || fail "olga cannot read tc-b's trail"
python3 - "$WORK/olga-audit.json" <<'PY' || fail "olga's audit read: $(head -c 400 "$WORK/olga-audit.json")"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
assert records and all(r.get("device") == "tc-b" for r in records), records[:3]
assert any(r.get("event") == "session_started" and r.get("user") == "olga" for r in records), [r.get("event") for r in records]
PY
refused olga "name the device" audit
# (The rights are checked for one device: a second device filter is refused, not read.)
OLGA=$(curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' \
  -d "{\"user\":\"olga\",\"password\":\"$ADMIN_PASSWORD\"}" "https://127.0.0.1:$UMS_PORT/api/v1/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
secret "$OLGA"
for q in "device=tc-b&device=tc-m" "device=tc-b&device="; do
  CODE=$(curl -s -o "$WORK/dup" -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $OLGA" "https://127.0.0.1:$UMS_PORT/api/v1/audit?$q")
  [ "$CODE" = 400 ] || fail "audit?$q answered $CODE: $(head -c 300 "$WORK/dup")"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $OLGA" "https://127.0.0.1:$UMS_PORT/api/v1/audit?device=tc-b")" = 200 ] \
  || fail "audit?device=tc-b is refused (the positive control)"
as admin right revoke user:olga audit --folder berlin > /dev/null
refused olga "the audit right on the device's folder" audit tc-b

step "a folder that holds something is not removed; an empty one is, with its rights"
refused admin "holds folders" folder remove munich
as admin folder remove munich/east > /dev/null
refused admin "holds devices" folder remove berlin/floor-2
as admin right list > "$WORK/rights"
grep -q "^group:helpdesk  *munich  *view  *deny" "$WORK/rights" || fail "rights: $(cat "$WORK/rights")"

step "administrators made through the CLI are in the registry, log in, get rights, and lose their logins with a new password"
NINA_PASSWORD=nina-first-password-1
secret "$NINA_PASSWORD" nina-second-password-2
SHADOWLINK_NEW_PASSWORD=$NINA_PASSWORD as admin administrator add nina --role operator > /dev/null || fail "administrator add"
SHADOWLINK_NEW_PASSWORD=short refused admin "12 to 1024 characters" administrator add nora --role operator
SHADOWLINK_NEW_PASSWORD=$NINA_PASSWORD refused admin "is in the config file" administrator add olga --role admin
SHADOWLINK_NEW_PASSWORD=$NINA_PASSWORD refused olga "made and removed by admins only" administrator add nora --role admin
as admin administrator list > "$WORK/admins"
grep -q "^nina  *operator  *registry$" "$WORK/admins" && grep -q "^olga  *operator  *config$" "$WORK/admins" || fail "administrators: $(cat "$WORK/admins")"
nina() { "${CLI[@]}" -u nina -p "${NINA_PW:-$NINA_PASSWORD}" "$@"; }
[ -z "$(nina devices --json | python3 -c 'import json, sys; print(" ".join(d["id"] for d in json.load(sys.stdin)["devices"]))')" ] || fail "nina sees devices before any right"
as admin right grant user:nina view --folder berlin > /dev/null
nina snapshot tc-b "$WORK/nina.png" --view-only > /dev/null || fail "the snapshot "$WORK/nina.png" failed"
check_checkerboard "$WORK/nina.png"
login_token() {  # login_token USER PASSWORD: a login's token, as the Web App's login makes it
  curl -s --max-time 10 --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' \
    -d "{\"user\":\"$1\",\"password\":\"$2\"}" "https://127.0.0.1:$UMS_PORT/api/v1/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}
status_with() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" -H "Authorization: Bearer $1" "https://127.0.0.1:$UMS_PORT/api/v1/devices"; }
NINA_LOGIN=$(login_token nina "$NINA_PASSWORD"); secret "$NINA_LOGIN"
[ "$(status_with "$NINA_LOGIN")" = 200 ] || fail "nina's login does not work"
SHADOWLINK_NEW_PASSWORD=nina-second-password-2 as admin administrator password nina > /dev/null || fail "administrator password"
[ "$(status_with "$NINA_LOGIN")" = 401 ] || fail "nina's login outlived her new password"
if nina devices > /dev/null 2>&1; then fail "nina's old password still logs in"; fi
sleep 1.2  # (a failed login makes the next one for the user, from this address, wait a second)
NINA_PW=nina-second-password-2 nina devices > /dev/null || fail "nina's new password does not log in"
ADMIN_LOGIN=$(login_token admin "$ADMIN_PASSWORD"); secret "$ADMIN_LOGIN"

step "API tokens made through the CLI act as their administrator, with their rights, until deleted or expired"
NINA_TOKEN=$(as admin api-token create nina 2> "$WORK/token.err") || fail "api-token create: $(cat "$WORK/token.err")"
secret "$NINA_TOKEN"
[[ $NINA_TOKEN == sl_api_* ]] || fail "the token is not shaped as an API token"
by_token() { "$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$1" "${@:2}"; }
SEEN=$(by_token "$NINA_TOKEN" devices --json | python3 -c 'import json, sys; print(" ".join(d["id"] + "=" + d["access"] for d in json.load(sys.stdin)["devices"]))')
[ "$SEEN" = "tc-b=view_only tc-m=view_only" ] || fail "nina's token sees $SEEN, not what nina may"
by_token "$NINA_TOKEN" snapshot tc-b "$WORK/nina-token.png" --view-only > /dev/null || fail "the snapshot "$WORK/nina-token.png" failed"
check_checkerboard "$WORK/nina-token.png"
if by_token "$NINA_TOKEN" snapshot tc-b "$WORK/x.png" > "$WORK/token-full.log" 2>&1; then fail "nina's token got full control"; fi
[ "$(status_with "x$NINA_TOKEN")" = 401 ] || fail "another token was taken (the negative control)"
refused olga "made and deleted by admins only" api-token create olga
refused admin "no administrator named nobody" api-token create nobody
refused admin "olga is in the config file" api-token create olga
SHORT=$(as admin api-token create nina --valid-for 1 2> /dev/null) || fail "a token valid for a second"
secret "$SHORT"
as audrey api-token list > "$WORK/tokens" || fail "an auditor cannot list the API tokens"
for t in "$NINA_TOKEN" "$SHORT"; do
  grep -q "^$(printf %s "$t" | sha256sum | cut -c1-12)  *nina  *admin " "$WORK/tokens" || fail "token list: $(cat "$WORK/tokens")"
done
if grep -q "sl_api_" "$WORK/tokens"; then fail "the list shows a token"; fi
sleep 2
[ "$(status_with "$SHORT")" = 401 ] || fail "an expired token was taken"
as admin api-token delete "$(printf %s "$NINA_TOKEN" | sha256sum | cut -c1-12)" > /dev/null || fail "api-token delete"
[ "$(status_with "$NINA_TOKEN")" = 401 ] || fail "a deleted token was taken"
refused admin "no API token 000000000000" api-token delete 000000000000
KEPT_TOKEN=$(as admin api-token create nina 2> /dev/null) || fail "a token to keep"
secret "$KEPT_TOKEN"

step "folders, rights and groups are in the registry: a restarted UMS grants the same"
kill "$(pgrep -f -- "--config $WORK/ums.json")"
wait_log ums "stopped" 10
mv "$WORK/ums.log" "$WORK/ums-first.log"
keep_port "$WORK/ums.json" "$UMS_PORT"
start_daemon ums "$WORK/ums.json"
wait_port "$UMS_PORT" 15
wait_log ums "registry: 6 folder(s), 7 right(s) on them, 1 group(s) of administrators" 15
wait_log ums "device tc-m online from" 15
as admin folder list | grep -q "^lab  .*  consent none, recorded$" || fail "lab's recording policy was lost in the restart: $(as admin folder list)"
[ "$(devices_of olga)" = "tc-b=full_control tc-m=full_control" ] || fail "olga sees $(devices_of olga) after the restart"
[ "$(devices_of mia)" = "tc-b=view_only tc-m=view_only" ] || fail "mia sees $(devices_of mia) after the restart"
# So are administrators and logins: a login from before the restart still holds, and nina logs in.
[ "$(status_with "$ADMIN_LOGIN")" = 200 ] || fail "a login from before the restart was lost"
[ "$(status_with "$KEPT_TOKEN")" = 200 ] || fail "an API token from before the restart was lost"
NINA_PW=nina-second-password-2 nina snapshot tc-m "$WORK/nina-m.png" --view-only > /dev/null || fail "the snapshot "$WORK/nina-m.png" failed"
check_checkerboard "$WORK/nina-m.png"
as admin administrator remove nina > /dev/null
if NINA_PW=nina-second-password-2 nina devices > /dev/null 2>&1; then fail "removed nina still logs in"; fi
[ "$(status_with "$KEPT_TOKEN")" = 401 ] || fail "removed nina's API token was taken"
sleep 0.5  # (and any login from this address a moment)
refused admin "in the config file" administrator remove olga
refused admin "no administrator nina" administrator remove nina

step "every change is in the audit trail with who made it"
for e in folder_created folder_removed folder_policy_set api_token_created api_token_deleted right_set right_removed group_member_added device_moved administrator_created administrator_password_set administrator_removed; do
  grep -q "\"event\":\"$e\".*\"user\":\"admin\"" "$WORK"/data/*/audit.jsonl || fail "no $e by admin in the audit trail"
done
grep -q '"event":"folder_created".*"folder":"munich/east".*"user":"olga"' "$WORK"/data/*/audit.jsonl || fail "olga's subfolder is not in the audit trail"
check_no_secrets
echo "ok: folders, inherited rights, denies, groups, manage and audit rights, moves, and a restart"
