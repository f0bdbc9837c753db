# Build with the pinned toolchain, run as a non-root user in a small image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p api-actix

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app auth \
 && mkdir -p /app/data \
 && chown auth:auth /app/data
COPY --from=build /src/target/release/api-actix /usr/local/bin/api-actix
WORKDIR /app
USER auth
ENV APP_ENV=production
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["api-actix", "healthcheck"]
ENTRYPOINT ["api-actix"]
CMD ["serve"]
