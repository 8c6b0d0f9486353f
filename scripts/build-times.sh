#!/usr/bin/env bash
# Build-time figures of one or more checkouts, measured back to back on this
# machine: a clean build of every test target, the rebuild after touching one
# simulator file, then one exporter file, the number of test binaries and the
# wall time of `cargo test`. Each checkout builds into a fresh target
# directory (removed afterwards), so nothing is shared between them.
#
#   scripts/build-times.sh [DIR ...]     (default: this checkout)
set -euo pipefail
[ $# -gt 0 ] || set -- "$(cd "$(dirname "$0")/.." && pwd)"

secs() { # run a command quietly, print its wall time in seconds
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }'
}

first() { # the first of the given paths that exists
  for p in "$@"; do [ -e "$p" ] && { echo "$p"; return; }; done
  echo "none of: $*" >&2; exit 1
}

printf '%-40s %8s %10s %10s %8s %8s\n' checkout clean_s touch_sim touch_exp binaries test_s
for dir in "$@"; do
  (
    cd "$dir"
    target=$(mktemp -d)
    trap 'rm -rf "$target"' EXIT
    export CARGO_TARGET_DIR="$target"
    sim=$(first crates/smc-sim/src/world.rs src/sim/world.rs)
    exp=$(first crates/smc-exporter/src/metrics/collect.rs src/metrics/collect.rs)
    clean=$(secs cargo test --locked --no-run)
    touch "$sim"; touch_sim=$(secs cargo test --locked --no-run)
    touch "$exp"; touch_exp=$(secs cargo test --locked --no-run)
    bins=$(cargo test --locked --no-run 2>&1 | grep -c 'Executable')
    tests=$(secs cargo test --locked)
    printf '%-40s %8s %10s %10s %8s %8s\n' "$(git rev-parse --short HEAD) $(basename "$dir")" \
      "$clean" "$touch_sim" "$touch_exp" "$bins" "$tests"
  )
done
