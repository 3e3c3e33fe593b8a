# voicecoach: `make demo` runs the main job, `make test` runs the tests, `make bench` prints figures.
# Each target installs what it needs: Debian packages when missing, then a virtualenv in .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEB_PACKAGES := espeak-ng libportaudio2 libsndfile1 pulseaudio pulseaudio-utils alsa-utils libasound2-plugins graphviz
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

# The demo: a user (a synthetic voice other than the coach's) says commands at known times;
# the coach runs the backwards-walk script on that recording with the real recogniser, in
# virtual time, and prints the timeline. Listen to out/demo-coach.wav afterwards.
DEMO_SAYS := --say "0:04 go" --say "0:40 how long" --say "1:10 faster" --say "1:40 pause" \
  --say "1:55 continue" --say "2:30 what can I say" --say "3:00 stop" --say "3:06 no" \
  --say "3:40 speed up" --say "4:10 status" --say "4:40 next" --say "5:20 slower"

# The demo keeps its own journal (out/demo-data), out of the user's history.
demo: deps
	@mkdir -p out
	$(BIN)/voicecoach track out/demo-user.wav $(DEMO_SAYS)
	VOICECOACH_DATA_DIR=out/demo-data $(BIN)/voicecoach run scripts/backwards-walk.yaml \
	  --input out/demo-user.wav --fast --earbuds --output out/demo-coach.wav --log out/demo.jsonl
	VOICECOACH_DATA_DIR=out/demo-data $(BIN)/voicecoach history -n 3
	VOICECOACH_DATA_DIR=out/demo-data $(BIN)/voicecoach report last -o out/demo-report.png
	@echo "Hear it: out/demo-user.wav (the user), out/demo-coach.wav (the coach); every event: out/demo.jsonl;"
	@echo "see it: out/demo-report.png"

test: deps
	$(BIN)/python -m pytest -q

SPEECH := ../shared/data/speech
LISTEN := --commands $(SPEECH)/commands-dev/manifest.csv --negatives $(SPEECH)/negatives-dev/manifest.csv \
  --vocab src/voicecoach/listen/speech_commands.yaml

bench: deps
	$(BIN)/voicecoach bench simulate scripts/backwards-walk.yaml
	$(BIN)/voicecoach bench limits
	$(BIN)/voicecoach bench listen $(LISTEN)
	$(BIN)/voicecoach bench listen $(LISTEN) --noise $(SPEECH)/noise-dev/exercise_bike_a.wav --snr 10
	$(BIN)/voicecoach bench listen $(LISTEN) --engine pocketsphinx
	$(BIN)/python tools/bench_default_vocabulary.py --data $(SPEECH)
	$(BIN)/python tools/bench_default_vocabulary.py --data $(SPEECH) --noise $(SPEECH)/noise-dev/exercise_bike_a.wav --snr 10
	$(BIN)/python tools/bench_default_vocabulary.py --data $(SPEECH) --engine pocketsphinx
	$(BIN)/voicecoach bench speak scripts/backwards-walk.yaml
	$(BIN)/voicecoach bench live
	$(BIN)/voicecoach bench soak --data $(SPEECH)
	$(BIN)/voicecoach bench soak --data $(SPEECH) --wake-word trainer
	$(BIN)/voicecoach bench journal

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
