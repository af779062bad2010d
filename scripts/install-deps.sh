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

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
