#!/usr/bin/env bash
# Attach latency (BENCHMARKS.md): `ovsnet attach` against the hand-made recipe that
# `ovs-docker add-port` runs (ip link add veth, move the peer into the container, rename,
# MTU, address, tx offload off, link up, `ovs-vsctl add-port ... tag=N`, which waits for
# ovs-vswitchd), in the same run, on a one-host lab (userspace datapath, in namespaces).
# ovs-docker itself needs a Docker container to find the namespace (`docker inspect`), so
# its steps are run by hand on plain namespaces instead; `ovsnet attach` does more
# (allocation, marks, the switch's ofport check).
#
#   latency   median of N single attaches (default 20), each from a fresh namespace
#   seq       M sequential attaches (default 100), total wall time
#
# Usage: scripts/bench-attach.sh        Environment: N, M, OVSNET (default target/release/ovsnet)
# Network safety: everything runs in namespaces it creates (ovlab.batt<pid>*, battc<pid>-*),
# underlay 198.18.0.0/15; all is removed on exit.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-20}
M=${M:-100}
OVSNET=${OVSNET:-$ROOT/target/release/ovsnet}
[ -x "$OVSNET" ] || (cd "$ROOT" && cargo build --locked --release --quiet)
WORK=$(mktemp -d /tmp/ovsnet-battach.XXXXXX)
export OVSNET_LAB_DIR="$WORK/run"
CLUSTER="batt$$"
TOPO="$WORK/topology.yaml"
NSES=()
cleanup() {
    for ns in "${NSES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
    "$OVSNET" lab down "$TOPO" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
cat >"$TOPO" <<EOF
version: 1
cluster: $CLUSTER
tunnel:
  type: vxlan
  topology: mesh
vlans:
  - name: web
    id: 10
    subnet: 10.10.0.0/16
hosts:
  - name: h1
    underlay_ip: 198.18.0.1
    ranges:
      web: 10.10.0.0/20
EOF
"$OVSNET" lab up "$TOPO" >/dev/null
"$OVSNET" apply "$TOPO" --lab --auto-approve >/dev/null
HOSTNS="ovlab.$CLUSTER.h1"
SOCK="$OVSNET_LAB_DIR/$CLUSTER/hosts/h1/db.sock"
n=0
# Sets NS (not a subshell's echo, so the counter survives).
newns() { n=$((n + 1)); NS="battc$$-$n"; ip netns add "$NS"; NSES+=("$NS"); }
now() { date +%s%N; }
ovsnet_one() { "$OVSNET" attach "$TOPO" --lab --host h1 --vlan web --netns "$1" >/dev/null; }
recipe_one() { # what ovs-docker add-port does, with the address ovsnet would not pick
    local ns=$1 p="rcp${n}" i="rci${n}" addr="10.10.8.$((n % 250 + 1))/16"
    [ "$n" -gt 250 ] && addr="10.10.9.$((n % 250 + 1))/16"
    ip -n "$HOSTNS" link add "$p" mtu 1446 type veth peer name "$i" mtu 1446
    ip -n "$HOSTNS" link set "$i" netns "$ns"
    ip -n "$ns" link set "$i" name eth0
    ip -n "$ns" addr add "$addr" dev eth0
    ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
    ip -n "$ns" link set eth0 up
    ip -n "$HOSTNS" link set "$p" up
    ovs-vsctl --db="unix:$SOCK" --timeout=10 add-port br-ovsnet "$p" tag=10 \
        -- set Interface "$p" external_ids:container_id="$ns" external_ids:container_iface=eth0
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
lat_o=() lat_r=()
for _ in $(seq "$N"); do
    newns; t=$(now); ovsnet_one "$NS"; lat_o+=($(( ($(now) - t) / 1000 )))
    newns; t=$(now); recipe_one "$NS"; lat_r+=($(( ($(now) - t) / 1000 )))
done
mo=$(printf '%s\n' "${lat_o[@]}" | median)
mr=$(printf '%s\n' "${lat_r[@]}" | median)
pre_o=(); pre_r=()
for _ in $(seq "$M"); do newns; pre_o+=("$NS"); newns; pre_r+=("$NS"); done
t=$(now); for ns in "${pre_o[@]}"; do ovsnet_one "$ns"; done; so=$(( ($(now) - t) / 1000000 ))
t=$(now); for ns in "${pre_r[@]}"; do n=$((n + 1)); recipe_one "$ns"; done; sr=$(( ($(now) - t) / 1000000 ))
count=$("$OVSNET" containers "$TOPO" --lab --format json | grep -c '"port"')
echo "attach latency, median of $N: ovsnet ${mo} µs, ovs-docker recipe ${mr} µs"
echo "$M sequential attaches: ovsnet ${so} ms, ovs-docker recipe ${sr} ms"
echo "containers recorded by ovsnet: $count (expected $((N + M)))"
