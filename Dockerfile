# syntax=docker/dockerfile:1
# SCALE: build the release binary, ship it alone on distroless (glibc, no shell), non-root.
# Build: docker build -t scale:dev .   Run: docker run --rm scale:dev --help

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
# Fonts the SVG report embeds at build time come from the dejavu crate; nothing from apt.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY datasets ./datasets
RUN cargo build --release --locked --bin scale \
    && install -D -m 0755 target/release/scale /out/scale

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/scale /usr/local/bin/scale
# Bundled example model, so `scale forecast` and `scale keda` work out of the box.
COPY --chown=65532:65532 models /var/lib/scale/models
WORKDIR /var/lib/scale
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/scale"]
CMD ["--help"]
