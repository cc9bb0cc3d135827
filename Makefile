# The two commands of the course: `make book` builds the site, `make test` runs every test.
# Each creates .venv and installs the pinned dependencies first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# requirements.lock pins every package for CPython 3.10 to 3.13, torch's own dependencies included.
# TORCH_INDEX=https://download.pytorch.org/whl/cpu installs the same torch release, CPU-only (see README).
ifdef TORCH_INDEX
LOCK := $(VENV)/cpu.lock
else
LOCK := requirements.lock
endif
# nbgrader calls alembic, jupyter and friends by name: they must come from the venv.
RUN := PATH="$(BIN):$$PATH" OMP_NUM_THREADS=1 PYTHONHASHSEED=0

# The students' JupyterLab shows the course, not nbgrader's instructor tools: venv disables them
# (README, "For instructors", says how to turn them on).
NBGRADER_SERVER_EXTENSIONS := $(addprefix nbgrader.server_extensions.,formgrader validate_assignment assignment_list course_list)

.PHONY: book test venv new-venv lock bench clean

venv: $(STAMP)

# Refuse an unsupported interpreter in one sentence, before anything is installed.
new-venv:
	@$(PYTHON) -c 'import sys; sys.exit(not (sys.implementation.name == "cpython" and (3, 10) <= sys.version_info[:2] <= (3, 13)))' 2>/dev/null || \
	  { echo "error: the course needs CPython 3.10 to 3.13, and PYTHON=$(PYTHON) is $$(command -v $(PYTHON) >/dev/null && $(PYTHON) --version 2>&1 || echo "not found"): pass another, for example make test PYTHON=python3.12"; exit 2; }
	$(PYTHON) tools/bootstrap_venv.py $(VENV)

$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(MAKE) --no-print-directory new-venv
	$(BIN)/python -m pip install --quiet --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(RUN) $(BIN)/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null
	$(RUN) $(BIN)/jupyter server extension disable --sys-prefix $(NBGRADER_SERVER_EXTENSIONS) >/dev/null
	touch $@

$(VENV)/cpu.lock: requirements.lock
	test -x $(BIN)/python || $(MAKE) --no-print-directory new-venv
	grep -vE '^(nvidia-|cuda-|triton)' requirements.lock > $@
	$(BIN)/python -m pip install --quiet --no-deps --index-url $(TORCH_INDEX) torch==2.13.0

# The site shows each exercise as students get it (tools/build_book.py): never the instructor's source.
book: $(STAMP)
	$(RUN) $(BIN)/python tools/build_book.py

test: $(STAMP)
	$(RUN) $(BIN)/python -m pytest -n 2 --dist loadfile -rs --nbval --nbval-current-env tests chapters

bench: $(STAMP)
	$(RUN) $(BIN)/python -m bench

# Regenerate requirements.lock with a real resolver, for every supported Python at once (needs the network).
lock:
	rm -rf /tmp/llm-course-lock && $(PYTHON) -m venv /tmp/llm-course-lock
	/tmp/llm-course-lock/bin/python -m pip install --quiet uv==0.13.9
	UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never /tmp/llm-course-lock/bin/uv pip compile --universal \
	  --python-version 3.10 --index-url https://pypi.org/simple --no-annotate -c constraints.txt \
	  --no-emit-package rfc3987-syntax pyproject.toml --extra course -o requirements.lock

clean:
	rm -rf _build course release
