# syntax=docker/dockerfile:1
# The oam-traefik image: the webhook and the verifier (oam-traefik-auth), static binaries on an
# empty base, run as a non-root user. The chart runs the verifier with command /oam-traefik-auth.
#   docker build -t oam-traefik/oam-traefik-webhook:0.1.0 .

FROM rust:1.95-bookworm AS builder
# musl gives a static binary, so the runtime image needs no libc.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The builder runs on the image's own platform, so `uname -m` names the target.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(uname -m)-unknown-linux-musl" \
 && rustup target add "$target" \
 && cargo build --release --locked -p oam-traefik-webhook -p oam-traefik-auth --target "$target" \
 && install -D -m 0755 "target/$target/release/oam-traefik-webhook" /out/oam-traefik-webhook \
 && install -D -m 0755 "target/$target/release/oam-traefik-auth" /out/oam-traefik-auth

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/oam-traefik-webhook /oam-traefik-webhook
COPY --from=builder /out/oam-traefik-auth /oam-traefik-auth
# The chart's securityContext also demands non-root; a numeric user needs no /etc/passwd.
USER 65532:65532
EXPOSE 8443 9090 8080 9091
ENTRYPOINT ["/oam-traefik-webhook"]
