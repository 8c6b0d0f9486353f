#!/usr/bin/env bash
# Build the Debian package of smc-exporter into target/debian/ with cargo-deb
# (`cargo install --locked cargo-deb`). The binary is built for the product
# alone (`-p smc-exporter`: a build together with the lab crates could unify
# their features into it; a no-op when it is fresh). The unit is the one of
# deploy/systemd/ with the binary at /usr/bin, where the package puts it.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p smc-exporter
mkdir -p target/debian/unit
sed 's|/usr/local/bin/smc-exporter|/usr/bin/smc-exporter|g' deploy/systemd/smc-exporter.service \
  > target/debian/unit/smc-exporter.service
cargo deb --locked --no-build --strip -p smc-exporter --output target/debian/ "$@"
