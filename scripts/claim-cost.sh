#!/usr/bin/env bash
# claim-cost.sh [BASE]: Redis instructions per Phase-1 claim, by artefacts a
# call (callgrind: deterministic on a shared machine). A private
# redis-server under callgrind with one claim_events subscriber; for each
# case, N artefact hashes (default 4000) are stored, the counters zeroed, and
# the claim script called over them through `redis-cli --pipe`: BASE's
# claim.lua (default 2b78c2a, one artefact a call), then this tree's with 1,
# 4, 16 and 64 artefacts a call. Prints instructions per claim and the
# claims made. Reports; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-2b78c2a}
n=${N:-4000}
# shellcheck source=scripts/lib-callgrind-redis.sh
. scripts/lib-callgrind-redis.sh
old=$(redis-cli -p "$port" script load "$(git show "$base:src/phase1/claim.lua")")
new=$(redis-cli -p "$port" script load "$(cat src/phase1/claim.lua)")
# (It ends with the server, which the library's exit trap stops.)
redis-cli -p "$port" subscribe sett:x:claim_events >/dev/null 2>&1 &
sleep 0.5
# commands MODE K SHA TAG: RESP for N artefacts (MODE store) or their claim
# calls, K a call (MODE one: BASE's ARGV, one a call; many: this tree's).
commands() {
  python3 - "$@" <<'PY'
import sys, uuid
mode, n, k, sha, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def resp(*a):
    out = [b'*%d\r\n' % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(x), x))
    return b''.join(out)
P = 'sett:x:'
ids = [str(uuid.uuid5(uuid.NAMESPACE_OID, tag + str(i))) for i in range(n)]
w = sys.stdout.buffer
if mode == 'store':
    for a in ids:
        w.write(resp('HSET', P + 'artefact:' + a, 'id', a, 'logical_id', a, 'version', '1', 'structural_type',
                     'Standard', 'type', 'Load', 'payload', 'x' * 256, 'source_artefacts', '[]', 'produced_by_role', 'user'))
    sys.exit()
for s in range(0, n, k):
    keys, args = [], []
    for a in ids[s:s + k]:
        c = str(uuid.uuid4())
        keys += [P + 'artefact:' + a, P + 'claim_by_artefact:' + a, P + 'claim:' + c]
        args += [c, a, '{"id":"%s","artefact_id":"%s","status":"pending_review","granted_review_agents":[],'
                       '"granted_parallel_agents":[],"granted_exclusive_agent":""}' % (c, a)]
    if mode == 'one':
        w.write(resp('EVALSHA', sha, 3, *keys, args[0], args[1], P + 'claim_events', args[2]))
    else:
        w.write(resp('EVALSHA', sha, len(keys), *keys, P + 'claim_events', *args))
PY
}
for spec in "one 1" "many 1" "many 4" "many 16" "many 64"; do
  read -r mode k <<<"$spec"
  sha=$new
  [ "$mode" = one ] && sha=$old
  commands store "$n" 1 - "$spec" | redis-cli -p "$port" --pipe >/dev/null
  cg_zero
  commands "$mode" "$n" "$k" "$sha" "$spec" | redis-cli -p "$port" --pipe >/dev/null
  ir=$(cg_total)
  label=$([ "$mode" = one ] && echo "$base" || echo "this tree")
  echo "$label, $k a call: $((ir / n)) instructions a claim; claims: $(redis-cli -p "$port" --scan --pattern 'sett:x:claim:*' | wc -l)"
  redis-cli -p "$port" flushall >/dev/null
done
