#!/usr/bin/env bash
# Offline checks of the deployment files under deploy/ (and docs/deploy.md):
#   1. every sy_* metric name they use is one the code exports (a "sy_..." string literal in the
#      non-test sources, e.g. switch/daemon.cc RefreshMetrics; a histogram's _bucket, _sum and
#      _count series count as its name) — always run, the reason this script exists;
#   2. every JSON file parses (python3);
#   3. every YAML file parses (python3 with PyYAML; skipped without it);
#   4. the switch configurations pass `switchyard serve --check` (the production example, the
#      compose and container ones, and the copy inside deploy/k8s/configmap.yaml, which must
#      equal the production example but for `threads`) — when a built binary is found
#      ($SWITCHYARD_BIN, build/release/cli/switchyard or build/debug/cli/switchyard);
#   5. promtool check config / check rules / test rules (skipped without promtool: Debian's
#      `prometheus` package has it);
#   6. systemd-analyze verify on deploy/systemd/switchyard.service, any complaint failing it
#      (skipped without systemd-analyze; uses the built binary when /usr/bin/switchyard is absent).
# Exit status 1 when any check that ran failed. Usage: scripts/check-deploy.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

failures=0
fail() {
  echo "check-deploy: FAIL: $*" >&2
  failures=$((failures + 1))
}
note() { echo "check-deploy: $*"; }
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# ---- 1. metric names ---------------------------------------------------------------------------
source_dirs=(switch routing storage crypto iso8583 sim cli bench proto)
grep -rhoE --include='*.cc' --include='*.h' '"sy_[a-z0-9_]+"' "${source_dirs[@]}" 2>/dev/null |
  tr -d '"' | sort -u >"$scratch/defined"
grep -rhoiE --include='*.cc' --include='*.h' 'histogram[^"]*"sy_[a-z0-9_]+"' "${source_dirs[@]}" \
  2>/dev/null | grep -oE 'sy_[a-z0-9_]+' | sort -u >"$scratch/histograms"
{
  cat "$scratch/defined"
  sed -e 's/$/_bucket/' "$scratch/histograms"
  sed -e 's/$/_sum/' "$scratch/histograms"
  sed -e 's/$/_count/' "$scratch/histograms"
} | sort -u >"$scratch/allowed"
if [ ! -s "$scratch/defined" ]; then
  fail "found no sy_* metric name in the sources (${source_dirs[*]}): is this the repository?"
fi
mapfile -t deploy_files < <(find deploy -type f ! -path 'deploy/demo/*' | sort; echo docs/deploy.md)
used=0
for f in "${deploy_files[@]}"; do
  [ -f "$f" ] || continue
  while IFS=: read -r line name; do
    used=$((used + 1))
    if ! grep -qxF "$name" "$scratch/allowed"; then
      fail "$f:$line: metric '$name' is not exported by the code"
    fi
  done < <(grep -noE '(^|[^A-Za-z0-9_])sy_[a-z0-9_]+' "$f" | sed -E 's/^([0-9]+):.*(sy_[a-z0-9_]+)$/\1:\2/')
done
note "metric names: $used uses checked against $(wc -l <"$scratch/defined") exported names" \
  "($(wc -l <"$scratch/histograms") histograms)"

# ---- 2, 3. JSON and YAML parse ------------------------------------------------------------------
if command -v python3 >/dev/null; then
  while IFS= read -r f; do
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" 2>"$scratch/err" ||
      fail "$f: not JSON: $(tail -n 1 "$scratch/err")"
  done < <(find deploy -type f -name '*.json')
  if python3 -c 'import yaml' 2>/dev/null; then
    n=0
    while IFS= read -r f; do
      n=$((n + 1))
      python3 -c 'import yaml,sys; list(yaml.safe_load_all(open(sys.argv[1])))' "$f" \
        2>"$scratch/err" || fail "$f: not YAML: $(tail -n 1 "$scratch/err")"
    done < <(find deploy -type f \( -name '*.yaml' -o -name '*.yml' \))
    note "YAML: $n files parsed"
  else
    note "YAML parse skipped: python3 has no yaml module (apt-get install python3-yaml)"
  fi
else
  note "JSON/YAML parse skipped: no python3"
