#!/usr/bin/env bash
# shadowlinkd import-config: a UMS config of the earlier kind (devices, device groups, users with
# grants) is moved into the registry; a UMS started on a config that keeps only an admin and the
# admin then takes the imported device by its credential and the group's policy from its folder, the imported operator logs in
# with her password and shadows as her imported grant allows; what could not be moved is listed
# with the reason, and a second run adds nothing.
source "$(dirname "$0")/lib.sh"

step "start Xvnc; write a config of the earlier kind"
start_xvnc
OLGA_TOKEN=olga-api-token-0123456789abcdef
DEMO_TOKEN=demo-api-token-0123456789abcdef
secret "$OLGA_TOKEN" "$DEMO_TOKEN"
cat > "$WORK/old.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0,
  "device_groups": [{"name": "lab", "devices": ["tc-1", "tc-3"], "consent": "none"},
                    {"name": "lab/desk", "devices": ["tc-2"]}, {"name": "front", "devices": ["tc-3"]}],
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"},
            {"user": "olga", "password_hash": "$ADMIN_HASH", "role": "operator", "allow": [{"groups": ["lab"], "mode": "view_only"}]},
            {"user": "victor", "password_hash": "$ADMIN_HASH", "role": "operator", "allow": [{"groups": ["lab"]}], "deny": [{"devices": ["tc-1"]}]},
            {"user": "demo", "password": "demo-only", "role": "auditor"}],
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}, {"token_sha256": "$(sha256_of "$OLGA_TOKEN")", "user": "olga"},
                 {"token_sha256": "$(sha256_of "$DEMO_TOKEN")", "user": "demo"}],
  "devices": [{"id": "tc-1", "name": "Thin client 1", "credential_sha256": "$(sha256_of tc-1-credential)"},
              {"id": "tc-2", "name": "Thin client 2", "credential_sha256": "$(sha256_of tc-2-credential)", "consent": "none"},
              {"id": "tc-3", "name": "Thin client 3", "credential_sha256": "$(sha256_of tc-3-credential)"}]}}]}
JSON

step "import it: what moved, and what stays in the config with the reason"
"$BIN/shadowlinkd" import-config --config "$WORK/old.json" > "$WORK/import.out" 2>&1 || fail "import-config: $(cat "$WORK/import.out")"
cat "$WORK/import.out"
for line in "imported: folder lab" "imported: folder front" "imported: device tc-1 into folder lab" "imported: device tc-2$" \
            "imported: administrator admin (admin)" "imported: administrator olga (operator)" "imported: allow view on folder lab for olga" \
            "imported: administrator victor (operator)" \
            "left in the config: device group lab/desk (as a folder it would lie below group lab's" \
            "left in the config: device tc-3 (it is in several device groups" \
            "left in the config: every grant of victor (a deny of device tc-1: rights are given on folders" \
            "left in the config: user demo (no password_hash" "imported: administrator automation (admin, API token only)" \
            "imported: the API token of automation$" "imported: the API token of olga$" \
            "left in the config: the API token of demo (it acts as user demo of the config, who is no administrator of the registry" \
            "left in the config: device tc-2's own consent" "imported: the consent and recording policy of device group lab onto its folder" \
            "^12 imported, 0 already in the registry, 6 left in the config$"; do
  grep -q "$line" "$WORK/import.out" || fail "the import did not say '$line'"
done
# (Half of victor's grants, the allow without the deny, would give him tc-1: none of them moved.)
if grep -q "for victor" "$WORK/import.out"; then fail "a grant of victor was imported without his deny"; fi
"$BIN/shadowlinkd" import-config --config "$WORK/old.json" > "$WORK/again.out" 2>&1 || fail "import-config again: $(cat "$WORK/again.out")"
grep -q "^0 imported, 12 already in the registry, 6 left in the config$" "$WORK/again.out" || fail "the second run: $(cat "$WORK/again.out")"
if "$BIN/shadowlinkd" import-config --config "$WORK/nowhere.json" > "$WORK/none.out" 2>&1; then fail "a missing config was imported"; fi

step "a UMS on a config that keeps only the admin takes what was imported, the group's policy too"
# (Without folder lab's imported consent policy, tc-1's user would be asked, and tc-1 has nobody to ask.)
cat > "$WORK/new.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {"port": 0,
  "users": [{"user": "admin", "password_hash": "$ADMIN_HASH"}], "devices": []}}]}
