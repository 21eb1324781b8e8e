# The cluster tests' common parts (sourced after lib.sh): a database of their own on the test
# suite's PostgreSQL, UMS nodes on it, and where the devices are online by the database.
[ -r "${SHADOWLINK_TEST_POSTGRESQL:-}" ] || fail "test bug: SHADOWLINK_TEST_POSTGRESQL names no connection string"
PG_SERVER=$(cat "$SHADOWLINK_TEST_POSTGRESQL")
PG_DB=cluster_$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
psql "$PG_SERVER dbname=postgres" -qc "CREATE DATABASE $PG_DB" || fail "cannot create the test database"
secret "$(cut -d: -f5 "$(sed -n 's/.*passfile=\([^ ]*\).*/\1/p' <<<"$PG_SERVER")")"
sql() { psql "$PG_SERVER dbname=$PG_DB" -Atc "$1"; }
declare -A NODE_PID NODE_PORT NODE_WRAP  # NODE_WRAP[n]: a command node n runs under (faketime)
NODES=()

# start_nodes SETTINGS NODE...: UMS nodes of write_ums_config's config on the database, started in
# turn (the first makes the installation CA, unless a gateway did), with the "lab" config group,
# operator olga, and SETTINGS (a JSON object; its "devices" are added to tc-1 and tc-2).
start_nodes() {
  local settings=$1 n
  shift
  write_ums_config "$WORK/ums.json"
  for n in "$@"; do
    python3 - "$WORK/ums.json" "$WORK/ums-$n.json" "$n" "$PG_SERVER dbname=$PG_DB" "$ADMIN_HASH" "$settings" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
ums = config["services"][0]
ums["name"] = "ums-" + sys.argv[3]  # (a data directory of its own; the installation CA is shared)
ums["settings"].update({"node": sys.argv[3], "postgresql": sys.argv[4],
                        "device_groups": [{"name": "lab", "devices": [], "consent": "none"}]})
# An operator whose rights are all in the registry's folder rules.
ums["settings"]["users"].append({"user": "olga", "password_hash": sys.argv[5], "role": "operator"})
more = json.loads(sys.argv[6])
ums["settings"]["devices"] += more.pop("devices", [])
ums["settings"].update(more)
json.dump(config, open(sys.argv[2], "w"), indent=1)
PY
    start_daemon "ums-$n" "$WORK/ums-$n.json" "${NODE_WRAP[$n]:-}"; NODE_PID[$n]=$LAST_PID
    NODE_PORT[$n]=$(daemon_port "ums-$n")
    wait_log "ums-$n" "listening for the other nodes' messages" 15
    NODES+=("$n")
  done
  [ "$(sql "SELECT count(*) FROM nodes")" = "${#NODES[@]}" ] || fail "the nodes table holds: $(sql "SELECT * FROM nodes")"
}

# node_of DEVICE: the node the device is online at now, by the database.
node_of() { sql "SELECT node FROM presence WHERE device = '$1'"; }
# wait_presence DEVICE [NOT_NODE]: until the device is online at a node (other than NOT_NODE); that node.
wait_presence() {
  local n
  for _ in $(seq 300); do
    n=$(node_of "$1")
    [ -n "$n" ] && [ "$n" != "${2:-}" ] && { echo "$n"; return 0; }
    sleep 0.1
  done
  fail "$1 is not online on a node${2:+ other than $2} within 30 s: $(sql "SELECT * FROM presence")"
}
# other_node NODE...: a node that is none of these.
other_node() {
  local n
  for n in "${NODES[@]}"; do [[ " $* " == *" $n "* ]] || { echo "$n"; return 0; }; done
  fail "test bug: no node other than $*"
}
cli_at() { echo "$BIN/shadowlink" --server "https://127.0.0.1:$1" --ca "$WORK/data/ca.pem" --token "$API_TOKEN"; }
