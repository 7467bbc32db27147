#!/usr/bin/env bash
# Installs what ovsnet's tests and lab need on a Debian machine, as root. Idempotent:
# packages already present are not fetched again. It starts no system service: every
# test and lab starts its own ovsdb-server and ovs-vswitchd inside namespaces it made.
# zsh, fish and groff check the generated completion scripts and manual page.
set -euo pipefail
need=()
for pair in ovs-vswitchd:openvswitch-switch ovsdb-server:openvswitch-switch ip:iproute2 ping:iputils-ping ethtool:ethtool \
    zsh:zsh fish:fish groff:groff-base \
    ovs-pki:openvswitch-pki sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client openssl:openssl \
    nft:nftables dnsmasq:dnsmasq-base dhclient:isc-dhcp-client; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${pair%%:*}" ] || need+=("${pair##*:}")
done
# The test image is busybox-static's /bin/busybox; Debian's dynamic busybox would not do.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps the packages from starting a system-wide Open vSwitch or sshd.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "error: cargo not found; install Rust (rustup) first" >&2; exit 1; }
