#!/usr/bin/env bash
# Installs what is missing, builds Switchyard (Release) and runs the embedded demo in the
# foreground: two issuer simulators (deploy/demo/issuer-a.yaml on 127.0.0.1:9583, issuer-b.yaml on
# 127.0.0.1:9584) and the switch on its embedded defaults (TLS terminals on 127.0.0.1:8583,
# data in ./data). Ctrl-C stops all three cleanly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-deps.sh"
export CCACHE_BASEDIR="$root"
export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/tmp}/.cache/switchyard-ccache}"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target switchyard
bin="$root/build/release/cli/switchyard"

pids=()
stop() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

"$bin" issuer-sim --config deploy/demo/issuer-a.yaml &
pids+=($!)
"$bin" issuer-sim --config deploy/demo/issuer-b.yaml &
pids+=($!)

cat <<MSG

Switchyard demo: issuers on 127.0.0.1:9583 and :9584, terminals (TLS) on 127.0.0.1:8583 (AES
terminals on :8584), metrics on http://127.0.0.1:9090/metrics.
From a second shell, sign the demo terminal on and buy something (TEST card, PIN 1234):
  $bin term --ca data/tls/switch.crt signon
  $bin term --ca data/tls/switch.crt purchase --pan 4761739001010010 --amount 1250 --pin 1234
Look the transaction up:  $bin journal show --data data --tid TERM0001 --stan <STAN>
Ctrl-C stops everything.

MSG
"$bin" serve "$@" &
pids+=($!)
wait "${pids[2]}"
