# Two commands: `make run` sets up and serves on the embedded SQLite store; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench migration clean

$(BIN)/incidentbot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

run: $(BIN)/incidentbot
	$(BIN)/incidentbot serve --host 127.0.0.1 --port $${PORT:-8000}

test: $(BIN)/incidentbot
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -rs -n 2

lint: $(BIN)/incidentbot
	$(BIN)/ruff check .

bench: $(BIN)/incidentbot
	$(BIN)/python bench/ack_latency.py
	$(BIN)/python bench/rca_accuracy.py
	$(BIN)/python bench/postmortem_scale.py
	$(BIN)/python bench/escalation_timers.py
	$(BIN)/python bench/cli_startup.py

migration: $(BIN)/incidentbot
	rm -f /tmp/incidentbot-migration.db
	$(BIN)/python -c "import sys; from alembic import command; from app.db.migrate import alembic_config, upgrade; \
	url = 'sqlite:////tmp/incidentbot-migration.db'; upgrade(url); \
	command.revision(alembic_config(url), message=sys.argv[1], autogenerate=True)" "$(m)"

clean:
	rm -rf $(VENV) incidentbot.db incidentbot.db-*
