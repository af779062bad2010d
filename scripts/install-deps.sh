#!/usr/bin/env bash
# Installs everything Switchyard needs to build, test and run, from Debian 12's packages only.
# Idempotent: packages already present are left alone. Runs as root, or through sudo otherwise.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git python3 python3-yaml
  clang-14 clang-format-14 clang-tidy-14 libfuzzer-14-dev libclang-rt-14-dev
  libboost1.81-dev libboost-system1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev
  libssl-dev openssl
  libprotobuf-dev protobuf-compiler
  librocksdb-dev
  prometheus-cpp-dev
  libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus  # promtool and a real Prometheus for scripts/check-deploy.sh and observe_test
  libgoogle-perftools-dev
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# The offline validators of deploy/ (scripts/check-deploy.sh) are npm packages: Node.js and npm
# come from Debian when the machine has none. Not in a container build, which copies this script
# without deploy/validate/.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$root/deploy/validate/package-lock.json" ] && ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The pinned npm validators (deploy/validate/package-lock.json), installed once into a cache
# outside the clone.
if [ -f "$root/deploy/validate/package-lock.json" ]; then
  "$root/deploy/validate/tools.sh" install
fi
