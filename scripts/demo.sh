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
step "check: real ICMP and TCP between probes on every host and VLAN"
$ovsnet lab check "$topology"
step "done"
echo "The lab is still running. Look around with: $ovsnet lab status $topology"
echo "Take it down with:                          $ovsnet lab down $topology"
