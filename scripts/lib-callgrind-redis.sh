# Shared by lua-cost.sh, registry-cost.sh, fcall-cost.sh and adopt-cost.sh (sourced): a private redis-server
# run under valgrind's callgrind, so what a script call costs Redis is counted
# in instructions (deterministic, unlike µs on a shared machine).
#
# Sourcing starts it and sets: dir (a private folder: its log, callgrind's
# dumps, and room for the caller's files), port (where it listens) and vg
# (its pid). Both the server and the folder go on exit.

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" redis-server --port "$port" --save '' \
  --appendonly no --dir "$dir" >"$dir/log" 2>&1 &
vg=$!
trap 'kill "$vg" 2>/dev/null; wait "$vg" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

# cg_zero: count from here.
cg_zero() {
  callgrind_control -z "$vg" >/dev/null
}

# cg_total: dumps the counters; prints the instructions since cg_zero.
cg_total() {
  callgrind_control -d "$vg" >/dev/null
  local f
  f=$(ls -t "$dir"/cg.* | head -1)
  sed -n 's/^summary: //p; s/^totals: //p' "$f" | head -1
}
