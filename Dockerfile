# tcss-audit as a container image, for the Kubernetes CronJob in deploy/kubernetes/.
#   docker build -t registry.example.com/tcss-audit:0.1.0 .
# Two stages: the build, on the Rust toolchain's image; the run, on a distroless base that holds
# CA certificates and time zone data, a C library and nothing else: no shell, no package manager.

FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
# The manifests first, so the dependencies are built once and cached while the sources change.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY policies ./policies
COPY tests/fixtures ./tests/fixtures
COPY tests/common ./tests/common
COPY benches ./benches
COPY bench/gen_history.rs ./bench/gen_history.rs
RUN cargo build --release --locked --bin audit \
    && install -D -m 0755 target/release/audit /out/audit

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/audit /usr/local/bin/audit
# The same numeric user and group as the CronJob's securityContext (runAsUser 10001).
USER 10001:10001
WORKDIR /var/lib/tcss-audit
ENV NO_COLOR=1
ENTRYPOINT ["/usr/local/bin/audit"]
CMD ["--help"]
