#!/usr/bin/env bash
# The test command: installs what is missing, then runs every tier of tests
# (pure core, real OVS on one host, the multi-host lab). Must run as root.
set -euo pipefail
# Open vSwitch daemons live in /usr/sbin, which a non-login shell may lack.
export PATH="$PATH:/usr/sbin:/sbin"
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --locked
