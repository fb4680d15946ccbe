# The whole set-up: `make demo` runs the service, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-kafka test-stress test-fast style lint format bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/parcelwatch demo

# The tests without a broker on every core, then those with one (each xdist worker has
# a broker of its own; they mostly wait on it, so two at a time halve the wall time).
test: lint
	$(BIN)/pytest -m "not integration" -n auto
	$(BIN)/pytest -m integration -n 2
	$(BIN)/parcelwatch fuzz --records 200000 --seed 1

# The integration tests on Apache Kafka (Java 17 and Maven; the broker is fetched from
# Maven Central once, into ~/.cache/parcelwatch/kafka), and the faults only it can show.
test-kafka: $(STAMP)
	$(BIN)/pytest --broker kafka -m integration -n 2 tests/integration

# The crash tests (kill -9 of workers at each moment that matters) 10 times, then 5
# times beside two CPU-burning processes, with the pass count (tools/stress.py).
test-stress: $(STAMP)
	$(BIN)/python tools/stress.py --runs 10 --hog-runs 5 --broker kafka

# Everything that needs no broker: the edit-test loop.
test-fast: lint
	$(BIN)/pytest -m "not integration" -n auto

# Style and the layers (imports point down: pyproject.toml [tool.importlinter]).
style: $(STAMP)
	$(BIN)/ruff check parcelwatch tests benchmarks tools
	$(BIN)/ruff format --check parcelwatch tests benchmarks tools
	$(BIN)/lint-imports

# ... and types.
lint: style
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format parcelwatch tests benchmarks tools
	$(BIN)/ruff check --fix parcelwatch tests benchmarks tools

fuzz: $(STAMP)
	$(BIN)/parcelwatch fuzz --records 200000 --seed 1

bench: $(STAMP)
	$(BIN)/python benchmarks/core_throughput.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .stress
