#!/usr/bin/env bash
# Whole-process benchmarks of ovsnet, as an operator runs it (see BENCHMARKS.md):
#   plan     offline plans of large meshes and a long chain: wall time, CPU, peak RSS
#   apply    200 tunnel ports from empty on one real OVS (userspace datapath, in a
#            namespace of its own): ovsnet vs a per-port ovs-vsctl loop vs one batched
#            ovs-vsctl call, reset to empty between runs, ratios from the same run
#   noop     a no-op `plan --lab` against a converged 10-host lab
#   lab      `lab up` of 3 and 10 hosts, and which commands its time goes to
#   rollout  apply to a 50-host lab mesh with --parallel 1, 4 and 16, interleaved in one
#            run; every apply changes the tunnel key, so all 2,450 tunnel interfaces
#            are updated each time (HOSTS overrides 50)
#   diff     `ovsnet diff` of a 1,000-host mesh against itself and against itself plus
#            one host, as ratios to the full offline plan of the same mesh, interleaved
#            in the same run (text and json; DIFF_HOSTS overrides 1000); no root needed
#   lab100   a 100-host lab mesh (LAB_HOSTS overrides 100), once: `lab up`, `apply`, a
#            no-op `plan`, `lab check` sampled and `--full` (SAMPLED_RUNS and FULL_RUNS
#            times, default 2 each, to show the verdict repeats), `lab down`; wall time, CPU and peak RSS of
#            ovsnet, the daemons' memory, the load average before each step, and each
#            check's verdict, pairs, retries and latency. Not part of the default set:
#            run it on its own (it needs ~LAB_HOSTS × 2 daemons' memory; see `free -g`)
#
# Usage: scripts/bench.sh [plan] [apply] [noop] [lab] [rollout] [diff] [lab100]
#        (no argument: all but lab100)
# Environment: RUNS (default 3; medians are over RUNS runs), OVSNET (the binary; default:
# built with `cargo build --release`), GENERATE (the topology generator, likewise),
# BENCH_SIZES (plan cases, default
# "mesh:100 mesh:300 mesh:1000 chain:10000"), PORTS (apply, default 200).
#
# Needs root, iproute2, Open vSwitch (ovsdb-server, ovs-vswitchd, ovs-vsctl), GNU time
# and awk. Network safety: every OVS it starts runs inside a network namespace it
# creates (ovsnet-bench-<pid>, and the lab's own ovlab.* namespaces); underlay addresses
# are in 198.18.0.0/15; processes are stopped by pid; everything is removed on exit,
# also on failure or Ctrl-C.
set -euo pipefail
# Open vSwitch daemons live in /usr/sbin, which a non-login shell may lack.
export PATH="$PATH:/usr/sbin:/sbin"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
PORTS=${PORTS:-200}
BENCH_SIZES=${BENCH_SIZES:-"mesh:100 mesh:300 mesh:1000 chain:10000"}
WORK=$(mktemp -d /tmp/ovsnet-bench.XXXXXX)
NETNS="ovsnet-bench-$$"
PIDS=()
LABS=()

cleanup() {
    local pid topo
    for topo in "${LABS[@]}"; do
        OVSNET_LAB_DIR="$WORK/lab" "$OVSNET" lab down "$topo" >/dev/null 2>&1 || true
    done
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$NETNS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# The median of the numbers on stdin (the lower middle one for an even count).
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Milliseconds since the epoch, with microseconds.
now_ms() { local t=$EPOCHREALTIME; echo "${t/./}" | awk '{ printf "%.3f", $1 / 1000 }'; }

# Runs a command, prints its wall time in milliseconds; its output goes to $WORK/last.out.
time_ms() {
    local start end
    start=$(now_ms)
    "$@" >"$WORK/last.out" 2>&1 || { cat "$WORK/last.out" >&2; return 1; }
    end=$(now_ms)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }'
}

machine() {
    echo "## Machine"
    echo
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), nproc $(nproc)"
    echo "- memory: $(free -g | awk '/^Mem:/ { print $2 " GiB" }')"
    echo "- kernel: $(uname -r)"
    echo "- Open vSwitch: $(ovs-vswitchd --version | head -1 | awk '{ print $NF }')"
    echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- ovsnet: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), runs per figure: $RUNS"
    echo
}

