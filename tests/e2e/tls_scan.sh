#!/usr/bin/env bash
# The UMS's and the gateway's TLS listeners as an outside scanner sees them: Debian's testssl.sh
# (command `testssl`), connecting by the certificate's host name and trusting the installation CA.
# Quick by default (protocols, cipher categories, every cipher, the certificate: -p -s -E -S);
# TLS_SCAN=full runs the whole scan (scripts/tls-scan). Every finding rated above LOW must be one
# of those explained in SECURITY.md ("TLS scan"): anything else fails the test. Findings go to
# $ARTIFACTS/tls-scan/.
source "$(dirname "$0")/lib.sh"
command -v testssl > /dev/null || fail "testssl is not installed (Debian package testssl.sh; scripts/deps.sh installs it)"
CRED=tls-scan-ums-credential-0123456789
OUT=${ARTIFACTS:-$WORK}/tls-scan
mkdir -p "$OUT"

step "a gateway and a UMS with their own certificates from the installation CA"
start_gateway "$CRED"
cat > "$WORK/ums.json" <<JSON
{"data_dir": "$WORK/data", "services": [{"type": "ums", "name": "ums", "settings": {"port": 0,
  "api_tokens": [{"token_sha256": "$TOKEN_SHA", "user": "automation"}], "gateways": [$(gateway_entry "$CRED")]}}]}
JSON
start_daemon ums "$WORK/ums.json"
UMS_PORT=$(daemon_port ums)
wait_log icg "UMS connected" 20

# Explained in SECURITY.md ("TLS scan"): a private installation CA publishes no revocation list
# or OCSP responder.
EXPLAINED="cert_revocation"
scan() {  # scan NAME PORT
  local mode=(-p -s -E -S)
  [ "${TLS_SCAN:-quick}" = full ] && mode=()
  rm -f "$OUT/$1.json"
  step "testssl ${mode[*]:-(full scan)} against the $1 at localhost:$2"
  timeout 600 testssl --quiet --color 0 --warnings off --connect-timeout 10 --openssl-timeout 10 \
    --add-ca "$WORK/data/ca.pem" --ip 127.0.0.1 --jsonfile "$OUT/$1.json" "${mode[@]}" "https://localhost:$2/" > "$OUT/$1.txt" 2>&1 || true
  [ -s "$OUT/$1.json" ] || fail "testssl wrote no findings for the $1: $(tail -5 "$OUT/$1.txt")"
  python3 - "$OUT/$1.json" "$1" "$EXPLAINED" <<'PY'
import json, sys
findings, name, explained = json.load(open(sys.argv[1])), sys.argv[2], set(sys.argv[3].split())
by_id = {f["id"]: f for f in findings}
def expect(fid, wanted):  # the finding starts with the words wanted ("offered" is not "not offered")
    got = by_id.get(fid, {}).get("finding", "(not tested)")
    if not got.startswith(wanted):
        sys.exit(f"FAIL: {name}: {fid} is '{got}', expected '{wanted}'")
# What a scan of these endpoints must find, whatever else it reports.
for p in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
    expect(p, "not offered")
expect("TLS1_2", "offered")
expect("TLS1_3", "offered")
expect("cipherlist_STRONG", "offered")
for c in ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"):
    expect(c, "not offered")
# Every suite offered is an AEAD one with ephemeral keys (the -E list, one finding per suite).
suites = [f["finding"] for f in findings if f["id"].startswith("cipher-tls") or f["id"].startswith("cipher_x")]
if not suites:
    sys.exit(f"FAIL: {name}: testssl listed no suite")
for line in suites:
    if not (("GCM" in line or "CHACHA20-POLY1305" in line or "CHACHA20_POLY1305" in line) and ("ECDHE" in line or "TLS_" in line)):
        sys.exit(f"FAIL: {name}: a suite that is not AEAD with ECDHE: {line}")
bad, shown = [], []
for f in findings:
    sev = f.get("severity", "")
    if sev in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
        shown.append(f"  {sev:8} {f['id']}: {f['finding']}")
    if sev in ("MEDIUM", "HIGH", "CRITICAL") and f["id"] not in explained:
        bad.append(f"{sev} {f['id']}: {f['finding']}")

print(f"{name}: {len(findings)} findings; rated LOW or above:", *(shown or ["  none"]), sep="\n")
if bad:
    sys.exit(f"FAIL: {name}: findings above LOW that SECURITY.md does not explain:\n  " + "\n  ".join(bad))
PY
}
scan UMS "$UMS_PORT"
scan gateway "$ICG_PORT"
echo "tls scan (${TLS_SCAN:-quick}): all checks passed; findings in $OUT"
