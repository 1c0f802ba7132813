# The two commands a newcomer types: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APT_PACKAGES := git openssh-server openssh-client chromium

.PHONY: demo test venv deps apt lint bench bench-quick hooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Bytecode once, as pip does when it installs a package: an editable install leaves it to
# the first import, and with PYTHONDONTWRITEBYTECODE every git-data process (one per hook and
# filter start) would compile its modules again (50-60 ms each here).
venv: $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q git_data

demo: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

deps: $(BIN)/python apt
	$(BIN)/pip install -q -e '.[test,stats]'
	$(BIN)/python -m compileall -q git_data

test: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m ruff check git_data tests benchmarks
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/compare.py

bench-quick: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/compare.py --quick

hooks:
	$(PYTHON) scripts/render-hooks.py

clean:
	rm -rf $(VENV) build *.egg-info