# ---------------------------------------------------------------- plan at scale

bench_plan() {
    echo "## Offline plan (whole process, stdout to /dev/null)"
    echo
    echo "| topology | tunnel ports | format | wall s (median) | CPU s (user+sys) | peak RSS MiB | output MB | ns per tunnel port |"
    echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
    local case shape hosts file ports format i bytes start end
    for case in $BENCH_SIZES; do
        shape=${case%%:*}
        hosts=${case##*:}
        file="$WORK/$shape-$hosts.yaml"
        "$GENERATE" "$shape" "$hosts" >"$file"
        case $shape in
        mesh) ports=$((hosts * (hosts - 1))) ;;
        chain) ports=$((2 * (hosts - 1))) ;;
        *) ports=0 ;;
        esac
        for format in json text; do
            # Validation warnings (a long chain's relays) go to stderr: not measured here.
            bytes=$("$OVSNET" plan "$file" --offline --format "$format" --no-color 2>/dev/null | wc -c)
            : >"$WORK/plan.times"
            for i in $(seq "$RUNS"); do
                # GNU time gives CPU and peak RSS; its wall clock is only to 10 ms, so
                # the wall time is taken around it (a fork and exec more, ~1 ms).
                start=$EPOCHREALTIME
                /usr/bin/time -o "$WORK/time.out" -f '%U %S %M' \
                    "$OVSNET" plan "$file" --offline --format "$format" --no-color >/dev/null 2>&1
                end=$EPOCHREALTIME
                echo "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }') $(cat "$WORK/time.out")" \
                    >>"$WORK/plan.times"
            done
            local wall cpu rss
            wall=$(awk '{ print $1 }' "$WORK/plan.times" | median)
            cpu=$(awk '{ print $2 + $3 }' "$WORK/plan.times" | median)
            rss=$(awk '{ print $4 / 1024 }' "$WORK/plan.times" | median)
            printf '| %s %s | %d | %s | %.3f | %.2f | %.0f | %.1f | %.0f |\n' \
                "$shape" "$hosts" "$ports" "$format" "$wall" "$cpu" "$rss" \
                "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" \
                "$(awk -v w="$wall" -v p="$ports" 'BEGIN { print w * 1e9 / p }')"
            log "plan $shape $hosts $format: wall ${wall}s cpu ${cpu}s rss ${rss}MiB"
        done
    done
    echo
}

# ---------------------------------------------------------------- apply vs ovs-vsctl

# A private OVS in $NETNS, files in $WORK/ovs, socket $SOCK. Stopped by pid in cleanup.
start_ovs() {
    local dir="$WORK/ovs"
    mkdir -p "$dir"
    export OVS_RUNDIR="$dir" OVS_LOGDIR="$dir" OVS_DBDIR="$dir" OVS_SYSCONFDIR="$dir"
    SOCK="$dir/db.sock"
    ip netns add "$NETNS"
    ip netns exec "$NETNS" ip link set lo up
    ovsdb-tool create "$dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ip netns exec "$NETNS" ovsdb-server "$dir/conf.db" --remote="punix:$SOCK" \
        --pidfile="$dir/ovsdb-server.pid" --unixctl="$dir/ovsdb-server.ctl" \
        --log-file="$dir/ovsdb-server.log" </dev/null >/dev/null 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.05; done
    ovs-vsctl --db="unix:$SOCK" --no-wait init -- set Open_vSwitch . \
        "ovs-version=$(ovs-vswitchd --version | head -1 | awk '{ print $NF }')" \
        "db-version=$(ovsdb-tool schema-version /usr/share/openvswitch/vswitch.ovsschema)"
    ip netns exec "$NETNS" ovs-vswitchd "unix:$SOCK" \
        --pidfile="$dir/ovs-vswitchd.pid" --unixctl="$dir/ovs-vswitchd.ctl" \
        --log-file="$dir/ovs-vswitchd.log" </dev/null >/dev/null 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 200); do
        ovs-vsctl --db="unix:$SOCK" --no-wait get Open_vSwitch . iface_types 2>/dev/null |
            grep -q vxlan && return 0
        sleep 0.05
    done
    log "ovs-vswitchd did not come up"; return 1
}

