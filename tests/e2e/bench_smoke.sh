#!/usr/bin/env bash
# Proves the benchmark tools still work (briefly; numbers come from benchmarks/run): the scale
# generator's idle devices, active sessions and watched desktops are held and counted by the UMS
# itself, and the load client measures the one-hop path including its one-way mode and set-ups.
source "$(dirname "$0")/lib.sh"

step "the tools' command lines: an unknown option or a bad value is a usage error naming it (exit 2), --help lists the options"
usage_error() {  # usage_error EXPECTED_TEXT TOOL ARGS...
  set +e; timeout 10 "$BENCH/$2" "${@:3}" > "$WORK/usage.txt" 2>&1; local rc=$?; set -e
  [ $rc -eq 2 ] && grep -q -- "$1" "$WORK/usage.txt" || fail "$2 ${*:3}: rc=$rc $(cat "$WORK/usage.txt")"
}
usage_error "unrecognised option '--round-trip'" splice_bench --round-trip 5
usage_error "unrecognised option '--mb'" tls_ceiling --mb 5
usage_error "unrecognised option '--bulk'" loadgen measure tcp://127.0.0.1:1 --bulk 5
usage_error "the argument ('many') for option '--devices' is invalid" scale idle --devices many
usage_error "the mode is idle, active or vnc, not 'busy'" scale busy
usage_error "echo needs a port, not 'x'" loadgen echo x
for tool in splice_bench tls_ceiling loadgen scale flood; do
  "$BENCH/$tool" --help > "$WORK/help.txt" || fail "$tool --help failed"
  grep -q -- "--help" "$WORK/help.txt" || fail "$tool --help: $(cat "$WORK/help.txt")"
done
echo "ok: usage errors and help"

start echo "$BENCH/loadgen" echo 0; ECHO=$(listen_port echo)
secret benchmark-token-0123456789
python3 - "$WORK" > "$WORK/ums.json" <<'PY'
import hashlib, json, sys
work = sys.argv[1]
sha = lambda c: hashlib.sha256(c.encode()).hexdigest()
devices = [{"id": f"scale-{i}", "credential_sha256": sha(f"scale-credential-{i}"), "consent": "none"} for i in range(40)]
devices += [{"id": f"act-{i}", "credential_sha256": sha(f"act-credential-{i}"), "consent": "none"} for i in range(5)]
devices += [{"id": f"desk-{i}", "credential_sha256": sha(f"desk-credential-{i}"), "consent": "none"} for i in range(3)]
print(json.dumps({"log_level": "warn", "data_dir": work + "/data", "services": [{"type": "ums", "settings": {"port": 0,
  "api_tokens": [{"token_sha256": hashlib.sha256(b"benchmark-token-0123456789").hexdigest(), "user": "bench"}], "devices": devices}}]}))
PY
start_daemon ums "$WORK/ums.json"; UMS_PID=$LAST_PID; UMS=$(daemon_port ums)

step "40 idle device links from 4 source addresses, counted online by the UMS"
"$BENCH/scale" idle --url "wss://127.0.0.1:$UMS/up" --ca "$WORK/data/ca.pem" --devices 40 --sources 4 --pid "$UMS_PID" \
  --hold-s 2 --ums "127.0.0.1:$UMS" --token benchmark-token-0123456789 > "$WORK/idle.json" || fail "scale idle: $(cat "$WORK/idle.json")"
python3 - "$WORK/idle.json" <<'PY' || fail "idle: $(cat "$WORK/idle.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["up"] == 40 and d["server_counted"] == 40 and d["dropped_while_holding"] == 0, d
assert d["server_kib_per_connection"] > 0, d
PY
echo "ok: $(cat "$WORK/idle.json")"

step "a wrong credential is refused and reported, not counted"
set +e; "$BENCH/scale" idle --url "wss://127.0.0.1:$UMS/up" --ca "$WORK/data/ca.pem" --devices 1 --credential wrong- \
  --hold-s 1 > "$WORK/bad.json"; rc=$?; set -e
[ $rc -ne 0 ] && grep -q '"failed":1' "$WORK/bad.json" && grep -q "unknown device or wrong credential" "$WORK/bad.json" \
  || fail "a refused device was not reported: rc=$rc $(cat "$WORK/bad.json")"

# start_agents NAME PREFIX COUNT VNC_PORT: a shadowlinkd with COUNT device agents PREFIX-0.. (each
# with its own credential file), once the UMS counts them all online. Sets AGENTS_PID.
start_agents() {
  python3 - "$WORK" "$UMS" "$4" "$2" "$3" "$1" > "$WORK/$1.json" <<'PY'
import json, os, sys
work, port, vnc, prefix, count, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
os.makedirs(work + "/secrets", exist_ok=True)
def credential_file(i):  # the device's own credential, in a file only this user may read
    path = f"{work}/secrets/{prefix}-{i}"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f: f.write(f"{prefix}-credential-{i}")
    return path
print(json.dumps({"log_level": "warn", "data_dir": f"{work}/{name}", "services": [{"type": "device", "name": f"{prefix}{i}",
  "settings": {"device_id": f"{prefix}-{i}", "credential_file": credential_file(i), "server": f"wss://127.0.0.1:{port}/up",
               "ca_file": work + "/data/ca.pem", "vnc_port": vnc}} for i in range(count)]}))
PY
  start "$1" "$BIN/shadowlinkd" --config "$WORK/$1.json"; AGENTS_PID=$LAST_PID
  local n=0
  for _ in $(seq 100); do
    n=$("$BIN/shadowlink" --server "https://127.0.0.1:$UMS" --ca "$WORK/data/ca.pem" --token benchmark-token-0123456789 devices | grep -c "^$2-.* yes" || true)
    [ "$n" -ge "$3" ] && return 0; sleep 0.1
  done
  fail "$1: device agents not online ($n of $3)"
}

