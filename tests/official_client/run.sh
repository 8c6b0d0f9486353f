#!/usr/bin/env bash
# Run Forcepoint's official Python client (tests/official_client) against
# the simulator. Idempotent: creates the venv once, reinstalls its packages
# only when requirements.txt changed, builds the simulator (`smc-lab`)
# unless given.
#
#   OFFICIAL_CLIENT_VENV   venv directory (default target/official-client-venv)
#   SMC_LAB_BIN            simulator binary, `smc-lab` (default: cargo build
#                          --locked -p smc-lab, debug)
#   PYTHON                 interpreter that creates the venv (default python3)
#   OFFICIAL_CLIENT_TIMEOUT  hard bound of the whole pytest run, seconds (default 300)
#
# Extra arguments go to pytest (e.g. -k filters). Prints one summary line
# "official client: N passed, N failed"; exits non-zero on any failure, and
# when no test was collected.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
suite=tests/official_client
venv=${OFFICIAL_CLIENT_VENV:-target/official-client-venv}
python=${PYTHON:-python3}
target_dir=${CARGO_TARGET_DIR:-target}
mkdir -p "$target_dir"
log="$target_dir/official-client.log"
junit="$target_dir/official-client.xml"

# 1. The venv (recreated when a previous attempt left it without pip).
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

# 2. Its packages, only when requirements.txt changed since the last install.
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$suite/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$suite/requirements.txt"
  echo "$want" >"$stamp"
fi

# 3. The simulator binary (`smc-lab simulate`).
if [ -z "${SMC_LAB_BIN:-}" ]; then
  cargo build --locked --quiet -p smc-lab
  export SMC_LAB_BIN="$target_dir/debug/smc-lab"
fi
case "$SMC_LAB_BIN" in /*) ;; *) export SMC_LAB_BIN="$repo/$SMC_LAB_BIN" ;; esac
echo "official client: simulator $SMC_LAB_BIN, venv $venv"

# 4. The suite, each case by name.
export PYTHONDONTWRITEBYTECODE=1
rm -f "$junit"
set +e
timeout --kill-after=10 "${OFFICIAL_CLIENT_TIMEOUT:-300}" \
  "$venv/bin/python" -m pytest -v -rA --junitxml="$junit" "$suite" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# 5. One summary line, from the JUnit report.
summary=$("$venv/bin/python" - "$junit" <<'EOF'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("0 passed, 0 failed (no report)")
    sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
passed = n["tests"] - n["failures"] - n["errors"] - n["skipped"]
line = f"{passed} passed, {n['failures'] + n['errors']} failed"
if n["skipped"]:
    line += f", {n['skipped']} skipped"
print(line)
EOF
)
echo "official client: $summary"
case $rc in
  0) ;;
  5) echo "official client: FAILED: pytest collected no tests" >&2; exit 1 ;;
  124|137) echo "official client: FAILED: the run exceeded ${OFFICIAL_CLIENT_TIMEOUT:-300}s" >&2; exit 1 ;;
  *) echo "official client: FAILED (pytest exit status $rc)" >&2; exit 1 ;;
esac
