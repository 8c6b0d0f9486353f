#!/usr/bin/env bash
# Build the Debian package of smc-exporter into target/debian/ with cargo-deb
# (`cargo install --locked cargo-deb`), from an already built
# target/release/smc-exporter (or build it). The unit is the one of
# deploy/systemd/ with the binary at /usr/bin, where the package puts it.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x target/release/smc-exporter ] || cargo build --release --locked -p smc-exporter
mkdir -p target/debian/unit
sed 's|/usr/local/bin/smc-exporter|/usr/bin/smc-exporter|g' deploy/systemd/smc-exporter.service \
  > target/debian/unit/smc-exporter.service
cargo deb --locked --no-build --strip -p smc-exporter --output target/debian/ "$@"
