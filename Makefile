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
RESULTS := .test-results

# tests/test_compare.py runs Ray Tune sweeps; Tune's teardown has taken down the shared local
# Ray instance of the session (the driver then exits), so it runs in a pytest process of its own.
# Both processes run even when the first fails; the status is non-zero when either failed, and the
# last line totals both.
test: $(VENV)/.installed
	@rm -rf $(RESULTS); mkdir -p $(RESULTS); status=0; \
	$(PYTEST) --ignore=tests/test_compare.py --junitxml=$(RESULTS)/suite.xml || status=1; \
	$(PYTEST) tests/test_compare.py --junitxml=$(RESULTS)/compare.xml || status=1; \
	$(BIN)/python tests/suite_total.py $(RESULTS)/suite.xml $(RESULTS)/compare.xml; \
	exit $$status

# The fast tier for daily work (tests/tiers.py says what is slow): under 5 minutes here.
test-fast: $(VENV)/.installed
	$(PYTEST) -m "not slow" --ignore=tests/test_compare.py

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
