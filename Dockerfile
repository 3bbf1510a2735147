# syntax=docker/dockerfile:1.7
#
# The one image of Fleuve: the `fleuve` binary, which runs every service (`fleuve serve
# <service>`), the migrations (`fleuve migrate`), the health check (`fleuve health`) and the
# Envoy configuration generator (`fleuve edge envoy`).
#
#   docker build -t fleuve:0.1.0 .
#
# Build stage: the dependencies are compiled once into BuildKit cache mounts (the registry and
# the target directory), so a change to Fleuve's own code rebuilds Fleuve's crates only.
FROM rust:1.95-slim-bookworm AS build

# libpq (diesel's PostgreSQL driver), OpenSSL (librdkafka's TLS and SASL/SCRAM), and the C
# toolchain that librdkafka, SQLite and jemalloc are built with.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpq-dev libssl-dev pkg-config make g++ perl zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# The release profile keeps line tables for backtraces: the image drops them (410 MiB -> 78
# MiB) and keeps the symbols, so a panic's backtrace still names its functions.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin fleuve \
    && install -D -m 0755 target/release/fleuve /out/fleuve

# Runtime stage: the binary and the shared libraries it links (libpq, libssl), CA roots for
# TLS to Kafka, the registry and the collector. It runs as an unprivileged user with no
# writable path but the data volume; nothing here needs a shell (exec-form commands only).
FROM debian:bookworm-slim AS runtime

RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fleuve \
    && useradd --system --uid 10001 --gid fleuve --home-dir /var/lib/fleuve --no-create-home fleuve \
    && install -d -o fleuve -g fleuve -m 0750 /var/lib/fleuve

COPY --from=build /out/fleuve /usr/local/bin/fleuve

USER 10001:10001
WORKDIR /var/lib/fleuve
VOLUME ["/var/lib/fleuve"]

# A container listens on every interface: gRPC on 50051, the admin server (/metrics,
# /healthz, /readyz) on 9464. JSON logs on standard error.
ENV FLEUVE_LISTEN=0.0.0.0:50051 \
    FLEUVE_ADMIN__LISTEN=0.0.0.0:9464 \
    FLEUVE_LOG__FORMAT=json
EXPOSE 50051 9464

# The gRPC health service of the process (grpc.health.v1), asked by the binary itself.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/fleuve", "health", "--addr", "127.0.0.1:50051"]

ENTRYPOINT ["/usr/local/bin/fleuve"]
CMD ["--help"]