vsctl() { ovs-vsctl --db="unix:$SOCK" --timeout=60 "$@"; }

# Peer i's underlay address, inside 198.18.0.0/15.
peer_ip() { echo "198.18.$(($1 / 250)).$(($1 % 250 + 1))"; }

# A star whose hub h0 is the bench OVS: applying h0 makes PORTS tunnel ports.
apply_topology() {
    local i
    printf 'version: 1\ncluster: bench\nbridge:\n  name: br-bench\n  datapath: netdev\n'
    printf 'tunnel:\n  type: vxlan\n  topology: star\n  hub: h0\n'
    printf 'vlans:\n  - name: web\n    id: 10\n    subnet: 10.0.0.0/8\nhosts:\n'
    printf '  - name: h0\n    underlay_ip: 198.19.255.1\n    ovsdb: unix:%s\n' "$SOCK"
    printf '    ranges:\n      web: 10.255.0.0/24\n'
    for i in $(seq "$PORTS"); do
        printf '  - name: h%d\n    underlay_ip: %s\n' "$i" "$(peer_ip "$i")"
        printf '    ranges:\n      web: 10.%d.%d.0/24\n' $((i / 256)) $((i % 256))
    done
}

reset_ovs() {
    vsctl --if-exists del-br br-bench
    [ "$(vsctl list-br | wc -l)" -eq 0 ] || { log "reset left bridges behind"; return 1; }
}

per_port_loop() {
    local i
    vsctl add-br br-bench -- set bridge br-bench datapath_type=netdev
    for i in $(seq "$PORTS"); do
        vsctl add-port br-bench "vx$i" -- set interface "vx$i" type=vxlan \
            "options:remote_ip=$(peer_ip "$i")"
    done
}

batched() {
    local i args=(add-br br-bench -- set bridge br-bench datapath_type=netdev)
    for i in $(seq "$PORTS"); do
        args+=(-- add-port br-bench "vx$i" -- set interface "vx$i" type=vxlan
            "options:remote_ip=$(peer_ip "$i")")
    done
    vsctl "${args[@]}"
}

ovsnet_apply() { "$OVSNET" apply "$WORK/apply.yaml" --host h0 --auto-approve --no-color; }

# Every tunnel port exists and ovs-vswitchd gave each an OpenFlow port.
check_ports() {
    local n
    n=$(vsctl --bare --columns=ofport find Interface type=vxlan | grep -c '^[0-9]')
    [ "$n" -eq "$PORTS" ] || { log "$1: $n of $PORTS tunnel ports have an ofport"; return 1; }
}

bench_apply() {
    start_ovs
    apply_topology >"$WORK/apply.yaml"
    echo "## Apply: $PORTS tunnel ports from empty on one OVS (userspace datapath)"
    echo
    echo "Each run starts from an OVS without bridges and ends when the command exits (ovs-vsctl"
    echo "and ovsnet both wait for ovs-vswitchd to apply the change). Runs are interleaved."
    echo
    local i name t
    # The first bridge a fresh ovs-vswitchd makes also sets up its userspace datapath:
    # warm it up once, untimed, so no method pays for that.
    reset_ovs
    batched >/dev/null
    : >"$WORK/apply.times"
    for i in $(seq "$RUNS"); do
        for name in ovsnet_apply batched per_port_loop; do
            reset_ovs
            t=$(time_ms "$name")
            check_ports "$name"
            echo "$name $t" >>"$WORK/apply.times"
            log "apply run $i: $name ${t} ms"
        done
    done
    reset_ovs
    local ovsnet batch loop
    ovsnet=$(awk '$1 == "ovsnet_apply" { print $2 }' "$WORK/apply.times" | median)
    batch=$(awk '$1 == "batched" { print $2 }' "$WORK/apply.times" | median)
    loop=$(awk '$1 == "per_port_loop" { print $2 }' "$WORK/apply.times" | median)
    echo "| method | median ms | all runs ms |"
    echo "| --- | ---: | --- |"
    for name in ovsnet_apply batched per_port_loop; do
        printf '| %s | %s | %s |\n' "$name" \
            "$(awk -v n="$name" '$1 == n { print $2 }' "$WORK/apply.times" | median)" \
            "$(awk -v n="$name" '$1 == n { printf "%s ", $2 }' "$WORK/apply.times")"
    done
    echo
    awk -v o="$ovsnet" -v b="$batch" -v l="$loop" 'BEGIN {
        printf "- ovsnet / batched ovs-vsctl: %.2f (target: at most 1.5)\n", o / b
        printf "- per-port loop / ovsnet: %.1f (target: at least 20)\n", l / o
    }'
    echo
}

