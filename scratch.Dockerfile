# The orchestrator appliance: one static binary and nothing else.
#
# Built by `make docker-orchestrator` (scripts/docker-build.sh) from the
# prebuilt static musl binary, so the build needs no registry and no
# toolchain image. Context: the repository root (the script sends only this
# file and bin/sett-orchestrator).
#
# org.opencontainers.image.source is not set here: the script adds it with
# `--label` when the checkout has a remote to derive it from
# (scripts/oci-source.sh), and leaves it out otherwise rather than make one up.
FROM scratch

ARG VERSION=dev

LABEL org.opencontainers.image.title="sett-orchestrator" \
      org.opencontainers.image.description="Sett orchestrator: one claim per non-Terminal artefact" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY bin/sett-orchestrator /sett-orchestrator

# nobody:nogroup; the binary needs no files, no home and no privileges.
USER 65534:65534
EXPOSE 8080

# No shell or curl in the image: the binary probes its own /healthz.
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/sett-orchestrator", "healthcheck"]

ENTRYPOINT ["/sett-orchestrator"]
