# The two commands a newcomer types: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# python3-botocore and python3-fsspec: an older botocore in the system python, the host that
# tests/test_runner_s3.py runs an S3-store run on (git-data ships its own consistent set there).
APT_PACKAGES := git git-lfs openssh-server openssh-client chromium slurm-wlm munge python3-botocore python3-fsspec

.PHONY: demo test venv deps apt lint bench bench-quick hooks man clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# An editable install that starts like an installed package. Bytecode once, as pip does when
# it installs one: an editable install leaves it to the first import, and with
# PYTHONDONTWRITEBYTECODE every git-data process (one per hook and filter start) would compile
# its modules again (50-60 ms each here). And a plain path in a .pth file, not setuptools'
# default import finder for a flat layout, which costs every Python process in the venv
# (git-data's hooks, and DVC's commands in the benchmark) about 25 ms to import. Where a
# setuptools no longer has the transitional compat mode, the default install still works.
EDITABLE = $(BIN)/pip install -q -e $(1) --config-settings editable_mode=compat 2>/dev/null \
	|| $(BIN)/pip install -q -e $(1)

WITH_EXTRAS := .[test,stats]

# Manual pages for `man git-data`, `git data --help` and `git help data`: man looks in
# <venv>/share/man for <venv>/bin on PATH. A wheel installs them as data files; an editable
# install does not, so they are written here from the command tree.
MANPAGES = $(BIN)/python -m git_data.cli.manpages $(VENV)/share/man/man1

venv: $(BIN)/python
	$(call EDITABLE,.)
	$(BIN)/python -m compileall -q git_data
	$(MANPAGES)

demo: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

deps: $(BIN)/python apt
	$(call EDITABLE,'$(WITH_EXTRAS)')
	$(BIN)/python -m compileall -q git_data
	$(MANPAGES)

test: deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m ruff check git_data tests benchmarks
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/compare.py

bench-quick: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/compare.py --quick

hooks:
	$(PYTHON) scripts/render-hooks.py

# The committed pages a wheel carries (tests/test_cli.py fails when they are out of date).
man: venv
	rm -f man/man1/git-data*.1
	$(BIN)/python -m git_data.cli.manpages man/man1

clean:
	rm -rf $(VENV) build *.egg-info