step "5 real device agents, 5 active sessions through the UMS, counted active by the UMS"
start_agents devices act 5 "$ECHO"
"$BENCH/scale" active --ums "127.0.0.1:$UMS" --ca "$WORK/data/ca.pem" --token benchmark-token-0123456789 --devices 5 \
  --pid "$UMS_PID" --hold-s 3 > "$WORK/active.json" || fail "scale active: $(cat "$WORK/active.json")"
python3 - "$WORK/active.json" <<'PY' || fail "active: $(cat "$WORK/active.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["up"] == 5 and d["server_counted"] == 5 and d["dropped_while_holding"] == 0 and d["round_trips"] >= 5, d
PY
echo "ok: $(cat "$WORK/active.json")"

step "the load client measures the one-hop path, echo, one way and repeated set-ups"
for _ in $(seq 100); do  # the sessions above end asynchronously; wait until act-0 is free
  list=$("$BIN/shadowlink" --server "https://127.0.0.1:$UMS" --ca "$WORK/data/ca.pem" --token benchmark-token-0123456789 devices)
  grep -q "^act-0 .* yes  *no" <<<"$list" && break
  sleep 0.1
done
out=$("$BENCH/loadgen" measure "shadowlink://act-0@127.0.0.1:$UMS" --ca "$WORK/data/ca.pem" --token benchmark-token-0123456789 \
  --round-trips 100 --bulk-mib 2 --setups 3) || fail "loadgen failed"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["one_way_mb_s"] > 0 and d["bulk_mb_s"] > 0 and d["rtt4k"]["p50_us"] > 0, d
assert d["setups"]["count"] == 3 and 0 < d["setups"]["p50_ms"] <= d["setups"]["max_ms"], d' "$out" \
  || fail "loadgen: $out"
echo "ok: $out"

step "the flood benchmark: a session's round trip unloaded and under 40 hostile clients of four kinds, while 40 verified links are held"
for _ in $(seq 100); do  # act-0's session above ends asynchronously
  list=$("$BIN/shadowlink" --server "https://127.0.0.1:$UMS" --ca "$WORK/data/ca.pem" --token benchmark-token-0123456789 devices)
  grep -q "^act-0 .* yes  *no" <<<"$list" && break
  sleep 0.1
done
start held "$BENCH/scale" idle --url "wss://127.0.0.1:$UMS/up" --ca "$WORK/data/ca.pem" --devices 40 --sources 4 --hold-s 10; HELD=$LAST_PID
wait_log held "holding" 20
"$BENCH/flood" --ums "127.0.0.1:$UMS" --ca "$WORK/data/ca.pem" --token benchmark-token-0123456789 --device act-0 --hostile 40 \
  --seconds 4 --round-trips 100 --id-count 40 --sources 4 > "$WORK/flood.json" 2> "$WORK/flood.err" || fail "flood: $(cat "$WORK/flood.err")"
python3 - "$WORK/flood.json" <<'PY' || fail "flood: $(cat "$WORK/flood.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["unloaded"]["round_trips"] == 100 and d["under_flood"]["round_trips"] == 100 and d["p99_ratio"] > 0, d
assert all(d["hostile"][k]["attempts"] > 0 for k in ("half_open", "hellos", "slowloris", "logins")), d
PY
wait "$HELD" || fail "verified links were dropped during the flood: $(grep '^{' "$WORK/held.log")"
grep -q '"dropped_while_holding":0' "$WORK/held.log" || fail "held links: $(grep '^{' "$WORK/held.log")"
echo "ok: $(cat "$WORK/flood.json")"

step "3 watched desktops: the scale tool is the devices' VNC server, updates arrive whole with their latency, input events go back"
hold_port; SCREENS=$HELD_PORT SCREENS_HOLDER=$HELD_PID
start_agents desks desk 3 "$SCREENS"; DESKS_PID=$AGENTS_PID
release_port "$SCREENS_HOLDER"
"$BENCH/scale" vnc --ums "127.0.0.1:$UMS" --ca "$WORK/data/ca.pem" --token benchmark-token-0123456789 --devices 3 --prefix desk- \
  --vnc-port "$SCREENS" --pid "$UMS_PID" --agent-pid "$DESKS_PID" --hold-s 3 --big-update 65536 --big-every-s 1 > "$WORK/vnc.json" \
  || fail "scale vnc: $(cat "$WORK/vnc.json")"
python3 - "$WORK/vnc.json" <<'PY' || fail "vnc: $(cat "$WORK/vnc.json")"
import json, sys
d = json.load(open(sys.argv[1]))
s = d["screen"]
assert d["up"] == 3 and d["failed"] == 0 and d["dropped_while_holding"] == 0 and d["server_counted"] == 3, d
assert s["vnc_connections"] == 3 and s["updates"] >= 30 and s["mb_s_to_viewers"] > 0 and s["input_events_per_s"] > 0, d
l = s["update_latency"]
assert 0 < l["p50_ms"] <= l["p99_ms"] <= l["max_ms"], d
cpu = d["cpu_ms_per_session_s"]  # (clock ticks of 10 ms: a short run may see none in one process)
assert all(cpu[k] >= 0 for k in ("ums", "device_agents", "load_generator")) and sum(cpu.values()) > 0, d
PY
echo "ok: $(cat "$WORK/vnc.json")"
