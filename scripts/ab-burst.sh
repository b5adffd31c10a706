#!/usr/bin/env bash
# A/B of two orchestrator binaries on this machine, interleaved so both see
# the same load: on one private redis-server, ROUNDS times (default 3) each
# binary in turn is started (Phase-1 mode, instance "ab") and measured with
# RUNS (default 3) `sett-bench --burst 10000` runs per payload size in SIZES
# (bytes, default "4096 65536"), then stopped. One line per run:
#   binary size claims/s claimed missing+duplicated rss_before_kb rss_peak_kb
#   orch_cpu_us/claim redis_cpu_us/claim bench_cpu_us/claim
# then the medians per binary and size. E.g. the README's table's binary
# against today's:
#   git archive a6c84b0 | tar -x -C target/ab/src && (cd target/ab/src && cargo build --release \
#     --locked -p sett-orchestrator --target x86_64-unknown-linux-musl --target-dir ../build)
#   scripts/ab-burst.sh target/ab/build/x86_64-unknown-linux-musl/release/sett-orchestrator bin/sett-orchestrator
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# = 2 ] || { echo "usage: $0 BINARY_A BINARY_B" >&2; exit 2; }
scripts/ensure-deps.sh
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh
cargo build --release --locked -q -p sett-bench
start_redis
out="$private_dir/runs.txt"
echo "ab-burst: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq 1 "${ROUNDS:-3}"); do
  for bin in "$1" "$2"; do
    start_orchestrator "$bin" ab
    for size in ${SIZES:-4096 65536}; do
      for _ in $(seq 1 "${RUNS:-3}"); do
        target/release/sett-bench --redis-url "$REDIS_URL" --instance ab --burst 10000 --payload-bytes "$size" \
          --pid "$orch_pid" --json | python3 -c "
import json, sys
r = json.load(sys.stdin); p = r['process']; n = max(r['claimed'], 1)
print(sys.argv[1], sys.argv[2], round(r['claims_per_s']), r['claimed'], r['missing'] + r['duplicated'],
      p['rss_before_kb'], p['rss_peak_kb'], round(p['cpu_us_per_claim'] or 0, 1),
      round(r['redis_cpu_s'] * 1e6 / n, 1), round(r['bench_cpu_s'] * 1e6 / n, 1))" "$bin" "$size" | tee -a "$out"
      done
    done
    stop_orchestrator
  done
done
echo "ab-burst: load average after $(cut -d' ' -f1-3 /proc/loadavg); medians (binary size claims/s rss_before rss_peak orch_us redis_us bench_us):"
python3 - "$out" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault((f[0], f[1]), []).append([float(x) for x in f[2:]])
for (bin, size), runs in rows.items():
    col = lambda i: statistics.median(r[i] for r in runs)
    print(bin, size, *(round(col(i), 1) for i in (0, 3, 4, 5, 6, 7)), f"({len(runs)} runs)")
EOF
