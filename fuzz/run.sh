#!/usr/bin/env bash
# Build the fuzz targets and run each one for a bounded time on its seed
# corpus. Idempotent: installs cargo-fuzz if it is missing, reuses the build.
# Exits non-zero if any target crashed (or timed out, or ran out of memory)
# and prints the path of every input that did. See docs/fuzzing.md.
#
#   FUZZ_SECONDS     time per target, seconds (default 60)
#   FUZZ_RUNS        cap on inputs executed per target (default 50000000)
#   FUZZ_TARGETS     targets to run (default: all of fuzz/fuzz_targets/)
#   FUZZ_SANITIZER   address (default, when the toolchain ships ASan) or none
#   FUZZ_TARGET_DIR  cargo target dir of the fuzz build (default fuzz/target)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:-50000000}
target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
cargo_fuzz_version=0.13.2
# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov-module);
# the stable compiler accepts them when bootstrapping is allowed.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz $cargo_fuzz_version into ${CARGO_HOME:-$HOME/.cargo}/bin"
  cargo install --locked --version "$cargo_fuzz_version" cargo-fuzz
fi
cargo fuzz --version

sanitizer=${FUZZ_SANITIZER:-}
if [[ -z $sanitizer ]]; then
  host=$(rustc -vV | sed -n 's/^host: //p')
  if compgen -G "$(rustc --print sysroot)/lib/rustlib/$host/lib/librustc-*_rt.asan.a" >/dev/null; then
    sanitizer=address
  else
    echo "no AddressSanitizer runtime in this toolchain: fuzzing without a sanitizer"
    sanitizer=none
  fi
fi

if [[ -n ${FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

# Fails if fuzz/Cargo.lock is stale, instead of silently re-resolving it.
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null

common=(--sanitizer "$sanitizer" --target-dir "$target_dir")
build_start=$(date +%s)
cargo fuzz build "${common[@]}"
echo "fuzz build (sanitizer: $sanitizer): $(($(date +%s) - build_start))s"

failed=()
for t in "${targets[@]}"; do
  # New inputs go to fuzz/work/<target> (ignored); the committed seeds in
  # fuzz/corpus/<target> are only read. Crashes go to fuzz/artifacts/<target>.
  work=fuzz/work/$t
  artifacts=fuzz/artifacts/$t
  mkdir -p "$work" "$artifacts"
  marker=$(mktemp)
  log=fuzz/work/$t.log
  echo "--- $t: up to ${seconds}s or $runs inputs"
  rc=0
  cargo fuzz run "${common[@]}" "$t" "$work" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
    -dict=fuzz/smc.dict -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)' "$log" || true
  mapfile -t found < <(find "$artifacts" -type f -newer "$marker" | sort)
  rm -f "$marker"
  if ((rc != 0)) || ((${#found[@]} > 0)); then
    echo "FAILED: $t exited with $rc; from $log:"
    grep -E -A4 'panicked at|==ERROR|^ERROR: libFuzzer|^SUMMARY: ' "$log" | head -n 40 || true
    for f in "${found[@]}"; do
      echo "crashing input: $root/$f"
      echo "  reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run ${common[*]} $t $f"
    done
    failed+=("$t")
  else
    echo "ok: $t"
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzzing found problems in: ${failed[*]}"
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, no crash"
