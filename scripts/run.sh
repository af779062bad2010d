#!/usr/bin/env bash
# Installs what is missing, builds Switchyard (Release) and runs it on its embedded defaults.
# Until the switch daemon lands (`switchyard serve`), this decodes a sample ISO 8583 purchase
# with the iso8583 tool, as an operator reads a captured message.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/install-deps.sh"
export CCACHE_BASEDIR="$root"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/switchyard-ccache}"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target switchyard

sample="0200723C068000C0920016476173900101001000000000000000100011270930010001230930011127281200510001005445524D303030314D45524348414E5430303030303031393738D58E3C3A0B1F2A9C00379F02060000000010009F2608A1B2C3D4E5F607189F2701805F2A0209789A032611279C0100"
echo "\$ switchyard iso8583 decode --dialect iso87b --hex ${sample:0:24}..."
exec ./build/release/cli/switchyard iso8583 decode --dialect iso87b --hex "$sample" "$@"
