#!/usr/bin/env bash
# A gateway's own certificate is renewed by the UMS (SECURITY.md, "The gateway's certificate"): a
# gateway serving a certificate the installation CA signed, with a third of its validity or less
# left, asks the UMS over its link; the UMS signs only the key the gateway proved in the TLS
# handshake of that link (with the gateway's key file swapped, the request is for another key and
# is refused: the gateway keeps serving what it had); the renewed certificate is served from the
# next connection on, without dropping the UMS's link or a device's, and the CA's key never goes
# to the gateway.
source "$(dirname "$0")/lib.sh"
CRED=icg-ums-credential-0123456789

# ums_config GATEWAY_PORT: the UMS (names localhost and 127.0.0.1; the gateway is 127.0.0.2: a
# gateway certificate never names the UMS), remote-1 behind the gateway; without a port, no gateway.
ums_config() {
  local gateways=
  [ -z "${1:-}" ] || gateways=", \"gateways\": [{\"name\": \"icg\", \"url\": \"wss://127.0.0.2:$1\", \"credential_file\": \"$(credential_file "$CRED")\"}]"
  cat > "$WORK/ums.json" <<JSON
{"log_level": "info", "data_dir": "$WORK/data", "services": [{"type": "ums", "name": "ums", "settings": {"port": 0,
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}],
  "devices": [{"id": "remote-1", "credential_sha256": "$(sha256_of remote-1-credential)", "consent": "none"}]$gateways}}]}
JSON
}
served_fingerprint() {  # the SHA-256 of the leaf a new connection to the gateway gets
  timeout 10 openssl s_client -connect "127.0.0.2:$ICG_PORT" -CAfile "$WORK/data/ca.pem" < /dev/null 2> /dev/null |
    openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f
}
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }
public_key() { openssl x509 -in "$1" -noout -pubkey; }

step "the UMS makes the installation CA; the gateway gets ca.pem only, and a certificate for its key that the CA signed 60 days ago and that ends in 2 days"
ums_config
start_daemon ums-first "$WORK/ums.json"; FIRST_PID=$LAST_PID
daemon_port ums-first > /dev/null
kill "$FIRST_PID"; wait "$FIRST_PID" 2> /dev/null || true
GW=$WORK/icg-data/icg
mkdir -p "$GW" "$WORK/gw-ca" "$WORK/ca-db"
cp "$WORK/data/ca.pem" "$WORK/gw-ca/"
(umask 077; openssl ecparam -name prime256v1 -genkey -noout -out "$GW/server.key")
openssl req -new -key "$GW/server.key" -subj /CN=127.0.0.2 -out "$WORK/gw.csr"
: > "$WORK/ca-db/index.txt"
echo 1000 > "$WORK/ca-db/serial"
cat > "$WORK/ca-db/ca.cnf" <<CNF
[ca]
default_ca = here
[here]
database = $WORK/ca-db/index.txt
new_certs_dir = $WORK/ca-db
serial = $WORK/ca-db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
[gateway]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.2
CNF
openssl ca -batch -notext -config "$WORK/ca-db/ca.cnf" -extensions gateway -cert "$WORK/data/ca.pem" -keyfile "$WORK/data/ca.key" \
  -startdate "$(date -u -d '-60 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '+2 days' +%Y%m%d%H%M%SZ)" \
  -in "$WORK/gw.csr" -out "$WORK/old.pem" 2> "$WORK/openssl-ca.log" || fail "openssl ca: $(cat "$WORK/openssl-ca.log")"
cat "$WORK/old.pem" "$WORK/data/ca.pem" > "$GW/server.pem"
OLD_FP=$(fingerprint "$WORK/old.pem")
cat > "$WORK/icg.json" <<JSON
{"log_level": "info", "data_dir": "$WORK/icg-data", "services": [{"type": "icg", "name": "icg", "settings": {"port": 0,
  "listen": "127.0.0.2", "names": ["127.0.0.2"], "ums_credential_sha256": "$(sha256_of "$CRED")", "ca_dir": "$WORK/gw-ca"}}]}
JSON
start_daemon icg "$WORK/icg.json"
ICG_PORT=$(daemon_port icg)
[ "$(served_fingerprint)" = "$OLD_FP" ] || fail "the gateway does not serve the certificate it was given"

