#!/usr/bin/env bash
# The newcomer's first run: install what is missing, build, start a three-host lab on
# this machine (network namespaces, one Open vSwitch per host), plan, apply, plan again
# (nothing to do), and prove with real packets that every host reaches every other.
# Everything stays inside namespaces it creates; underlay addresses are 198.18.0.0/15.
set -euo pipefail
# Open vSwitch daemons live in /usr/sbin, which a non-login shell may lack.
export PATH="$PATH:/usr/sbin:/sbin"
cd "$(dirname "$0")/.."
topology=${1:-topologies/mesh3-vxlan.yaml}
scripts/install-deps.sh
cargo build --locked --release --quiet
ovsnet=target/release/ovsnet
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
    step() { printf '\n== %s\n' "$*"; }
fi

step "validate $topology"
$ovsnet validate "$topology"
step "lab up: one namespace, ovsdb-server and ovs-vswitchd per host"
$ovsnet lab up "$topology"
step "plan: what apply would change"
$ovsnet plan "$topology" --lab
step "apply: one OVSDB transaction per host, then verify"
$ovsnet apply "$topology" --lab --auto-approve
step "plan again: a converged cluster has nothing to do (exit 0)"
$ovsnet plan "$topology" --lab --detailed-exitcode
step "check: real ICMP and TCP between probes on every host and VLAN; gateway, NAT, published ports and DHCP"
$ovsnet lab check "$topology"

# Containers: one namespace per host, plugged into the first VLAN by `ovsnet attach`
# (address from that host's range, recorded in its OVSDB), then packets between them.
cluster=$(awk '/^cluster:/ {print $2; exit}' "$topology")
vlan=$(awk '/^vlans:/ {v=1; next} v && /- name:/ {print $3; exit}' "$topology")
hosts=$(awk '/^hosts:/ {h=1; next} /^[a-z]/ {h=0} h && /- name:/ {print $3}' "$topology")
step "attach: a container on every host, VLAN $vlan"
addresses=()
namespaces=()
for host in $hosts; do
    ns="ovdemo.$cluster.$host"
    # A rerun starts from clean containers: detach (or gc) what an earlier run left.
    $ovsnet detach "$topology" --lab --host "$host" --netns "$ns" >/dev/null 2>&1 || true
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    json=$($ovsnet attach "$topology" --lab --host "$host" --vlan "$vlan" --netns "$ns" --format json)
    echo "$host: $json"
    addresses+=("$(printf '%s' "$json" | sed -n 's/.*"address":"\([0-9.]*\)\/.*/\1/p')")
    namespaces+=("$ns")
done
$ovsnet containers "$topology" --lab
step "packets between the containers, across the tunnels"
for i in "${!namespaces[@]}"; do
    for j in "${!addresses[@]}"; do
        [ "$i" = "$j" ] && continue
        ip netns exec "${namespaces[$i]}" ping -c 2 -w 10 -q "${addresses[$j]}" >/dev/null
        echo "${namespaces[$i]} -> ${addresses[$j]}: ok"
    done
done
# The distributed gateway: every host answers the gateway address (same address, same
# MAC), so each container's way out is its own host. With `nat: true` the container
# reaches the lab's "outside" (a namespace on the underlay standing for the world) with
# its host's underlay address as source; `lab check` above proved that on the outside.
vlan_field() { # the value of field $1 of VLAN $vlan in the topology, or nothing
    awk -v v="$vlan" -v f="$1:" '/^vlans:/ {s=1; next} /^[a-z]/ {s=0}
        s && $2 == "name:" {cur=$3} s && cur == v && $1 == f {print $2; exit}' "$topology"
}
gateway=$(vlan_field gateway)
nat=$(vlan_field nat)
outside=$($ovsnet lab status "$topology" | awk '$1 == "outside" {print $5; exit}')
if [ -n "$gateway" ]; then
    step "the gateway $gateway from every container, and the outside${outside:+ $outside}"
    for i in "${!namespaces[@]}"; do
        ip netns exec "${namespaces[$i]}" ping -c 2 -w 10 -q "$gateway" >/dev/null
        echo "${namespaces[$i]} -> gateway $gateway: ok"
        if [ -n "$outside" ] && [ "$nat" = true ]; then
            ip netns exec "${namespaces[$i]}" ping -c 2 -w 10 -q "$outside" >/dev/null
            echo "${namespaces[$i]} -> outside $outside (NAT through its own host): ok"
        fi
    done
fi
step "plan with containers attached: still nothing to do (exit 0)"
$ovsnet plan "$topology" --lab --detailed-exitcode

step "done"
echo "The lab is still running. Look around with: $ovsnet lab status $topology"
echo "                                            $ovsnet containers $topology --lab"
echo "Take it down with:                          $ovsnet lab down $topology"
echo "(the container namespaces: ip netns del ${namespaces[*]})"
