# `make demo` and `make test` each build .venv from nothing when it is missing or stale.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck browser postgres bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job on offline data: a baseline stuck for a known reason (24 images per class: it overfits) that
# improve diagnoses and lifts significantly (+16.5 points, interval +13.2 to +19.9 over 2 fresh seeds, on the 390
# test images without a near-copy in training; 84 s here, 2026-12-08).
demo: $(STAMP)
	rm -rf runs/demo
	$(BIN)/liftlab improve builtin:shapes-few --budget 4m --out runs/demo --quiet

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy src

# The report's browser test needs Debian's chromium; install it when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null)

# The tuning tests start a private PostgreSQL server (tests/pg_server.py); install Debian's when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null)

test: lint typecheck browser postgres
	$(BIN)/python -m pytest -q --durations=15

bench: $(STAMP)
	$(BIN)/python -m benchmarks.throughput

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
