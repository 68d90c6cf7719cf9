# The targets people look for. `make install` is idempotent; every other target runs it first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run demo demo-once test test-unit lint format bench bench-e2e bench-path fault clean \
	image image-demo deploy-check compose-images compose-up hostile

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install            ## the bridge alone (HTTP 8080, MLLP 2575)
	$(BIN)/bridge serve

demo: install           ## simulators + bridge, sending admissions until Ctrl-C
	$(BIN)/bridge demo

demo-once: install      ## one scenario end to end; exits 0 only when every notice was delivered
	$(BIN)/bridge demo --once

test: install           ## every test: unit, integration (real PostgreSQL + RabbitMQ), end to end
	$(BIN)/python -m pytest -q

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install          ## translation throughput per event type, messages/second/core
	$(BIN)/python bench/run.py

bench-path: install     ## the bridge's own CPU, statements and commits per notice, in one process
	$(BIN)/python bench/hot_path.py --mode embedded
	$(BIN)/python bench/hot_path.py --mode production

bench-e2e: install      ## end to end on real bridges, both modes, MLLP, C=8 and 32, N=2000; raw limits beside
	$(BIN)/python bench/e2e.py --modes embedded,production --transports mllp --concurrency 8,32 --n 2000

hostile: install        ## hostile load: 5,000 idle/slow connections vs a 1,024-fd bridge, 300 MB body, endless body
	$(BIN)/python bench/hostile.py

fault: install          ## fault suite, full size: real RabbitMQ/PostgreSQL faults, Jepsen-style table
	$(BIN)/python tests/fault/run_faults.py

IMAGE ?= bridge:local

image:                  ## the container image, built here with podman on a debootstrapped base
	IMAGE=$(IMAGE) scripts/build_image.sh

image-demo: image       ## `bridge demo --once` inside a container of the image (no network)
	scripts/podman.sh run --rm --network=none $(IMAGE) demo --once

compose-images: image   ## PostgreSQL, RabbitMQ, Prometheus images from Debian's packages (no registry)
	scripts/build_service_images.sh

compose-up: install compose-images  ## deploy/compose.yaml up on those images, checked end to end, down
	scripts/compose_local.sh

deploy-check: install   ## deploy/: compose file and Kubernetes manifests validated, wheel test
	$(BIN)/python -m pytest -q tests/deploy

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
