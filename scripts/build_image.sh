#!/usr/bin/env bash
# Build the bridge image without an image registry: debootstrap Debian bookworm with its
# python3 (3.11) into a folder, import that folder as the base image, then build the published
# Dockerfile with BASE_IMAGE pointing at it. Everything comes from Debian's packages and PyPI.
#
#   scripts/build_image.sh            # base (once, cached) + image bridge:local
#   IMAGE=bridge:dev scripts/build_image.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE="${ENGINE:-$(command -v podman || command -v docker || true)}"
IMAGE="${IMAGE:-bridge:local}"
BASE="${BASE:-localhost/bridge-base:bookworm}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTFS="${ROOTFS:-var/image/rootfs-${SUITE}}"

need() { command -v "$1" >/dev/null || { echo "build_image: $1 not found (apt-get install $2)" >&2; exit 2; }; }
[ -n "${ENGINE}" ] || { echo "build_image: neither podman nor docker found (apt-get install podman)" >&2; exit 2; }

if ! "${ENGINE}" image exists "${BASE}" 2>/dev/null; then
  need debootstrap debootstrap
  if [ ! -x "${ROOTFS}/usr/bin/python3" ]; then
    echo "build_image: debootstrap ${SUITE} into ${ROOTFS} (a few minutes, once)"
    rm -rf "${ROOTFS}"
    mkdir -p "$(dirname "${ROOTFS}")"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      "${SUITE}" "${ROOTFS}" "${MIRROR}"
    # Slim it as python:3.11-slim is: no apt lists, docs or man pages in the base.
    rm -rf "${ROOTFS}"/var/lib/apt/lists/* "${ROOTFS}"/var/cache/apt/*.bin \
      "${ROOTFS}"/usr/share/doc/* "${ROOTFS}"/usr/share/man/* "${ROOTFS}"/usr/share/info/*
  fi
  echo "build_image: import ${ROOTFS} as ${BASE}"
  tar -C "${ROOTFS}" -c . | "${ENGINE}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "${BASE}"
fi

format=()
if [ "$(basename "${ENGINE}")" = podman ]; then
  format=(--format docker)  # keep HEALTHCHECK (OCI format has none)
  if [ -z "${CONTAINERS_CONF:-}" ] \
    && ! "${ENGINE}" run --rm --network=none "${BASE}" true >/dev/null 2>&1; then
    # A sandboxed host (no CAP_SYS_RESOURCE, hybrid cgroups): deploy/podman/containers.conf.
    export CONTAINERS_CONF="${PWD}/deploy/podman/containers.conf"
    echo "build_image: podman cannot run containers with its defaults here; using ${CONTAINERS_CONF}"
  fi
fi
# The host's CA bundle (PIP_CERT, or Debian's) lets pip in the build stage through a
# TLS-inspecting proxy, as pip on the host gets through; a build secret, not in the image.
secret=()
ca="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
[ -s "${ca}" ] && secret=(--secret "id=pip-ca,src=${ca}")
echo "build_image: ${ENGINE} build ${IMAGE} FROM ${BASE}"
"${ENGINE}" build "${format[@]}" "${secret[@]}" --network=host \
  --build-arg "BASE_IMAGE=${BASE}" -t "${IMAGE}" -f Dockerfile .
