# syntax=docker/dockerfile:1
# bridge: one image for the bridge and the simulators (`bridge serve`, `bridge demo`,
# `bridge simulate takecare|treserva`).
#
# The base is python:3.11-slim pinned by digest. Where no image registry is reachable, build on a
# local base instead: `make image` debootstraps Debian bookworm with its python3 (3.11), imports
# it and passes it as BASE_IMAGE (scripts/build_image.sh). Both bases have python3, a venv-capable
# Python and useradd, which is all the stages below use. (The digest below could not be checked
# against the registry from the machine this was written on; `docker pull python:3.11-slim`
# and `docker inspect` give the current one.)
ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# --- build: the wheel and its dependencies into a virtual environment -------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/bridge
WORKDIR /src
# Exactly what the wheel is built from (pyproject.toml: packages + force-included contracts/);
# tests/deploy/test_image_files.py builds the wheel from these same paths.
COPY pyproject.toml README.md ./
COPY src ./src
COPY adapters ./adapters
COPY contracts ./contracts
# Behind a TLS-inspecting proxy, pass its CA bundle as the build secret `pip-ca`
# (`--secret id=pip-ca,src=/etc/ssl/certs/ca-certificates.crt`); it stays out of the image.
RUN --mount=type=secret,id=pip-ca,target=/run/secrets/pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
 && /opt/bridge/bin/pip install . \
 && /opt/bridge/bin/bridge --version

# --- runtime: the venv only, as an unprivileged user -------------------------------------------
FROM ${BASE_IMAGE}
RUN useradd --create-home --uid 10001 --user-group bridge \
 && mkdir /home/bridge/var && chown bridge:bridge /home/bridge/var
COPY --from=build /opt/bridge /opt/bridge
ENV PATH=/opt/bridge/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    BRIDGE_HTTP_HOST=0.0.0.0 \
    BRIDGE_MLLP_HOST=0.0.0.0
USER bridge
WORKDIR /home/bridge
# The embedded default keeps its SQLite database in ./var (sqlite:///var/bridge.db).
VOLUME ["/home/bridge/var"]
EXPOSE 8080 2575
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["bridge"]
CMD ["serve"]
