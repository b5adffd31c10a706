# Redis for the container tests, built without a registry: the host's own
# redis-server and exactly the shared libraries `ldd` lists for it, copied
# into an empty image by scripts/container-tests.sh (context: rootfs/ and
# this file).
# Where a registry is reachable, SETT_CT_REDIS_IMAGE=redis:7-alpine does the same job.
FROM scratch
COPY rootfs/ /
EXPOSE 6379
ENTRYPOINT ["/usr/bin/redis-server"]
CMD ["--protected-mode", "no", "--save", "", "--appendonly", "no"]
