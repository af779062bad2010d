#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test of Switchyard:
#   1. the fuzzers (clang 14 + libFuzzer): each replays its corpus, then fuzzes for FUZZ_SECONDS;
#   2. the benchmarks (Release) as a smoke run — targets are measured separately, see
#      docs/performance.md;
#   3. the unit, integration and corpus-replay tests under ASan+UBSan (ctest), last, so that its
#      summary closes the output.
# Usage: scripts/test.sh            (FUZZ_SECONDS=20 by default; 0 skips fuzzing but not replay)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-deps.sh"

# ccache: CI clones to a new path each time, so paths are made relative to the clone, and the
# cache lives outside it.
export CCACHE_BASEDIR="$root"
export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.cache/switchyard-ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
# Debug objects carry the build directory in their debug info, so ccache hashes it by default and
# a clone at a new path never hits; CI's clones are only run, never debugged from their paths.
export CCACHE_NOHASHDIR=1
jobs="$(nproc)"
fuzz_seconds="${FUZZ_SECONDS:-20}"

echo "== build: debug (ASan+UBSan), fuzz (clang), release (benchmarks)"
cmake --preset debug >/dev/null
cmake --build --preset debug -j "$jobs"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs" --target sy_fuzzers
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs" --target sy_benchmarks switchyard

echo "== fuzzers: corpus replay, then ${fuzz_seconds}s each"
for fuzzer in build/fuzz/tests/fuzz/*_fuzzer; do
  name="$(basename "$fuzzer")"
  corpus="tests/fuzz/corpus/${name%_fuzzer}"
  scratch="$(mktemp -d)"  # new inputs go here, never into the repository's corpus
  echo "$name:"
  if [ "$fuzz_seconds" -gt 0 ]; then
    "$fuzzer" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "$scratch" "$corpus" 2>&1 | tail -n 4
  else
    "$fuzzer" -runs=0 "$corpus" 2>&1 | tail -n 2
  fi
  rm -rf "$scratch"
done

echo "== benchmarks: smoke run"
for bench in build/release/bench/*_bench; do
  SY_BENCH_SECONDS=0.1 "$bench" --benchmark_min_time=0.01 >/dev/null
  echo "$(basename "$bench"): ok"
done

echo "== deploy files"
scripts/check-deploy.sh

echo "== tests (ASan+UBSan)"
ctest --preset debug --timeout 300
