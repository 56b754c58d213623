# One entry point for students, instructors and CI. Every target creates the
# virtual environment in .venv on first use, so each works on a fresh machine.
#   make lab       install, then launch JupyterLab on the course
#   make test      install, then lint and run every test (CI runs this)
#   make check     lint, the unit tests and module 01 end to end: a few minutes, for development
#   make release   regenerate release/ from source/ (byte-stable)
#   make bench     time and measure every module, grading a class (bench/grading.py) and
#                  the hostile class (bench/hostile.py)
#   make demo      a synthetic class of module 01 taken through a whole term
#   make compat    genlab's unit tests on the oldest supported Python and the newest two
#   make edition   build the student edition in edition/ (docs/instructors.md, "Publishing")
#   make update    refresh constraints.txt: install the newest versions, run every test, pin
PYTHON ?= python3
VENV ?= .venv
# The CPU build of PyTorch; on Linux elsewhere, set TORCH_INDEX to PyTorch's CPU wheel index.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
# The versions the suite passed with (every package but torch, pinned above); `make update`
# writes it. CONSTRAINTS= installs without it.
CONSTRAINTS ?= constraints.txt
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install lab test check release bench demo lint compat edition update

$(BIN)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[grader,lab,dev]"
	touch $@

install: $(BIN)/.installed

# Extra options for JupyterLab, e.g. LAB_OPTS="--no-browser --port 8899".
LAB_OPTS ?=
lab: install
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_OPTS) \
	  release/01-judging-vs-creating/01-judging-vs-creating.ipynb

lint: install
	$(BIN)/ruff check genlab tests bench scripts nbgrader_config.py nbgrader_config_students.py
	$(BIN)/ruff format --check genlab tests bench scripts nbgrader_config.py nbgrader_config_students.py

# Two processes, each taking whole test files (a file's fixtures are built once), the
# heaviest first (tests/conftest.py, SECONDS).
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# For development, a few minutes: every unit test, and module 01 end to end (executed,
# validated, graded). Not the whole classes (hostile, the term), the browser, Colab or the
# edition: `make test` runs those, and CI runs `make test`.
CHECK_MODULE ?= 01-judging-vs-creating
check: lint
	GENLAB_MODULES=$(CHECK_MODULE) $(BIN)/python -m pytest -n 2 --dist loadfile \
	  --no-loadscope-reorder -m "not browser and not colab and not edition" \
	  --ignore=tests/test_hostile.py --ignore=tests/test_hostile_modules.py \
	  --ignore=tests/test_term.py

release: install
	$(BIN)/python scripts/edition.py header
	$(BIN)/nbgrader generate_assignment "*" --force --log-level=WARN

bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/grading.py
	$(BIN)/python bench/hostile.py

demo: install
	$(BIN)/genlab demo

# genlab supports Python 3.10 to 3.13; the full suite runs on the default python3. Here its
# unit tests also run on 3.10, 3.12 and 3.13 where those are installed, without torch (the
# CPU wheel at hand is for the default Python only), so the tests of torch's topics skip
# there, and without constraints.txt (its pins are the default Python's): each gets the
# newest versions pip finds for it.
COMPAT_VERSIONS ?= 3.10 3.12 3.13
# The versions side by side (each in its own venv, one test process each; pip waits on the
# network and the lock tests on their timeouts), each one's output printed whole when it ends.
compat: install
	@$(MAKE) --no-print-directory -j$(words $(COMPAT_VERSIONS)) --output-sync=target \
	  $(addprefix compat-,$(COMPAT_VERSIONS))

compat-%: install
	@v=$*; \
	py=$$(python$$v -c "import sys; print(sys.executable)" 2>/dev/null \
	  || ls -d $$HOME/.pyenv/versions/$$v.*/bin/python$$v 2>/dev/null | tail -n 1); \
	if [ -z "$$py" ]; then \
	  if [ -n "$$CI" ]; then echo "compat: Python $$v is missing on CI"; exit 1; fi; \
	  echo "compat: Python $$v is not installed, skipped"; exit 0; \
	fi; \
	echo "compat: Python $$v ($$py)"; \
	rm -rf .venv-$$v && $$py -m venv .venv-$$v && \
	$(BIN)/python -c "import tomllib; \
	  p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	  e = p['optional-dependencies']; \
	  print('\n'.join(d for d in p['dependencies'] + e['grader'] + e['lab'] + e['dev'] \
	  if not d.startswith('torch')))" > .venv-$$v/requirements.txt && \
	.venv-$$v/bin/python -m pip install -q -r .venv-$$v/requirements.txt && \
	.venv-$$v/bin/python -m pip install -q --no-deps -e . && \
	.venv-$$v/bin/python -m pytest -q -p no:cacheprovider -m "not notebooks and not grading and not browser and not colab and not edition" \
	  --ignore=tests/test_environment.py --ignore=tests/test_release.py

# The student edition: release/, the runtime without its grader, a README and an environment
# for students; nothing of source/ (scripts/edition.py checks before it finishes).
edition: install
	$(BIN)/python scripts/edition.py build edition

# Install the newest versions allowed by pyproject.toml, pin them in constraints.txt and run
# every test with them; if a test fails, the old pins come back (torch stays pinned by TORCH).
update:
	rm -rf $(VENV)
	$(MAKE) install CONSTRAINTS=
	cp constraints.txt constraints.txt.old
	$(BIN)/python -m pip freeze --exclude-editable | grep -v -i -E '^(torch|genlab)[=@ ]' \
	  | { echo "# Written by make update: the versions the whole suite passed with."; cat; } \
	  > constraints.txt
	touch $(BIN)/.installed  # installed just now, with exactly these versions
	$(MAKE) test || { mv constraints.txt.old constraints.txt; rm -f $(BIN)/.installed; exit 1; }
	rm constraints.txt.old
