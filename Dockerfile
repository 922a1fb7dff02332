# gsec for CI systems that run containers: the static (musl) release binary
# on a distroless base (no shell, no package manager, non-root).
#   docker build --build-arg GSEC_BINARY=path/to/gsec -t gsec .
#   docker run --rm -v "$PWD:/repo" -w /repo gsec scan
FROM gcr.io/distroless/static-debian12:nonroot
ARG GSEC_BINARY=gsec
COPY --chmod=0755 ${GSEC_BINARY} /usr/local/bin/gsec
USER 65532:65532
WORKDIR /repo
ENTRYPOINT ["/usr/local/bin/gsec"]
CMD ["--help"]
