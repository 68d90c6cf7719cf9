#!/usr/bin/env bash
# PostgreSQL, RabbitMQ and Prometheus images for deploy/compose.yaml, built on the local
# Debian base (scripts/build_image.sh makes it) from Debian's packages: for hosts that reach
# no image registry. Names: localhost/bridge-{postgres,rabbitmq,prometheus}:local.
set -euo pipefail
cd "$(dirname "$0")/.."
for service in postgres rabbitmq prometheus; do
  echo "build_service_images: ${service}"
  scripts/podman.sh build --format docker --network=host \
    -t "localhost/bridge-${service}:local" \
    -f "deploy/local-images/${service}.Containerfile" deploy/local-images
done