# ---------------------------------------------------------------- lab: no-op plan, lab up

lab_topology() {
    "$GENERATE" mesh "$1" | sed "s/^cluster: bench$/cluster: bench$1/"
}

# `lab up` with every command it runs (ip, ovs-*, ethtool) wrapped by a shim that logs
# its wall time: per command, how many runs and their summed time. (strace -f cannot do
# this: it waits for the daemons that `lab up` leaves running.)
lab_up_profile() {
    local topo=$1 shims="$WORK/shims" log="$WORK/lab-up.log" cmd real
    mkdir -p "$shims"
    : >"$log"
    for cmd in ip ovs-vsctl ovs-appctl ovsdb-tool ovsdb-server ovs-vswitchd ethtool; do
        real=$(command -v "$cmd") || continue
        cat >"$shims/$cmd" <<EOF
#!/usr/bin/env bash
start=\$EPOCHREALTIME
"$real" "\$@"
rc=\$?
case "$cmd \${1:-}" in
"ip -n") what="ip \${3:-}" ;;
"ip netns") what="ip netns \${2:-}" ;;
"ip "*) what="ip \${1:-}" ;;
*) what="$cmd" ;;
esac
echo "\$what \$start \$EPOCHREALTIME" >>"$log"
exit \$rc
EOF
        chmod +x "$shims/$cmd"
    done
    local start end
    start=$EPOCHREALTIME
    PATH="$shims:$PATH" OVSNET_LAB_DIR="$WORK/lab" "$OVSNET" lab up "$topo" >/dev/null
    end=$EPOCHREALTIME
    echo "| command | runs | summed wall s |"
    echo "| --- | ---: | ---: |"
    awk '{ n = NF; name = $1; for (i = 2; i < n - 1; i++) name = name " " $i
           t[name] += $n - $(n - 1); c[name]++ }
         END { for (k in t) printf "| %s | %d | %.2f |\n", k, c[k], t[k] }' "$log" |
        sort -t'|' -k4 -gr | head -10
    echo
    awk -v a="$start" -v b="$end" 'BEGIN { printf "Wall time of that shimmed run: %.2f s. `ip netns exec` wraps the daemons it starts, so its time includes theirs.\n", b - a }'
}

bench_lab() {
    local hosts topo i t
    echo "## Lab up"
    echo
    echo "| hosts | median s | all runs s |"
    echo "| ---: | ---: | --- |"
    for hosts in 3 10; do
        topo="$WORK/lab$hosts.yaml"
        lab_topology "$hosts" >"$topo"
        LABS+=("$topo")
        : >"$WORK/lab.times"
        for i in $(seq "$RUNS"); do
            t=$(OVSNET_LAB_DIR="$WORK/lab" time_ms "$OVSNET" lab up "$topo")
            echo "$t" >>"$WORK/lab.times"
            OVSNET_LAB_DIR="$WORK/lab" "$OVSNET" lab down "$topo" >/dev/null
            log "lab up $hosts hosts, run $i: $t ms"
        done
        printf '| %d | %.2f | %s |\n' "$hosts" \
            "$(median <"$WORK/lab.times" | awk '{ print $1 / 1000 }')" \
            "$(awk '{ printf "%.2f ", $1 / 1000 }' "$WORK/lab.times")"
    done
    echo
    echo "Where the time of one \`lab up\` of 10 hosts goes (every command it runs, timed by a"
    echo "shim; commands run in parallel, so the sums may exceed the wall time):"
    echo
    lab_up_profile "$WORK/lab10.yaml"
    OVSNET_LAB_DIR="$WORK/lab" "$OVSNET" lab down "$WORK/lab10.yaml" >/dev/null
    echo
}

