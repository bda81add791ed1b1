# syntax=docker/dockerfile:1
# lms: the binary built with the Rust toolchain (rustls, no OpenSSL), run as a non-root user on a
# slim Debian with curl for the health check.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The `dist` profile (Cargo.toml): whole-program optimisation and no debug info; symbols are
# stripped here too (a 100 MB binary rather than the profiling profile's 800 MB with line tables).
ENV CARGO_PROFILE_DIST_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked --bin lms && cp target/dist/lms /usr/local/bin/lms

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/lms --create-home lms
COPY --from=build /usr/local/bin/lms /usr/local/bin/lms
USER lms
WORKDIR /var/lib/lms
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["lms"]
CMD ["serve", "--config", "/etc/lms/lms.toml"]
