# Local images of the stack's Go servers, nats-server (`--target nats`) and versitygw (`--target
# versitygw`), for machines that reach no registry (elsewhere the stack runs their public images).
# .ci/provision-stack-images builds the static binary from its pinned module on the host and hands
# it in as the whole context, beside an empty data folder. No RUN steps, so any base works.
ARG RUNTIME_IMAGE=alpine:3.23.0

FROM ${RUNTIME_IMAGE} AS base
ARG VERSION=unknown
LABEL org.opencontainers.image.version="${VERSION}"
# Where the stack mounts the service's volume: a new named volume takes this folder's owner, so
# the non-root user below can write to it.
COPY --chown=65532:65532 data /data
USER 65532:65532
VOLUME ["/data"]

# The stack's compose file names the binary and its flags itself, as the public images have other
# entrypoints; these defaults make the image useful alone too.
FROM base AS nats
LABEL org.opencontainers.image.title="pixie-stack nats-server"
COPY nats-server /usr/local/bin/nats-server
EXPOSE 4222 8222
ENTRYPOINT ["/usr/local/bin/nats-server"]
CMD ["--jetstream", "--store_dir", "/data", "--http_port", "8222"]

FROM base AS versitygw
LABEL org.opencontainers.image.title="pixie-stack versitygw"
COPY versitygw /usr/local/bin/versitygw
EXPOSE 7070
# The root access keys come from ROOT_ACCESS_KEY and ROOT_SECRET_KEY.
ENTRYPOINT ["/usr/local/bin/versitygw"]
CMD ["--port", ":7070", "--health", "/health", "posix", "/data"]
