#!/usr/bin/env bash
# Bring deploy/compose.yaml up on a host without an image registry, on the images built here
# (make image, make compose-images), check that notices go end to end through both bridge
# replicas, and take it down again.
#
# The services start in order with this script's own readiness checks: podman before 4.6
# ignores `depends_on: condition: service_healthy`, and without systemd podman runs no
# healthchecks by itself. Host ports: loopback, away from the usual ones (variables below).
#   scripts/compose_local.sh            # up, check, down
#   KEEP=1 scripts/compose_local.sh     # leave it running
set -euo pipefail
cd "$(dirname "$0")/.."
here="$PWD"
compose_bin="${COMPOSE:-${here}/.venv/bin/podman-compose}"
project="${PROJECT:-bridge-local-$$}"
export BRIDGE_IMAGE="${BRIDGE_IMAGE:-localhost/bridge:local}"
export POSTGRES_IMAGE="${POSTGRES_IMAGE:-localhost/bridge-postgres:local}"
export RABBITMQ_IMAGE="${RABBITMQ_IMAGE:-localhost/bridge-rabbitmq:local}"
export PROMETHEUS_IMAGE="${PROMETHEUS_IMAGE:-localhost/bridge-prometheus:local}"
export BRIDGE_1_HTTP_PORT="${BRIDGE_1_HTTP_PORT:-18080}" BRIDGE_1_MLLP_PORT="${BRIDGE_1_MLLP_PORT:-12575}"
export BRIDGE_2_HTTP_PORT="${BRIDGE_2_HTTP_PORT:-18082}" BRIDGE_2_MLLP_PORT="${BRIDGE_2_MLLP_PORT:-12576}"
export TRESERVA_PORT="${TRESERVA_PORT:-18081}" PROMETHEUS_PORT="${PROMETHEUS_PORT:-19090}"
export TAKECARE_COUNT="${TAKECARE_COUNT:-10}"
# podman-compose calls `podman`: on a sandboxed host it needs deploy/podman/containers.conf
# (see scripts/podman.sh).
if [ -z "${CONTAINERS_CONF:-}" ] && ! podman run --rm --network=none "${BRIDGE_IMAGE}" --version >/dev/null 2>&1; then
  export CONTAINERS_CONF="${here}/deploy/podman/containers.conf"
fi
compose() { "${compose_bin}" -p "${project}" -f deploy/compose.yaml "$@"; }

down() {
  [ -n "${KEEP:-}" ] && { echo "compose_local: left running as project ${project}"; return; }
  echo "compose_local: down"
  compose down -v >/dev/null 2>&1 || true
}
trap down EXIT

wait_for() {  # what, seconds, command...
  local what="$1" seconds="$2"; shift 2
  for _ in $(seq "${seconds}"); do "$@" >/dev/null 2>&1 && { echo "compose_local: ${what} ready"; return; }; sleep 1; done
  echo "compose_local: ${what} not ready after ${seconds}s" >&2; compose logs >&2 || true; exit 1
}
in_service() { local service="$1"; shift; podman exec "${project}_${service}_1" "$@"; }
http_ok() { python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)" "$1"; }

compose up -d --no-deps postgres rabbitmq treserva prometheus
wait_for postgres 120 in_service postgres pg_isready -U bridge -d bridge
wait_for rabbitmq 180 in_service rabbitmq rabbitmq-diagnostics -q check_port_connectivity
wait_for treserva 60 http_ok "http://127.0.0.1:${TRESERVA_PORT}/api/inbox?limit=1"
compose up -d --no-deps bridge-1 bridge-2
wait_for bridge-1 120 http_ok "http://127.0.0.1:${BRIDGE_1_HTTP_PORT}/readyz"
wait_for bridge-2 120 http_ok "http://127.0.0.1:${BRIDGE_2_HTTP_PORT}/readyz"
compose up -d --no-deps takecare-1 takecare-2

expected=$((2 * TAKECARE_COUNT))
trap 'echo "compose_local: bridge queues on RabbitMQ:"; in_service rabbitmq rabbitmqctl -q list_queues name type messages || true; down' EXIT
python3 - "${TRESERVA_PORT}" "${BRIDGE_1_HTTP_PORT}" "${BRIDGE_2_HTTP_PORT}" "${PROMETHEUS_PORT}" "${expected}" <<'PY'
import json, sys, time, urllib.request

treserva, bridge1, bridge2, prometheus, expected = sys.argv[1:6]
expected = int(expected)

def get(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode()

deadline = time.monotonic() + 180
filed = []
while time.monotonic() < deadline:
    filed = json.loads(get(f"http://127.0.0.1:{treserva}/api/inbox"))
    if len(filed) >= expected:
        break
    time.sleep(2)
print(f"compose_local: Treserva filed {len(filed)} of {expected} notices")

for port in (bridge1, bridge2):  # counters come from the shared audit log: cluster-wide
    assert "bridge_messages_delivered_total" in get(f"http://127.0.0.1:{port}/metrics")
targets = json.loads(get(f"http://127.0.0.1:{prometheus}/api/v1/targets"))["data"]["activeTargets"]
print("compose_local: prometheus targets " + ", ".join(f"{t['labels']['instance']}={t['health']}" for t in targets))
rules = json.loads(get(f"http://127.0.0.1:{prometheus}/api/v1/rules"))["data"]["groups"]
print(f"compose_local: prometheus alert rules loaded: {sum(len(g['rules']) for g in rules)}")
sys.exit(0 if len(filed) >= expected else 1)
PY

# Each TakeCare simulator talks to one replica only: its AA answers are that replica's.
failed=0
for n in 1 2; do
  acked="$(podman logs "${project}_takecare-${n}_1" 2>&1 | grep -c ' ack=AA ' || true)"
  echo "compose_local: takecare-${n} -> bridge-${n}: ${acked} of ${TAKECARE_COUNT} acknowledged AA"
  [ "${acked}" -eq "${TAKECARE_COUNT}" ] || failed=1
done
if [ "${failed}" -eq 0 ]; then
  echo "compose_local: OK: notices went end to end through both replicas"
else
  echo "compose_local: FAILED" >&2; exit 1
fi
