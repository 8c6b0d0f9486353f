#!/usr/bin/env bash
# Install the package built by deploy/debian/build.sh with dpkg, check what it
# put where (owner, mode, nothing world-writable, no secret file), verify the
# unit with systemd-analyze (syntax, and exposure ≤ 1.5), run the binary,
# then purge the package again. Needs root. CI runs it (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/../.."
deb=$(ls -t target/debian/smc-exporter_*.deb | head -1)
echo "package: $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'
cleanup() { dpkg --purge smc-exporter >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
dpkg -i "$deb"

unit=/lib/systemd/system/smc-exporter.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/smc-exporter.service
expect() { # path mode owner
  local got
  got=$(stat -c '%a %U:%G' "$1")
  if [ "$got" != "$2 $3" ]; then echo "$1: $got, want $2 $3"; exit 1; fi
  echo "ok: $1 $got"
}
expect /usr/bin/smc-exporter 755 root:root
expect "$unit" 644 root:root
expect /etc/smc-exporter/config.toml 644 root:root
expect /etc/default/smc-exporter 644 root:root
expect /usr/share/doc/smc-exporter/runbooks.md 644 root:root
expect /usr/share/doc/smc-exporter/examples/smc-exporter.socket 644 root:root
if [ -e /etc/smc-exporter/api-key ]; then echo "the package must not create the API key file"; exit 1; fi
# Nothing the package installed is writable by others.
while read -r f; do
  if [ -e "$f" ] && [ ! -L "$f" ] && [ -n "$(find "$f" -maxdepth 0 -perm -o+w)" ]; then
    echo "$f is world-writable"; exit 1
  fi
done < <(dpkg -L smc-exporter)
grep -q '^ExecStart=/usr/bin/smc-exporter ' "$unit"
systemd-analyze verify "$unit"
systemd-analyze security --offline=true --threshold=15 "$unit" | tail -1
/usr/bin/smc-exporter --version
# The shipped config is valid once its API key source is set.
SMC_API_KEY=example-key-0123456789 /usr/bin/smc-exporter --config.check -c /etc/smc-exporter/config.toml
echo "debian package: OK"
