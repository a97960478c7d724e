# syntax=docker/dockerfile:1
# anomaly-detector: static toolchain stage, then a distroless runtime (no shell, no compiler, non-root).

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
# The whole workspace (see .dockerignore): the root manifest lists demo-app as a member.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin anomaly-detector \
    && install -D -m 0755 target/release/anomaly-detector /out/anomaly-detector \
    && mkdir -p /out/state

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="anomaly-detector" \
      org.opencontainers.image.description="Log anomaly detection sidecar for Loki" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/anomaly-detector /usr/local/bin/anomaly-detector
COPY config/default.toml /etc/anomaly-detector/config.toml
# State (cursor, models, alert state) lives on a volume owned by the nonroot user (65532).
COPY --from=builder --chown=65532:65532 /out/state /var/lib/anomaly-detector
# The container listens on 0.0.0.0 (the container network): that is not loopback, so the mutating
# API (POST /api/v1/rebaseline) is refused until ANOMALY_DETECTOR__SERVER__API_TOKEN or
# server.api_token_file is set; publish the port on 127.0.0.1 unless it must be reached from afar.
ENV ANOMALY_DETECTOR__SERVER__LISTEN=0.0.0.0:9797 \
    ANOMALY_DETECTOR__STATE__DIR=/var/lib/anomaly-detector
USER 65532:65532
VOLUME ["/var/lib/anomaly-detector"]
EXPOSE 9797
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/anomaly-detector", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/anomaly-detector"]
CMD ["run"]