fi

# ---- 4. switch configurations -------------------------------------------------------------------
bin="${SWITCHYARD_BIN:-}"
for candidate in build/release/cli/switchyard build/debug/cli/switchyard; do
  if [ -z "$bin" ] && [ -x "$candidate" ]; then
    bin="$candidate"
  fi
done
if [ -n "$bin" ]; then
  configs=(deploy/production/switchyard.yaml deploy/compose/switchyard.yaml
           deploy/container/switchyard.yaml)
  if command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$scratch/configmap.yaml" <<'PY' || fail "deploy/k8s/configmap.yaml: cannot extract switchyard.yaml"
import sys, yaml
doc = yaml.safe_load(open("deploy/k8s/configmap.yaml"))
open(sys.argv[1], "w").write(doc["data"]["switchyard.yaml"])
PY
    if [ -s "$scratch/configmap.yaml" ]; then
      configs+=("$scratch/configmap.yaml")
      if ! diff <(grep -v '^threads:' deploy/production/switchyard.yaml) \
                <(grep -v '^threads:' "$scratch/configmap.yaml") >"$scratch/diff"; then
        fail "deploy/k8s/configmap.yaml differs from deploy/production/switchyard.yaml beyond threads:"
        cat "$scratch/diff" >&2
      fi
    fi
  fi
  # The compose stack's issuer simulators are the demo's but for the listen address.
  for n in a b; do
    if ! diff <(grep -vE '^(#|listen:)' "deploy/demo/issuer-$n.yaml") \
              <(grep -vE '^(#|listen:)' "deploy/compose/issuer-$n.yaml") >"$scratch/diff"; then
      fail "deploy/compose/issuer-$n.yaml differs from deploy/demo/issuer-$n.yaml beyond listen:"
      cat "$scratch/diff" >&2
    fi
  done
  for c in "${configs[@]}"; do
    if ! "$bin" serve --config "$c" --check >"$scratch/out" 2>&1; then
      fail "$c: $(cat "$scratch/out")"
    fi
  done
  note "configurations: ${#configs[@]} checked with $bin serve --check"
else
  note "configuration check skipped: no built switchyard (build/release/cli/switchyard)"
fi

# ---- 5. Prometheus ------------------------------------------------------------------------------
if command -v promtool >/dev/null; then
  (cd deploy/prometheus && promtool check config prometheus.yml >"$scratch/out" 2>&1) ||
    fail "promtool check config: $(cat "$scratch/out")"
  (cd deploy/prometheus && promtool check rules alerts.yml >"$scratch/out" 2>&1) ||
    fail "promtool check rules: $(cat "$scratch/out")"
  (cd deploy/prometheus && promtool test rules alerts_test.yml >"$scratch/out" 2>&1) ||
    fail "promtool test rules: $(cat "$scratch/out")"
  note "prometheus: config, rules and rule tests checked with promtool"
else
  note "promtool checks skipped: no promtool (apt-get install --no-install-recommends prometheus)"
fi

# ---- 6. systemd ---------------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
  unit=deploy/systemd/switchyard.service
  mkdir -p "$scratch/systemd"
  if [ ! -x /usr/bin/switchyard ] && [ -n "$bin" ]; then
    # The unit runs /usr/bin/switchyard; verify checks the executable exists.
    sed "s|/usr/bin/switchyard|$root/$bin|g" "$unit" >"$scratch/systemd/switchyard.service"
  else
    cp "$unit" "$scratch/systemd/switchyard.service"
  fi
  if [ ! -x /usr/bin/switchyard ] && [ -z "$bin" ]; then
    note "systemd-analyze verify skipped: no switchyard binary for ExecStart"
  else
    systemd-analyze verify "$scratch/systemd/switchyard.service" >"$scratch/out" 2>&1 || true
    if [ -s "$scratch/out" ]; then
      fail "systemd-analyze verify $unit: $(cat "$scratch/out")"
    else
      note "systemd: $unit verified"
    fi
  fi
else
  note "systemd-analyze verify skipped: no systemd-analyze"
fi

if [ "$failures" -gt 0 ]; then
  echo "check-deploy: $failures problem(s)" >&2
  exit 1
fi
note "all checks that ran passed"
