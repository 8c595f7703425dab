# syntax=docker/dockerfile:1
# Multi-stage: build mist-server (and the mist client) on Debian bookworm,
# run on a slim bookworm with only what the binaries load at run time.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libasound2-dev pkg-config && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p mist-server -p mist-tui \
 && cp target/release/mist-server target/release/mist /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl libasound2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/mist --create-home mist
COPY --from=build /usr/local/bin/mist-server /usr/local/bin/mist /usr/local/bin/
USER mist
WORKDIR /var/lib/mist
ENV MIST_DATA_DIR=/var/lib/mist MIST_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["mist-server"]
CMD ["serve"]
