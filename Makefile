# The two commands of the course: `make book` builds the site, `make test` runs every test.
# Each creates .venv and installs the pinned dependencies first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader calls alembic, jupyter and friends by name: they must come from the venv.
RUN := PATH="$(BIN):$$PATH" OMP_NUM_THREADS=1 PYTHONHASHSEED=0

.PHONY: book test venv lock bench clean

venv: $(STAMP)

$(STAMP): requirements.lock constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements.lock -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

book: $(STAMP)
	$(RUN) $(BIN)/jupyter-book build -W -n --keep-going .

test: $(STAMP)
	$(RUN) $(BIN)/python -m pytest -n 2 --dist loadfile --nbval --nbval-current-env tests chapters

bench: $(STAMP)
	$(RUN) $(BIN)/python -m bench

# Regenerate requirements.lock from a venv built from pyproject.toml (needs the network).
lock:
	rm -rf /tmp/llm-course-lock && $(PYTHON) -m venv /tmp/llm-course-lock
	/tmp/llm-course-lock/bin/python -m pip install --quiet -c constraints.txt ".[course]"
	/tmp/llm-course-lock/bin/python -m pip uninstall --quiet -y llm-course rfc3987-syntax
	/tmp/llm-course-lock/bin/python -m pip freeze --all | sed 's/+cpu$$//' > requirements.lock

clean:
	rm -rf _build course release