bench_rollout() {
    local hosts=${HOSTS:-50} topo="$WORK/rollout.yaml" i p t key=7000
    lab_topology "$hosts" | sed "s/^cluster: bench$hosts$/cluster: roll$$/" >"$topo"
    grep -q '^  key:' "$topo" || sed -i 's/^tunnel:$/tunnel:\n  key: 7000/' "$topo"
    LABS+=("$topo")
    export OVSNET_LAB_DIR="$WORK/lab"
    "$OVSNET" lab up "$topo" >/dev/null
    "$OVSNET" apply "$topo" --lab --auto-approve --no-color >/dev/null
    echo "## Apply to a $hosts-host lab mesh by --parallel (every tunnel key changed each run)"
    echo
    echo "| --parallel | median s | all runs s |"
    echo "| ---: | ---: | --- |"
    for p in 1 4 16; do : >"$WORK/rollout.$p"; done
    # Interleaved, so a neighbour's load on a shared machine falls on every setting alike.
    for i in $(seq "$RUNS"); do
        for p in 1 4 16; do
            key=$((key + 1))
            sed -i "s/^  key: .*/  key: $key/" "$topo"
            t=$(time_ms "$OVSNET" apply "$topo" --lab --auto-approve --no-color --parallel "$p")
            grep -q "apply complete" "$WORK/last.out" || { log "apply --parallel $p failed"; cat "$WORK/last.out" >&2; return 1; }
            awk -v t="$t" 'BEGIN { printf "%.2f\n", t / 1000 }' >>"$WORK/rollout.$p"
        done
    done
    for p in 1 4 16; do
        printf '| %s | %s | %s |\n' "$p" "$(median <"$WORK/rollout.$p")" "$(tr '\n' ' ' <"$WORK/rollout.$p")"
        log "rollout --parallel $p: median $(median <"$WORK/rollout.$p") s"
    done
    "$OVSNET" lab down "$topo" >/dev/null
    unset OVSNET_LAB_DIR
    echo
}

bench_noop() {
    local topo="$WORK/lab10.yaml" i t code
    lab_topology 10 >"$topo"
    LABS+=("$topo")
    export OVSNET_LAB_DIR="$WORK/lab"
    "$OVSNET" lab up "$topo" >/dev/null
    "$OVSNET" apply "$topo" --lab --auto-approve --no-color >/dev/null
    echo "## No-op plan against a converged 10-host lab (observe 10 OVSDBs, diff, render)"
    echo
    echo "| format | median ms | all runs ms |"
    echo "| --- | ---: | --- |"
    local format
    for format in text json; do
        : >"$WORK/noop.times"
        for i in $(seq "$((RUNS * 3))"); do
            code=0
            t=$(time_ms "$OVSNET" plan "$topo" --lab --format "$format" --no-color --detailed-exitcode) || code=$?
            [ "$code" -eq 0 ] || { log "plan --lab is not empty (exit $code)"; return 1; }
            echo "$t" >>"$WORK/noop.times"
        done
        printf '| %s | %s | %s |\n' "$format" "$(median <"$WORK/noop.times")" \
            "$(tr '\n' ' ' <"$WORK/noop.times")"
        log "no-op plan $format: median $(median <"$WORK/noop.times") ms"
    done
    "$OVSNET" lab down "$topo" >/dev/null
    unset OVSNET_LAB_DIR
    echo
}

# ---------------------------------------------------------------- diff (pull-request dry run)

# One whole-process run: wall seconds, CPU seconds, peak RSS MiB.
run_measured() {
    local start end
    start=$EPOCHREALTIME
    /usr/bin/time -o "$WORK/time.out" -f '%U %S %M' "$@" >/dev/null 2>&1 || [ $? -eq 2 ]
    end=$EPOCHREALTIME
    awk -v a="$start" -v b="$end" -v t="$(cat "$WORK/time.out")" \
        'BEGIN { split(t, f, " "); printf "%.4f %.2f %.0f\n", b - a, f[1] + f[2], f[3] / 1024 }'
}

