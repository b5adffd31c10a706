#!/usr/bin/env bash
# Which thread of the orchestrator makes which system calls over one Phase-1
# burst (docs/performance.md, "Fewer thread hand-offs"):
#   scripts/thread-syscalls.sh BIN...
# On one private redis-server, each BIN in turn is started (Phase 1, instance
# "ts") and measured over one `sett-bench --burst 10000 --payload-bytes 256`
# run: per thread, voluntary and involuntary context switches and CPU ticks
# (/proc), and futex, epoll_pwait, epoll_ctl, read, write and recvfrom calls
# (perf tracepoints: strace slows every call enough to change which thread
# holds the reactor). Needs perf with the syscalls tracepoints (root).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
scripts/ensure-deps.sh
# shellcheck source=scripts/lib-private.sh
. scripts/lib-private.sh
cargo build --release --locked -q -p sett-bench
start_redis
echo "thread-syscalls: load average $(cut -d' ' -f1-3 /proc/loadavg)"
snap() {
  for t in /proc/"$orch_pid"/task/*; do
    echo "$(basename "$t") $(tr ' ' _ <"$t/comm") $(awk '/^voluntary_ctxt|^nonvoluntary_ctxt/{printf "%s ", $2}' "$t/status") $(awk '{print $14+$15}' "$t/stat")"
  done
}
for bin in "$@"; do
  start_orchestrator "$bin" ts
  sleep 0.5
  snap >"$private_dir/before"
  perf stat --per-thread -p "$orch_pid" -o "$private_dir/perf" \
    -e syscalls:sys_enter_futex,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl \
    -e syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_recvfrom &
  perf_pid=$!
  sleep 0.3
  target/release/sett-bench --redis-url "$REDIS_URL" --instance ts --burst 10000 --payload-bytes 256 \
    --pid "$orch_pid" --json | python3 -c "
import json, sys
r = json.load(sys.stdin)
print(sys.argv[1], 'claimed', r['claimed'], 'claims/s', round(r['claims_per_s']),
      'cpu_us/claim', round(r['process']['cpu_us_per_claim'] or 0, 1))" "$bin"
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  snap >"$private_dir/after"
  python3 - "$private_dir/before" "$private_dir/after" "$private_dir/perf" <<'PY'
import collections, re, sys
before = {l.split()[0]: l.split() for l in open(sys.argv[1])}
for line in open(sys.argv[2]):
    f = line.split()
    o = before.get(f[0], [f[0], f[1], "0", "0", "0"])
    print(f"  {f[1]:16} voluntary_cs {int(f[2]) - int(o[2]):6} involuntary_cs {int(f[3]) - int(o[3]):6} cpu_ticks {int(f[4]) - int(o[4]):4}")
calls = collections.defaultdict(dict)
for line in open(sys.argv[3]):
    m = re.match(r"\s*(\S+)-(\d+)\s+([\d,]+)\s+syscalls:sys_enter_(\w+)", line)
    if m and int(m.group(3).replace(",", "")) > 0:
        calls[m.group(1)][m.group(4)] = int(m.group(3).replace(",", ""))
for thread, counts in calls.items():
    print(f"  {thread:16}", " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
PY
  stop_orchestrator
done
