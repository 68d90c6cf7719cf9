#!/usr/bin/env bash
# podman, with deploy/podman/containers.conf on hosts where podman's defaults cannot run a
# container (a sandboxed host: no CAP_SYS_RESOURCE, hybrid cgroups). Elsewhere plain podman.
#   scripts/podman.sh run --rm --network=none bridge:local demo --once
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${CONTAINERS_CONF:-}" ]; then
  probe="$(podman images -q --filter reference=localhost/bridge-base 2>/dev/null | head -n1)"
  if [ -n "${probe}" ] && ! podman run --rm --network=none "${probe}" true >/dev/null 2>&1; then
    export CONTAINERS_CONF="${here}/deploy/podman/containers.conf"
  fi
fi
exec podman "$@"