bench_diff() {
    local hosts=${DIFF_HOSTS:-1000} base head format i name
    base="$WORK/diff-base.yaml"
    head="$WORK/diff-head.yaml"
    "$GENERATE" mesh "$hosts" >"$base"
    "$GENERATE" mesh "$((hosts + 1))" >"$head"
    echo "## Diff: a $hosts-host mesh, as ratios to its full offline plan (same run, interleaved)"
    echo
    echo "| format | case | wall s (median) | CPU s | peak RSS MiB | ratio to plan (wall) |"
    echo "| --- | --- | ---: | ---: | ---: | ---: |"
    for format in text json; do
        : >"$WORK/diff.times"
        for i in $(seq "$RUNS"); do
            echo "plan $(run_measured "$OVSNET" plan "$base" --offline --format "$format" --no-color)" >>"$WORK/diff.times"
            echo "add_one_host $(run_measured "$OVSNET" diff "$base" "$head" --format "$format" --no-color)" >>"$WORK/diff.times"
            echo "no_change $(run_measured "$OVSNET" diff "$base" "$base" --format "$format" --no-color)" >>"$WORK/diff.times"
        done
        local plan_wall
        plan_wall=$(awk '$1 == "plan" { print $2 }' "$WORK/diff.times" | median)
        for name in plan add_one_host no_change; do
            local wall cpu rss
            wall=$(awk -v n="$name" '$1 == n { print $2 }' "$WORK/diff.times" | median)
            cpu=$(awk -v n="$name" '$1 == n { print $3 }' "$WORK/diff.times" | median)
            rss=$(awk -v n="$name" '$1 == n { print $4 }' "$WORK/diff.times" | median)
            printf '| %s | %s | %.3f | %.2f | %s | %.3f |\n' "$format" "$name" "$wall" "$cpu" "$rss" \
                "$(awk -v a="$wall" -v b="$plan_wall" 'BEGIN { print a / b }')"
            log "diff $format $name: wall ${wall}s cpu ${cpu}s rss ${rss}MiB"
        done
    done
    echo
}

# ---------------------------------------------------------------- a 100-host lab

# `label wall cpu rss load` of one whole-process run; its stdout goes to $WORK/step.out.
# Exit codes 0 (and 1 for a failing check, 2 for a plan with changes) are recorded, not
# fatal: the table says what happened.
lab100_step() {
    local label=$1 start end load code=0
    shift
    load=$(cut -d' ' -f1 /proc/loadavg)
    start=$EPOCHREALTIME
    /usr/bin/time -o "$WORK/time.out" -f '%U %S %M' "$@" >"$WORK/step.out" 2>"$WORK/step.err" || code=$?
    end=$EPOCHREALTIME
    awk -v l="$label" -v a="$start" -v b="$end" -v t="$(tail -1 "$WORK/time.out")" -v ld="$load" -v c="$code" \
        'BEGIN { split(t, f, " "); printf "| %s | %.2f | %.2f | %.0f | %s | %s |\n", l, b - a, f[1] + f[2], f[3] / 1024, ld, c }'
    log "$label: exit $code, $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
}

