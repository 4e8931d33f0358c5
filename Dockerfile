# weir's container image: the static binary `make image` builds on the host,
# FROM scratch (nothing is pulled), run as a numeric non-root user. Build it
# with `make image`, which lays out the context (bin/image: weir and an empty
# data/ directory) and tags weir:<version> and weir:latest. Plain Dockerfile
# syntax: the legacy builder (DOCKER_BUILDKIT=0) accepts it.
#
# Every setting is a WEIR_* environment variable (see `weir serve --help`);
# the defaults below bind every interface inside the container. Set
# WEIR_ADVERTISED_KAFKA_ADDR to the host:port clients reach (a mapped port).
FROM scratch
COPY weir /weir
COPY --chown=65532:65532 data /data
ENV WEIR_KAFKA_ADDR=0.0.0.0:9092 \
    WEIR_HTTP_ADDR=0.0.0.0:8083 \
    WEIR_DATA_DIR=/data \
    WEIR_CONNECT_FILE_ALLOWED_DIRS=/data/connect-files
USER 65532:65532
WORKDIR /data
VOLUME /data
EXPOSE 9092 8083
HEALTHCHECK --interval=5s --timeout=3s --start-period=2s --retries=3 CMD ["/weir","health"]
ENTRYPOINT ["/weir","serve"]
