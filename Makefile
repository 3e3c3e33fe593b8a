# voicecoach: `make demo` runs the main job, `make test` runs the tests, `make bench` prints figures.
# Each target installs what it needs: Debian packages when missing, then a virtualenv in .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEB_PACKAGES := espeak-ng libportaudio2 libsndfile1 pulseaudio alsa-utils libasound2-plugins
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench deps debian clean
.DEFAULT_GOAL := demo

debian:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BIN)/voicecoach: pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

deps: debian $(BIN)/voicecoach

demo: deps
	$(BIN)/voicecoach simulate scripts/backwards-walk.yaml \
	  --say "0:04 go" --say "2:10 how long" --say "3:05 faster" --say "4:00 pause" \
	  --say "4:20 let's go" --say "5:30 speed up" --say "6:40 stop" --say "6:45 no" --say "7:30 what can I say"

test: deps
	$(BIN)/python -m pytest -q

bench: deps
	$(BIN)/voicecoach bench simulate scripts/backwards-walk.yaml

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
