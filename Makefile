# The two commands of the README, and the pieces they are made of.
# `make demo`: set up .venv and build the demo site into site/.
# `make test`: set up .venv and Chromium (Debian package), then run every test.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test setup system-deps bench clean

demo: setup
	$(PY) build.py

test: setup system-deps
	$(PY) -m pytest -n 2 -q

setup: $(VENV)/.installed

# Reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Browser tests drive Debian's Chromium; benchmarks compare against Debian's Hugo.
system-deps:
	@command -v chromium >/dev/null 2>&1 || sh scripts/apt-install chromium

bench: setup
	@command -v hugo >/dev/null 2>&1 || sh scripts/apt-install hugo
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) site .pytest_cache