# Summed RSS (MiB) of the lab's ovsdb-server, ovs-vswitchd and ovsnet agent, from their pid files.
lab100_daemon_rss() {
    local dir=$1 f pid total=0 kb
    for f in "$dir"/hosts/*/ovsdb-server.pid "$dir"/hosts/*/ovs-vswitchd.pid "$dir"/hosts/*/ovsnet-agent.pid; do
        pid=$(cat "$f" 2>/dev/null) || continue
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
        total=$((total + ${kb:-0}))
    done
    echo $((total / 1024))
}

# One line per check run from its JSON report: verdict, pairs, retries, latency.
lab100_verdict() {
    python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
c, p = r["coverage"], r["pacing"]
lat = sorted(x["latency_us"] for m in r["vlans"] for row in m["cells"] for x in row
             if x and x.get("latency_us") is not None)
med = lat[(len(lat) - 1) // 2] / 1000 if lat else float("nan")
mx = lat[-1] / 1000 if lat else float("nan")
print(f"| {sys.argv[1]} | {c['mode']} | {'pass' if r['passed'] else 'FAIL'} | {len(r['broken'])} "
      f"| {c['reach_tested']} of {c['reach_total']} | {c['isolation_tested']} of {c['isolation_total']} "
      f"| {p['retried']} / {p['recovered']} / {p['not_retried']} | {med:.3f} / {mx:.3f} | {p['elapsed_ms'] / 1000:.1f} |")
PY
}

bench_lab100() {
    local hosts=${LAB_HOSTS:-100} topo="$WORK/lab100.yaml" i avail
    local sampled_runs=${SAMPLED_RUNS:-2} full_runs=${FULL_RUNS:-2}
    local cluster="sc$hosts"
    avail=$(free -g | awk '/^Mem:/ { print $7 }')
    if [ "$avail" -lt 8 ]; then
        log "lab100: only ${avail} GiB available, need 8: not started"
        return 1
    fi
    lab_topology "$hosts" | sed "s/^cluster: bench$hosts$/cluster: $cluster/" >"$topo"
    LABS+=("$topo")
    export OVSNET_LAB_DIR="$WORK/lab"
    echo "## A $hosts-host lab mesh (\`scripts/bench.sh lab100\`)"
    echo
    echo "$hosts hosts, full mesh of vxlan tunnels ($((hosts * (hosts - 1))) tunnel ports), VLANs web and db on every host;"
    echo "available memory at start: ${avail} GiB. One run of each step (checks: $sampled_runs sampled, $full_runs \`--full\`)."
    echo
    echo "| step | wall s | ovsnet CPU s | ovsnet peak RSS MiB | load before | exit |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    lab100_step "lab up" "$OVSNET" lab up "$topo"
    local daemons
    daemons=$(lab100_daemon_rss "$WORK/lab/$cluster")
    lab100_step "apply --lab" "$OVSNET" apply "$topo" --lab --auto-approve --no-color
    lab100_step "plan --lab (no-op)" "$OVSNET" plan "$topo" --lab --no-color --detailed-exitcode
    local checks=()
    for i in $(seq "$sampled_runs"); do
        lab100_step "lab check #$i" "$OVSNET" lab check "$topo" --format json
        cp "$WORK/step.out" "$WORK/check-sampled-$i.json"
        checks+=("sampled #$i:$WORK/check-sampled-$i.json")
    done
    for i in $(seq "$full_runs"); do
        lab100_step "lab check --full #$i" "$OVSNET" lab check "$topo" --full --format json
        cp "$WORK/step.out" "$WORK/check-full-$i.json"
        checks+=("full #$i:$WORK/check-full-$i.json")
    done
    local after
    after=$(lab100_daemon_rss "$WORK/lab/$cluster")
    lab100_step "lab down" "$OVSNET" lab down "$topo"
    echo
    echo "Memory of the lab's $((3 * hosts)) processes (summed RSS of ovsdb-server, ovs-vswitchd and ovsnet agent): ${daemons} MiB after \`lab up\`, ${after} MiB after the checks."
    echo
    echo "| check | mode | verdict | broken | same-VLAN pairs | cross-VLAN pairs | retried / recovered / not retried | latency ms median / max | s (own count) |"
    echo "| --- | --- | --- | ---: | --- | --- | --- | --- | ---: |"
    local c
    for c in "${checks[@]}"; do
        lab100_verdict "${c%%:*}" "${c#*:}"
    done
    for c in "${checks[@]}"; do
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("\n".join(r["broken"][:20]))' "${c#*:}" |
            sed "s/^/    ${c%%:*}: /" >&2
    done
    unset OVSNET_LAB_DIR
    echo
}

main() {
    [ "$(id -u)" -eq 0 ] || [ "$*" = diff ] || [ "$*" = plan ] ||
        { log "bench.sh needs root (namespaces, OVS)"; exit 1; }
    if [ -z "${OVSNET:-}" ]; then
        (cd "$ROOT" && cargo build --release --quiet --bin ovsnet --example generate)
        OVSNET="$ROOT/target/release/ovsnet"
    fi
    GENERATE=${GENERATE:-"$ROOT/target/release/examples/generate"}
    [ -x "$GENERATE" ] || (cd "$ROOT" && cargo build --release --quiet --example generate)
    local parts=("$@")
    [ ${#parts[@]} -gt 0 ] || parts=(plan apply noop lab rollout diff)
    machine
    local part
    for part in "${parts[@]}"; do
        case $part in
        plan) bench_plan ;;
        apply) bench_apply ;;
        noop) bench_noop ;;
        lab) bench_lab ;;
        rollout) bench_rollout ;;
        diff) bench_diff ;;
        lab100) bench_lab100 ;;
        *) log "unknown part: $part (plan, apply, noop, lab, rollout, diff, lab100)"; exit 64 ;;
        esac
    done
}

main "$@"
