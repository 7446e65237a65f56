#!/bin/sh
# bench_vs_torch.sh - `must bench train|label` beside torch_reference.py, in one session.
#
#   tools/bench_vs_torch.sh [ROUNDS] [MUST] [TORCH_REFERENCE] > runs.jsonl
#   tools/bench_vs_torch.sh --table runs.jsonl
#   tools/bench_vs_torch.sh --cpu [ROUNDS] [MUST] [TORCH_REFERENCE] > cpu.jsonl
#   tools/bench_vs_torch.sh --table cpu.jsonl
#
# For each round, each size (64, 128), thread count (1, 2) and mode (train at
# batch 32, label/infer at batch 64) it runs ours and then PyTorch's peer back
# to back, so that both see the same machine load; every result is one JSON
# line on stdout (ours as printed by must, PyTorch's as printed by the peer,
# each with "round" added).  --table reads such lines and prints the markdown
# table of docs/performance.md: per configuration the median over rounds of
# each side's img/s and the ratio of those medians, and the best round's ratio.
#
# --cpu times one-thread runs by CPU time instead of the wall clock, for a
# machine that other jobs share: ours from its "cpu_ms_median", PyTorch's by
# running the peer with time.perf_counter replaced by time.process_time.
# Those lines carry "clock":"cpu" and their table gives img/s per CPU second.
set -e
cpu=0
if [ "$1" = "--cpu" ]; then
    cpu=1
    shift
fi
if [ "$1" = "--table" ]; then
    exec python3 - "$2" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    d = json.loads(line)
    mode = d.get("mode")
    key = (mode, d["size"], d["threads"])
    side = "torch" if "peer" in d else "ours"
    ips = d["img_per_s"] if side == "torch" else d["img_s"]
    if d.get("clock") == "cpu" and side == "ours":
        ips = d["batch"] * 1000.0 / d["cpu_ms_median"]
    rows.setdefault(key, {}).setdefault(side, {})[d["round"]] = ips
print("| mode | size | batch | threads | ours img/s | PyTorch img/s | ratio | best-round ratio | rounds |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for key in sorted(rows, key=lambda k: (k[0] != "train", k[1], k[2])):
    o, t = rows[key].get("ours", {}), rows[key].get("torch", {})
    common = sorted(set(o) & set(t))
    if not common:
        continue
    mo = statistics.median(o[r] for r in common)
    mt = statistics.median(t[r] for r in common)
    best = max(o[r] / t[r] for r in common)
    batch = 32 if key[0] == "train" else 64
    print(f"| {key[0]} | {key[1]} | {batch} | {key[2]} | {mo:.1f} | {mt:.1f} | {mo / mt:.2f} | "
          f"{best:.2f} | {len(common)} |")
EOF
fi
rounds=${1:-3}
must=${2:-./must}
peer=${3:-/work/shared/bench/torch_reference.py}
tag() { sed "s/}\$/,\"round\":$1}/"; }
if [ "$cpu" = 1 ]; then
    cputag() { sed "s/}\$/,\"round\":$1,\"clock\":\"cpu\"}/"; }
    peer_cpu() {
        /usr/bin/python3 -c 'import runpy, sys, time
time.perf_counter = time.process_time
path = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(path, run_name="__main__")' "$peer" "$@"
    }
    r=1
    while [ "$r" -le "$rounds" ]; do
        for size in 64 128; do
            "$must" bench train --size "$size" --batch 32 --threads 1 | cputag "$r"
            peer_cpu --mode train --size "$size" --batch 32 --threads 1 | cputag "$r"
            "$must" bench label --size "$size" --batch 64 --threads 1 | cputag "$r"
            peer_cpu --mode infer --size "$size" --batch 64 --threads 1 | cputag "$r"
        done
        r=$((r + 1))
    done
    exit 0
fi
r=1
while [ "$r" -le "$rounds" ]; do
    for size in 64 128; do
        for threads in 1 2; do
            "$must" bench train --size "$size" --batch 32 --threads "$threads" | tag "$r"
            /usr/bin/python3 "$peer" --mode train --size "$size" --batch 32 \
                --threads "$threads" | tag "$r"
            "$must" bench label --size "$size" --batch 64 --threads "$threads" | tag "$r"
            /usr/bin/python3 "$peer" --mode infer --size "$size" --batch 64 \
                --threads "$threads" | tag "$r"
        done
    done
    r=$((r + 1))
done
