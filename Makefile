# The README's two commands: `make demo` (the Explorer in Voila) and `make test` (everything).
.PHONY: demo test lint bench setup

# the port `make demo` serves on: `make demo PORT=9000`
PORT ?= 8866

setup:
	bash scripts/bootstrap.sh

demo: setup
	.venv/bin/python scripts/serve_demo.py --port $(PORT)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

test:
	bash scripts/bootstrap.sh --browser
	$(MAKE) lint
	.venv/bin/python -m pytest

bench: setup
	.venv/bin/python benchmarks/run.py