JSON
start_daemon ums "$WORK/new.json"; UMS_PID=$LAST_PID
UMS_PORT=$(daemon_port ums)
wait_log ums "registry: .*, 2 enrolled device(s)" 10  # (tc-1 and tc-2; tc-3 stayed in the config)
write_device_config "$WORK/tc1.json" tc-1 tc-1-credential "$UMS_PORT" "$VNC_SOCKET"
start tc-1 "$BIN/shadowlinkd" --config "$WORK/tc1.json"
wait_log ums "device tc-1 online" 15
# The negative control: a wrong credential for the other imported device is refused.
write_device_config "$WORK/tc2.json" tc-2 not-tc-2-credential "$UMS_PORT" "$VNC_SOCKET"
start tc-2 "$BIN/shadowlinkd" --config "$WORK/tc2.json"; TC2_PID=$LAST_PID
wait_log ums "refused: unknown device or wrong credential" 15
kill "$TC2_PID"; wait "$TC2_PID" 2> /dev/null || true
olga() { "$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" -u olga -p "$ADMIN_PASSWORD" "$@"; }
LIST=$(olga devices --json | python3 -c 'import json, sys; print(" ".join(d["id"] + "=" + d["access"] + "@" + d["folder"] for d in json.load(sys.stdin)["devices"]))')
[ "$LIST" = "tc-1=view_only@lab" ] || fail "olga sees: $LIST"
olga snapshot tc-1 "$WORK/olga.png" --view-only > /dev/null || fail "the snapshot "$WORK/olga.png" failed"
check_checkerboard "$WORK/olga.png"
if olga snapshot tc-1 "$WORK/x.png" > "$WORK/full.log" 2>&1; then fail "olga got full control"; fi
grep -q "only view-only sessions" "$WORK/full.log" || fail "unclear refusal: $(cat "$WORK/full.log")"
VICTOR=$("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" -u victor -p "$ADMIN_PASSWORD" devices --json)
[ "$(python3 -c 'import json, sys; print(len(json.loads(sys.argv[1])["devices"]))' "$VICTOR")" = 0 ] || fail "victor sees devices: $VICTOR"
# olga's imported token acts as olga: her view only, no more.
"$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$OLGA_TOKEN" snapshot tc-1 "$WORK/olga-token.png" --view-only > /dev/null ||
  fail "olga's imported token cannot view tc-1"
check_checkerboard "$WORK/olga-token.png"
if "$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$OLGA_TOKEN" snapshot tc-1 "$WORK/x.png" > /dev/null 2>&1; then
  fail "olga's imported token got full control"
fi
# The imported API token acts as its administrator; it logs in with no password.
"$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN" devices > "$WORK/token.out" 2>&1 ||
  fail "the imported API token is refused: $(cat "$WORK/token.out")"
grep -q "^tc-1 " "$WORK/token.out" || fail "the imported API token's administrator does not see tc-1: $(cat "$WORK/token.out")"
if "$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "0000$API_TOKEN" devices > /dev/null 2>&1; then
  fail "another token was taken (the negative control)"
fi
sleep 1.1  # (a failed login makes the next one from this address wait)
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$WORK/data/ca.pem" -H 'Content-Type: application/json' \
  -d '{"user":"automation","password":""}' "https://127.0.0.1:$UMS_PORT/api/v1/login")
[ "$CODE" = 401 ] || fail "the token's administrator logging in with no password got HTTP $CODE"
step "a device imported while the UMS runs is taken after a reload (SIGHUP), not before"
cat > "$WORK/more.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "settings": {
  "device_groups": [{"name": "lab", "devices": ["tc-4"]}],
  "devices": [{"id": "tc-4", "name": "Thin client 4", "credential_sha256": "$(sha256_of tc-4-credential)"}]}}]}
JSON
"$BIN/shadowlinkd" import-config --config "$WORK/more.json" > "$WORK/more.out" 2>&1 || fail "import-config while the UMS runs: $(cat "$WORK/more.out")"
grep -q "imported: device tc-4 into folder lab" "$WORK/more.out" || fail "tc-4 was not imported: $(cat "$WORK/more.out")"
write_device_config "$WORK/tc4.json" tc-4 tc-4-credential "$UMS_PORT" "$VNC_SOCKET"
sed -i 's#"data_dir": "[^"]*"#"data_dir": "'"$WORK"'/tc4-data"#' "$WORK/tc4.json"
start tc-4 "$BIN/shadowlinkd" --config "$WORK/tc4.json"
wait_log ums "enrollment of device tc-4 from .* refused" 15
kill -HUP "$UMS_PID"
wait_log ums "device tc-4 is in the registry (enrolled through another node, or imported): known here from now on" 10
wait_log ums "device tc-4 online" 20
"$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN" snapshot tc-4 "$WORK/tc4.png" > /dev/null ||
  fail "tc-4 cannot be shadowed after the reload"
check_checkerboard "$WORK/tc4.png"
check_no_secrets
echo "ok: imported devices, folder, administrators and grants work from the registry alone"
