#!/usr/bin/env bash
# Validation of large and hostile topology files (issue 9): `ovsnet validate FILE` on
# generated files of about 20 MB (one of 34 MB, over the input cap), whole process, with wall time, peak RSS and the bytes
# of diagnostics written. The target: any file of up to 20 MB is validated (or refused)
# in at most 2 s and 256 MiB, with at most 1 MiB of diagnostics. See BENCHMARKS.md.
#
# Usage: scripts/bench-validate.sh            (RUNS, default 3: the median of RUNS runs)
# Environment: OVSNET (the binary; default: built with `cargo build --release`), RUNS.
# Needs GNU time (/usr/bin/time) and python3 (to generate the files). No root, no network:
# it only reads the files it writes under a temporary directory, removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
WORK=$(mktemp -d /tmp/ovsnet-bench-validate.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

if [ -z "${OVSNET:-}" ]; then
    cargo build --release --quiet --bin ovsnet --manifest-path "$ROOT/Cargo.toml"
    OVSNET="${CARGO_TARGET_DIR:-$ROOT/target}/release/ovsnet"
fi

# Each case: a name and a generator writing the file to $1.
python3 - "$WORK" <<'EOF'
import sys, os
work = sys.argv[1]
HEAD = "version: 1\ncluster: big\ntunnel:\n  type: vxlan\n  topology: {shape}\nvlans:\n  - {{name: web, id: 10, subnet: 10.0.0.0/8}}\nhosts:\n"

def hosts(n, shape, out):
    out.write(HEAD.format(shape=shape))
    for i in range(n):
        ip = 0xC6120000 + 1 + i
        a, b, c, d = ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255
        r = i * 64
        out.write(f"  - name: h{i}\n    underlay_ip: {a}.{b}.{c}.{d}\n"
                  f"    ranges: {{web: 10.{(r >> 16) & 255}.{(r >> 8) & 255}.{r & 255}/26}}\n")

def write(name, fill):
    with open(os.path.join(work, name), "w") as out:
        fill(out)

# The issue's cases, each near 20 MB unless named otherwise.
write("mesh-10000.yaml", lambda o: hosts(10_000, "mesh", o))
write("chain-240000-hosts.yaml", lambda o: hosts(240_000, "chain", o))
write("unknown-keys-1.7M.yaml", lambda o: [o.write(f"k{i:07d}: 1\n") for i in range(1_666_666)])
write("scalar-20MB.yaml", lambda o: o.write(HEAD.format(shape="mesh").replace("cluster: big", "cluster: " + "x" * 20_000_000)))
write("flow-list-10M.yaml", lambda o: o.write("hosts: [" + ",".join(["1"] * 10_000_000) + "]\n"))
write("hosts-ints-3.3M.yaml", lambda o: o.write("version: 1\nhosts:\n" + "".join("  - 1\n" for _ in range(3_333_333))))
write("vlans-one-subnet-400k.yaml", lambda o: o.write(
    "version: 1\ncluster: c\nvlans:\n" + "".join(
        f"  - {{name: v{i}, id: {i % 4094 + 1}, subnet: 10.0.0.0/8}}\n" for i in range(400_000))))
write("nested-lists.yaml", lambda o: o.write("hosts: " + "[" * 100_000 + "]" * 100_000 + "\n"))
# Quoted keys with nothing to unescape (read by the fast reader), and a syntax error at
# the very end (a tab: the fast reader gives up there and the full YAML parser reads
# the whole file).
write("quoted-keys-1.4M.yaml", lambda o: [o.write(f'"k{i:07d}": 1\n') for i in range(1_428_571)])
write("tab-at-end-20MB.yaml", lambda o: [o.write(f"k{i:07d}: 1\n") for i in range(1_666_666)] + [o.write("\tx: 1\n")])
# Outside the fast reader's subset, read from the YAML event stream: the 240,000-host
# chain with a non-ASCII comment first; the same with aliases (every 20th host anchors
# its `ovsdb`, the next four alias it: 12,000 anchors, 48,000 aliases, within
# serde-saphyr's alias budget); and the comment with a syntax error on the very last line
# (an unclosed flow list with a tab in it).
def chain_cafe(out, extra=lambda i: "", last=""):
    out.write("# caf\u00e9\n")
    out.write(HEAD.format(shape="chain"))
    for i in range(240_000):
        ip = 0xC6120000 + 1 + i
        a, b, c, d = ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255
        r = i * 64
        out.write(f"  - name: h{i}\n    underlay_ip: {a}.{b}.{c}.{d}\n"
                  f"    ranges: {{web: 10.{(r >> 16) & 255}.{(r >> 8) & 255}.{r & 255}/26}}\n"
                  + extra(i))
    out.write(last)

def shared_ovsdb(i):
    if i % 20 == 0:
        return f"    ovsdb: &o{i} unix:/var/run/openvswitch/db.sock\n"
    return f"    ovsdb: *o{i - i % 20}\n" if i % 20 <= 4 else ""

write("events-chain-cafe-240000.yaml", lambda o: chain_cafe(o))
write("events-aliases-48000.yaml", lambda o: chain_cafe(o, extra=shared_ovsdb))
write("events-error-at-end.yaml", lambda o: chain_cafe(o, last="  - name: [x,\tb\n"))
# 34 MB: over the 32 MiB input cap, refused before parsing.
write("over-cap-34MB.yaml", lambda o: [o.write(f"k{i:012d}: 1\n") for i in range(2_000_000)])
EOF

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
    "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| file | size MB | exit | wall s (median of %s) | CPU s (median) | peak RSS MiB (max) | stderr KB |\n' "$RUNS"
printf '|---|---|---|---|---|---|---|\n'
for file in "$WORK"/*.yaml; do
    name=$(basename "$file" .yaml)
    size=$(stat -c %s "$file")
    walls=(); cpus=(); rss=0; code=0
    for _ in $(seq "$RUNS"); do
        set +e
        /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$OVSNET" validate "$file" \
            >/dev/null 2>"$WORK/stderr"
        code=$?
        set -e
        # GNU time puts "Command exited with non-zero status N" before the numbers.
        read -r wall user sys kb < <(tail -n 1 "$WORK/time")
        walls+=("$wall")
        cpus+=("$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')")
        [ "$kb" -gt "$rss" ] && rss=$kb
    done
    wall=$(printf '%s\n' "${walls[@]}" | median)
    cpu=$(printf '%s\n' "${cpus[@]}" | median)
    err=$(stat -c %s "$WORK/stderr")
    awk -v n="$name" -v s="$size" -v c="$code" -v w="$wall" -v p="$cpu" -v r="$rss" -v e="$err" \
        'BEGIN { printf "| %s | %.1f | %d | %.2f | %.2f | %.0f | %.1f |\n", n, s / 1e6, c, w, p, r / 1024, e / 1024 }'
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
