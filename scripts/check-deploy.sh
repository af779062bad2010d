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
#      (skipped without systemd-analyze; uses the built binary when /usr/bin/switchyard is absent);
#   7. schemas and lint, offline, with the pinned npm packages of deploy/validate/ (installed by
#      scripts/install-deps.sh into a cache outside the clone; skipped when they are not):
#      every document of deploy/k8s against kubernetes-models' JSON Schemas and against a strict
#      schema of Kubernetes 1.34 checked by ajv-cli (deploy/validate/k8s.mjs), the kustomization's
#      resources; deploy/compose/compose.yaml against the Compose Specification's JSON Schema
#      (ajv-cli) and dclint's errors; deploy/container/Dockerfile with dockerfile-utils lint.
# That the dashboard and the alert rules use only metrics the running daemon really exports, and
# that Prometheus scrapes it, is tests/integration/observe_test.cc (ctest), not this script.
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

# ---- 7. schemas and lint (npm) -------------------------------------------------------------------
if nm="$(deploy/validate/tools.sh path)" && command -v node >/dev/null; then
  ajv=("$nm/.bin/ajv" validate --spec=draft7 --all-errors --errors=line)
  mkdir -p "$scratch/k8s"
  node deploy/validate/k8s.mjs "$nm" "$scratch/k8s" deploy/k8s/*.yaml >"$scratch/pairs" \
    2>"$scratch/err" || fail "deploy/k8s:"$'\n'"$(cat "$scratch/err")"
  n=0
  while IFS=$'\t' read -r schema doc where; do
    n=$((n + 1))
    "${ajv[@]}" -s "$schema" -d "$doc" >"$scratch/out" 2>&1 ||
      fail "$where: strict Kubernetes 1.34 schema: $(tail -n 1 "$scratch/out")"
  done <"$scratch/pairs"
  # The Compose Specification names draft-07 as "https://json-schema.org/draft-07/schema", which
  # Ajv knows as "http://json-schema.org/draft-07/schema#"; its union types need --strict=false.
  sed 's|"https://json-schema.org/draft-07/schema"|"http://json-schema.org/draft-07/schema#"|' \
    "$nm/dclint/schemas/compose.schema.json" >"$scratch/compose.schema.json"
  "${ajv[@]}" --strict=false -c ajv-formats -s "$scratch/compose.schema.json" \
    -d deploy/compose/compose.yaml >"$scratch/out" 2>&1 ||
    fail "deploy/compose/compose.yaml: Compose Specification schema: $(tail -n 1 "$scratch/out")"
  # dclint needs Node.js 20.19 or later; Debian 12's own nodejs is 18 (the schema check above
  # covers the file either way).
  if node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
    "$nm/.bin/dclint" --quiet --color=false deploy/compose/compose.yaml >"$scratch/out" 2>&1 ||
      fail "deploy/compose/compose.yaml: dclint: $(cat "$scratch/out")"
  else
    note "dclint skipped: Node.js $(node --version) is older than 20.19"
  fi
  "$nm/.bin/dockerfile-utils" lint deploy/container/Dockerfile >"$scratch/out" 2>&1 ||
    fail "deploy/container/Dockerfile: dockerfile-utils lint: $(cat "$scratch/out")"
  note "schemas: $n Kubernetes documents (kubernetes-models, strict 1.34 schema with ajv-cli)," \
    "the kustomization, compose.yaml (Compose Specification with ajv-cli, dclint), the" \
    "Dockerfile (dockerfile-utils lint)"
else
  note "schema validation and Dockerfile lint skipped: the npm validators are not installed" \
    "(scripts/install-deps.sh runs deploy/validate/tools.sh install)"
fi

if [ "$failures" -gt 0 ]; then
  echo "check-deploy: $failures problem(s)" >&2
  exit 1
fi
note "all checks that ran passed"
