# syntax=docker/dockerfile:1
# One image for every role: `gauntlet serve` (API and dashboard), `gauntlet worker`,
# `gauntlet gateway serve` and `gauntlet migrate`. deploy/ has the Kubernetes manifests and
# a Compose file that use it. Build: docker build -t gauntlet .

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The dependency graph first, so that a change to the sources reuses the compiled crates.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gauntlet \
    && install -D -m 0755 target/release/gauntlet /out/gauntlet \
    && strip /out/gauntlet

FROM debian:bookworm-slim AS runtime
# bubblewrap: the sandbox for programs a platform admin granted a tenant (without it the
# server refuses to start them); ca-certificates: TLS to providers and MCP servers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates bubblewrap \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/gauntlet --create-home gauntlet \
    && install -d -o gauntlet -g gauntlet /var/lib/gauntlet/keys /var/lib/gauntlet/work
COPY --from=build /out/gauntlet /usr/local/bin/gauntlet
USER 10001:10001
WORKDIR /var/lib/gauntlet
ENV GAUNTLET_WORK_DIR=/var/lib/gauntlet/work \
    NO_COLOR=1
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/gauntlet"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--workers", "0"]
