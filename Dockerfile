# auth-api: built with the pinned toolchain, run as a non-root user in a small image.
# The base images are build arguments, so that a newer patch release (or a digest,
# `--build-arg RUST_IMAGE=rust:1.95-bookworm@sha256:…`) is one flag away, never an edit.
# The runtime is distroless (glibc, libssl, CA certificates, no shell, no package manager): the
# binary links SQLite and libpq in, and needs only those from the system.
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# 1. The dependencies alone, in their own layer: rebuilt only when a manifest or the lock file
#    changes, not on every change of the code. The workspace's crates are stubs here.
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
COPY crates/domain/Cargo.toml crates/domain/
COPY crates/infra-diesel/Cargo.toml crates/infra-diesel/
COPY crates/infra-jwt/Cargo.toml crates/infra-jwt/
COPY crates/infra-bcrypt/Cargo.toml crates/infra-bcrypt/
COPY crates/infra-memory/Cargo.toml crates/infra-memory/
COPY crates/infra-crypto/Cargo.toml crates/infra-crypto/
COPY crates/infra-totp/Cargo.toml crates/infra-totp/
COPY crates/infra-smtp/Cargo.toml crates/infra-smtp/
COPY crates/infra-file-mail/Cargo.toml crates/infra-file-mail/
COPY crates/api-actix/Cargo.toml crates/api-actix/
COPY examples/resource-server/Cargo.toml examples/resource-server/
RUN set -eux; \
    for crate in crates/*/; do mkdir -p "${crate}src" "${crate}benches"; : > "${crate}src/lib.rs"; done; \
    echo 'fn main() {}' > crates/api-actix/src/main.rs; \
    mkdir -p examples/resource-server/src; echo 'fn main() {}' > examples/resource-server/src/main.rs; \
    for bench in api-actix/benches/auth_paths infra-bcrypt/benches/hashing infra-jwt/benches/tokens; do \
        echo 'fn main() {}' > "crates/$bench.rs"; \
    done; \
    cargo build --release --locked -p api-actix; \
    rm -rf crates examples
# 2. The project. The sources are made newer than the stubs' build, so that cargo rebuilds them.
COPY crates crates
COPY examples examples
COPY migrations migrations
COPY config config
#    The runtime has no shell to add a user with: its accounts and data folder are made here.
RUN set -eux; \
    find crates examples -name '*.rs' -exec touch {} +; \
    cargo build --release --locked -p api-actix; \
    strip target/release/auth-api; \
    mkdir -p /rootfs/etc /rootfs/app/data; \
    printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
        'auth:x:10001:10001:auth-api:/app:/sbin/nologin' > /rootfs/etc/passwd; \
    printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' 'auth:x:10001:' > /rootfs/etc/group

FROM ${RUNTIME_IMAGE}
COPY --from=build /rootfs/etc/passwd /rootfs/etc/group /etc/
COPY --from=build --chown=10001:10001 /rootfs/app /app
COPY --from=build /src/target/release/auth-api /usr/local/bin/auth-api
WORKDIR /app
USER auth
ENV APP_ENV=production
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["auth-api", "healthcheck"]
ENTRYPOINT ["auth-api"]
CMD ["serve"]
