#!/usr/bin/env bash
# Runs the workspace's test binaries (those `cargo test` would run, the
# container tests excluded) several at a time, so that the suite's wall time
# is not the sum of its waits: most binaries spend their time waiting on
# redis-server, the orchestrator or Docker (time-outs, stalls, restarts),
# not computing. Each binary still runs its own tests as `cargo test` does
# (its own threads, in its package's directory), and its output is printed
# whole when it ends, in the order the binaries end.
#
# Usage: scripts/run-tests.sh [ARGS FOR EVERY TEST BINARY…]
#   TEST_JOBS   binaries at once (default 3)
#   RUN_TESTS_ALONGSIDE
#               a command run in the background (niced) while the test
#               binaries are built and run, e.g. the next step's build (make test sets
#               scripts/prebuild-integration.sh); waited for before the doc
#               tests, its output printed then. Its exit status is reported,
#               not counted: it must be a warm-up the next step repeats.
# Exit status: 0 when every binary (and the doc tests) passed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${TEST_JOBS:-3}"
# The binaries that take longest (tens of seconds: stalls, workers in
# containers, restarts) start first, so that they do not end the run alone.
first="slow_redis workers_e2e workers_faults_e2e workers_registry_e2e slow_link lifecycle_busy_e2e smoke make_run_signals"

listing="$(mktemp)"
outdir="$(mktemp -d)"
alongside=""
trap '[ -z "$alongside" ] || kill -- "-$alongside" 2>/dev/null || true; rm -rf "$listing" "$outdir"' EXIT

# The command alongside starts before the test binaries are built: a build
# of another profile or target (scripts/prebuild-integration.sh: the aarch64
# release first) takes no lock this build takes, and gets the core this
# build's link steps and the tests' waits leave idle.
if [ -n "${RUN_TESTS_ALONGSIDE:-}" ]; then
  alongside_start=$SECONDS
  # Its own process group (setsid execs: $! is the group), which the exit
  # trap ends should this script stop first.
  # It writes its exit status and its own duration (its shell's SECONDS).
  setsid bash -c 'nice -n 10 bash -c "$1" >"$2/alongside.log" 2>&1; echo "$? $SECONDS" >"$2/alongside.exit"' \
    _ "$RUN_TESTS_ALONGSIDE" "$outdir" &
  alongside=$!
fi

# The build's errors and warnings are rendered on stderr as usual; stdout's
# JSON keeps the artefacts, listed below.
cargo test --workspace --exclude sett-container-tests --no-run --message-format=json-render-diagnostics >"$listing"

# One line per test binary: name, package directory, executable, tab-separated
# (a path may hold spaces).
mapfile -t binaries < <(
  grep '"reason":"compiler-artifact"' "$listing" | grep -E '"profile":\{[^}]*"test":true' | grep '"executable":"' |
    sed -E 's/.*"manifest_path":"([^"]*)\/Cargo\.toml".*"name":"([^"]*)".*"executable":"([^"]*)".*/\2\t\1\t\3/'
)
if [ ${#binaries[@]} -eq 0 ]; then
  echo "run-tests: cargo listed no test binaries" >&2
  exit 1
fi

ordered=()
for name in $first; do
  for b in "${binaries[@]}"; do
    [ "${b%%$'\t'*}" = "$name" ] && ordered+=("$b")
  done
done
for b in "${binaries[@]}"; do
  case " $first " in *" ${b%%$'\t'*} "*) ;; *) ordered+=("$b") ;; esac
done

run_one() { # index, "name<TAB>dir<TAB>executable", args…
  local i="$1" name dir exe
  IFS=$'\t' read -r name dir exe <<<"$2"
  shift 2
  local start=$SECONDS status=0
  (cd "$dir" && "$exe" "$@") >"$outdir/$i.out" 2>&1 || status=$?
  {
    echo "     Running $name ($(basename "$exe"), $((SECONDS - start)) s, exit $status)"
    cat "$outdir/$i.out"
  } >"$outdir/$i.done"
  echo "$status" >"$outdir/$i.status"
}

running=0
shown=()
show_finished() {
  local f i
  for f in "$outdir"/*.status; do
    [ -e "$f" ] || continue
    i="$(basename "$f" .status)"
    case " ${shown[*]-} " in *" $i "*) continue ;; esac
    cat "$outdir/$i.done"
    shown+=("$i")
  done
}

for i in "${!ordered[@]}"; do
  while [ "$running" -ge "$jobs" ]; do
    ended=""
    wait -n -p ended || true
    # (The command alongside is not one of the test binaries.)
    [ -z "$alongside" ] || [ "$ended" != "$alongside" ] || continue
    running=$((running - 1))
    show_finished
  done
  run_one "$i" "${ordered[$i]}" "$@" &
  running=$((running + 1))
done
wait || true
show_finished
if [ -n "$alongside" ]; then
  wait "$alongside" 2>/dev/null || true
  read -r alongside_status alongside_secs 2>/dev/null <"$outdir/alongside.exit" || alongside_status=unknown
  echo "run-tests: alongside the tests, \`$RUN_TESTS_ALONGSIDE\` took ${alongside_secs:-?} s, exit $alongside_status;" \
    "the tests and it were done $((SECONDS - alongside_start)) s after it started"
  if [ "$alongside_status" != 0 ]; then tail -n 40 "$outdir/alongside.log"; fi
  alongside=""
fi

failed=()
for i in "${!ordered[@]}"; do
  if [ "$(cat "$outdir/$i.status")" != 0 ]; then
    failed+=("${ordered[$i]%%$'\t'*}")
  fi
done

doc=0
cargo test --workspace --exclude sett-container-tests --doc || doc=$?

if [ ${#failed[@]} -gt 0 ] || [ "$doc" != 0 ]; then
  echo "run-tests: FAILED: ${failed[*]-}$([ "$doc" != 0 ] && echo ' doc-tests')" >&2
  exit 1
fi
echo "run-tests: all ${#ordered[@]} test binaries and the doc tests passed ($jobs at a time)"
