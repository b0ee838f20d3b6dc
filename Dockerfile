# gatehouse container image: one static binary FROM scratch, no shell.
# One image runs every command: serve (the default), sidecar, docker, ...
#
#   docker build -t gatehouse --build-arg VERSION=$(git describe --tags) .
#
# `make image` builds only the final stage, from a binary built on the host
# (see the Makefile): the two stages share the /rootfs layout below.

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs-data/data \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /rootfs/gatehouse ./cmd/gatehouse \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'gatehouse:x:65532:65532:gatehouse:/data:/nonexistent' > /rootfs/etc/passwd \
 && echo 'gatehouse:x:65532:' > /rootfs/etc/group

FROM scratch AS final
COPY --from=build /rootfs/ /
# A new named volume takes this directory's owner: the non-root user. (The
# directory is copied as content: COPY --chown leaves a destination
# directory it creates itself to root.)
COPY --chown=65532:65532 --from=build /rootfs-data/ /
USER 65532:65532
WORKDIR /data
# Every setting is also a GATEHOUSE_* variable (docs/configuration.md). The
# listener stays on loopback unless authentication is configured, so set
# GATEHOUSE_LISTEN=:3000 with tokens, certificates or OIDC to publish it.
ENV GATEHOUSE_DATA=/data SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
VOLUME ["/data"]
EXPOSE 3000
# No shell and no curl in the image: the binary checks itself. Set
# GATEHOUSE_HEALTHCHECK_URL when serve listens elsewhere than :3000.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/gatehouse", "healthcheck"]
ENTRYPOINT ["/gatehouse"]
CMD ["serve"]