step "with its key file swapped, the gateway asks for a certificate for another key: the UMS refuses, the gateway keeps its own"
mv "$GW/server.key" "$WORK/genuine.key"
(umask 077; openssl ecparam -name prime256v1 -genkey -noout -out "$GW/server.key")
[ "$(openssl pkey -in "$GW/server.key" -pubout)" != "$(public_key "$WORK/old.pem")" ] || fail "test bug: the swapped key is the genuine one"
ums_config "$ICG_PORT"
start_daemon ums "$WORK/ums.json"; UMS_PID=$LAST_PID
UMS_PORT=$(daemon_port ums)
CLI=("$BIN/shadowlink" --server "https://127.0.0.1:$UMS_PORT" --ca "$WORK/data/ca.pem" --token "$API_TOKEN")
start_xvnc
write_device_config "$WORK/remote1.json" remote-1 remote-1-credential "wss://127.0.0.2:$ICG_PORT/up" "$VNC_SOCKET"
start remote1 "$BIN/shadowlinkd" --config "$WORK/remote1.json"
wait_log icg "asking the UMS to renew it" 10
wait_log ums "gateway icg: certificate request refused: it is not for the key this gateway's certificate holds" 10
wait_log icg "the UMS reports: certificate request refused: it is not for the key" 5
sleep 1
[ "$(served_fingerprint)" = "$OLD_FP" ] || fail "the gateway changed its certificate after a refused request"
cmp -s <(openssl x509 -in "$GW/server.pem") "$WORK/old.pem" || fail "the gateway's server.pem changed after a refused request"
if grep -q "renewed: serving" "$WORK/icg.log"; then fail "the gateway says it renewed"; fi
wait_log remote1 "connected to wss://127.0.0.2:$ICG_PORT/up" 10

step "with its own key back, the next link renews it: the same key, valid 825 days, served to new connections; the links stay"
mv "$WORK/genuine.key" "$GW/server.key"
kill "$UMS_PID"; wait "$UMS_PID" 2> /dev/null || true
keep_port "$WORK/ums.json" "$UMS_PORT"
start_daemon ums-again "$WORK/ums.json"
daemon_port ums-again > /dev/null
wait_log icg "renewed: serving the certificate the UMS signed" 15
wait_log ums-again "signed gateway icg's certificate for 127.0.0.2" 5
NEW_FP=$(served_fingerprint)
[ ${#NEW_FP} = 64 ] && [ "$NEW_FP" != "$OLD_FP" ] || fail "new connections still get the old certificate ($NEW_FP)"
openssl x509 -in "$GW/server.pem" > "$WORK/new.pem"
[ "$(fingerprint "$WORK/new.pem")" = "$NEW_FP" ] || fail "server.pem is not the certificate served"
openssl verify -CAfile "$WORK/data/ca.pem" "$WORK/new.pem" > /dev/null || fail "the renewed certificate is not the installation CA's"
[ "$(public_key "$WORK/new.pem")" = "$(public_key "$WORK/old.pem")" ] || fail "the renewed certificate is for another key"
openssl x509 -in "$WORK/new.pem" -noout -checkend $((800 * 86400)) > /dev/null || fail "the renewed certificate ends within 800 days"
if openssl x509 -in "$WORK/old.pem" -noout -checkend $((800 * 86400)) > /dev/null; then fail "negative control: the old certificate passes the 800-day check"; fi
[ ! -e "$WORK/gw-ca/ca.key" ] || fail "the CA's key is on the gateway"
for _ in $(seq 100); do "${CLI[@]}" devices 2> /dev/null | grep -q "^remote-1 .*yes" && break; sleep 0.1; done
"${CLI[@]}" snapshot remote-1 "$WORK/through-renewed.png" || fail "no snapshot of remote-1 through the gateway after the renewal"
check_checkerboard "$WORK/through-renewed.png"
[ "$(grep -c "connected to gateway" "$WORK/ums-again.log")" = 1 ] || fail "the UMS's link to the gateway was dropped: $(grep "gateway" "$WORK/ums-again.log")"
# (The device's link to the gateway outlived the UMS's restart and the renewal: one connection.)
[ "$(grep -c "connected to" "$WORK/remote1.log")" = 1 ] || fail "remote-1's link was dropped: $(grep "connected to" "$WORK/remote1.log")"
echo "gateway certificate: all checks passed"
