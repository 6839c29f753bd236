# syntax=docker/dockerfile:1
#
# Container image of c2cauth: one static binary on a distroless base that
# holds CA certificates, time zone data and a non-root user, and no shell.
#
#   docker build --build-arg VERSION=v1.2.3 -t c2cauth:v1.2.3 .
#   docker run --rm -p 8080:8080 -p 9090:9090 \
#     -v /etc/c2cauth/client-secret:/run/secrets/client-secret:ro \
#     -e LIVEHUB_CLIENT_ID=... -e LIVEHUB_CLIENT_SECRET_FILE=/run/secrets/client-secret \
#     c2cauth:v1.2.3 serve --admin-listen :9090 --auth jwt ...
#
# The process runs as user 65532, so a mounted secret file must be readable
# by that user or group.
#
# The build stage runs on the builder's own platform and cross-compiles for
# the target, so `docker buildx build --platform linux/amd64,linux/arm64`
# needs no emulation.

# The tag follows the newest Go 1.26 patch release, which must be at least
# the go line of go.mod (1.26.8): the official image sets GOTOOLCHAIN=local,
# so it never downloads a newer toolchain.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src

# Download the modules before the source is copied, into a cache that
# BuildKit keeps between builds, so a change to the source alone downloads
# nothing.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

# VERSION is what `c2cauth version` prints. Left empty, the binary reports
# "devel", because the build context has no .git folder.
ARG VERSION=
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/c2cauth ./cmd/c2cauth

# distroless/static provides /etc/ssl/certs/ca-certificates.crt, which Go
# reads to verify Live Hub's TLS certificate, and the user nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/c2cauth /c2cauth

# A numeric user lets Kubernetes check runAsNonRoot without reading
# /etc/passwd.
USER 65532:65532

# Port 8080 serves POST /v1/auth-code. Port 9090 serves /metrics, /healthz
# and /readyz when the container runs with --admin-listen :9090.
EXPOSE 8080 9090

# NOTE: There is no HEALTHCHECK, because a Docker HEALTHCHECK runs a command
# inside the container and this image has no shell, curl or wget. Use the
# orchestrator's HTTP probes on /healthz and /readyz instead, as the
# Kubernetes manifests in deploy/kubernetes do.

ENTRYPOINT ["/c2cauth"]
CMD ["serve"]
