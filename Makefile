# Two commands for a fresh machine:  `make run` (whole pipeline, built-in synthetic faces)
# and `make test` (the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WORKDIR ?= work

.PHONY: run test test-fast lint clean image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch first, pinned: the CPU build that lies on disk; an unpinned torch pulls a CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

run: $(VENV)/.installed
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/lsf run --workdir $(WORKDIR)

PYTEST := RAY_USAGE_STATS_ENABLED=0 $(BIN)/python -m pytest

# The suite as pytest processes in two lanes side by side (tests/run_suite.py says which
# modules run where and why): each process with its own Ray instance; all logs are printed
# when every process has ended, then one line totals them; non-zero status if any failed.
test: $(VENV)/.installed
	RAY_USAGE_STATS_ENABLED=0 $(BIN)/python tests/run_suite.py

# The fast tier for daily work (tests/tiers.py says what is slow): under 5 minutes here.
test-fast: $(VENV)/.installed
	$(PYTEST) -m "not slow"

lint: $(VENV)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(WORKDIR)

# The cluster image (cluster/Dockerfile): `make image [VARIANT=gpu] [IMAGE=registry/lsf]`,
# tagged IMAGE:VERSION-VARIANT. IMAGE defaults to the name in cluster/image/kustomization.yaml,
# the one place that names it for Kubernetes; push it with `docker push` before use.
VARIANT ?= cpu
IMAGE ?= $(shell sed -n 's/^ *newName: *//p' cluster/image/kustomization.yaml)
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image:
	docker build -f cluster/Dockerfile --build-arg VARIANT=$(VARIANT) \
		-t $(IMAGE):$(VERSION)-$(VARIANT) .
