#!/usr/bin/env bash
# The npm validators of deploy/ (package.json and package-lock.json beside this script, pinned),
# kept in a cache OUTSIDE the clone so that CI's fresh clones and `git clean` never lose them:
#   $SWITCHYARD_NPM_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/switchyard-npm,
# one directory per lock file (named by its SHA-256), so a changed lock installs afresh beside the
# old one and nothing half-installed is ever used (it is installed aside, then renamed).
#
#   deploy/validate/tools.sh install   # `npm ci` when this lock's directory is missing (network)
#   deploy/validate/tools.sh path      # prints its node_modules; exit 1 when not installed
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lock="$here/package-lock.json"
base="${SWITCHYARD_NPM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/switchyard-npm}"
dir="$base/$(sha256sum "$lock" | cut -c1-16)"

case "${1:-}" in
  path)
    if [ -f "$dir/installed" ]; then
      echo "$dir/node_modules"
      exit 0
    fi
    exit 1
    ;;
  install)
    if [ -f "$dir/installed" ]; then
      echo "install-deps: npm validators present ($dir)"
      exit 0
    fi
    if ! command -v npm >/dev/null; then
      echo "install-deps: no npm: the deploy/ validators are not installed" >&2
      exit 1
    fi
    mkdir -p "$base"
    work="$(mktemp -d "$base/.install-XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    cp "$here/package.json" "$lock" "$work/"
    echo "install-deps: npm ci of the deploy/ validators into $dir"
    # --ignore-scripts: nothing of these packages runs at install time.
    (cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    touch "$work/installed"
    rm -rf "$dir"
    mv "$work" "$dir"
    trap - EXIT
    ;;
  *)
    echo "usage: deploy/validate/tools.sh install|path" >&2
    exit 2
    ;;
esac
