# Container image for kanban-mcp.
#
#   docker build -t kanban-mcp .
#   docker run -p 8080:8080 -v kanban_data:/data kanban-mcp
#
# Two stages: a Go toolchain stage that compiles one static binary, and a
# distroless final stage holding only that binary plus what distroless ships:
# CA certificates (the server fetches the token issuer's JWKS over HTTPS),
# tzdata, and an /etc/passwd with the "nonroot" user, uid/gid 65532. The final
# image has no shell, so everything that runs in it is in exec form.
# deploy/deploy_test.go checks this file; keep the two in step.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# modernc.org/sqlite is pure Go: with cgo off the binary is fully static.
ENV CGO_ENABLED=0
# Modules first, so this layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# /out/data is an empty directory that the final stage copies to /data.
RUN go build -trimpath -ldflags="-s -w" -o /kanban-mcp . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
# The product's name, equal to product.Name in internal/product (the deploy
# test checks). The binary's path below is a file name and need not follow.
LABEL org.opencontainers.image.title="kanban-mcp"
COPY --from=build /kanban-mcp /kanban-mcp

# The database directory, and who owns it.
#
# The server runs as uid/gid 65532 and never as root, and nothing in this
# image starts as root: there is no entrypoint script that chowns and then
# drops privileges. None is needed:
#
# - On Fly.io the volume named in fly.toml [[mounts]] is mounted over /data, so
#   the image's own /data is hidden there. Fly's init mounts the volume and
#   then chowns the mount point to the image's USER (resolved through this
#   image's /etc/passwd, or taken as a number); expect this line in fly logs:
#   "Mounting /dev/vdc at /data w/ uid: 65532, gid: 65532 and chmod 0755".
#   [[mounts]] has no owner or mode option; this chown is the mechanism. It is
#   not recursive: files a different user wrote earlier keep their owner.
# - With plain Docker, the /data copied here is owned by 65532:65532, and a
#   new named volume mounted at /data starts as a copy of it. A bind mount
#   keeps the host directory's owner: chown it to 65532:65532 on the host.
#
# SQLite writes kanban.db-wal and kanban.db-shm beside the database, and the
# server kanban.db.revocation-counter, so the directory itself, not only the
# file, must be writable by the server.
COPY --from=build --chown=65532:65532 /out/data /data

ENV LISTEN_ADDR=:8080 \
    DATABASE_URL=/data/kanban.db
# Numeric, so Kubernetes runAsNonRoot and Fly's init need no name lookup.
USER 65532:65532
EXPOSE 8080
# Docker only; Fly.io ignores HEALTHCHECK and uses [[http_service.checks]].
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/kanban-mcp", "healthcheck"]
ENTRYPOINT ["/kanban-mcp"]
CMD ["serve"]
