# syntax=docker/dockerfile:1
# smc-exporter container image: built from this checkout, run as non-root
# from a distroless base (no shell, no package manager; CA certificates and
# glibc only).
#
#   docker build -t smc-exporter:0.1.0 .   (the tag the Kubernetes manifests use)
#   docker run --rm -p 9791:9791 \
#     -v /etc/smc-exporter:/etc/smc-exporter:ro smc-exporter:0.1.0
#
# The config is read from /etc/smc-exporter/config.toml (mount it with the
# API key file beside it, mode 0400 for uid 65532, or as a Kubernetes Secret:
# deploy/kubernetes/). Linted with hadolint in CI (.ci/run).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p smc-exporter \
 && install -D -m 0755 target/release/smc-exporter /out/smc-exporter

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/smc-exporter /usr/local/bin/smc-exporter
COPY config.example.toml /usr/share/doc/smc-exporter/config.example.toml
USER 65532:65532
EXPOSE 9791
ENTRYPOINT ["/usr/local/bin/smc-exporter"]
CMD ["-c", "/etc/smc-exporter/config.toml"]
