# QuantPlanner: `make run` opens the app on a bundled default model (offline); `make test` runs the whole suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# torch is pinned and installed first: any looser pin would pull several GB of CUDA wheels.
TORCH  := torch==2.13.0
MODEL  ?= meta-llama/Llama-3.1-8B

export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup run plan test bench accuracy dist clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

run: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/quantplanner

plan: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/quantplanner plan $(MODEL) --gpu rtx-4090 --gpu h100-sxm

test: setup
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/plan_speed.py
	QT_QPA_PLATFORM=offscreen $(PY) benchmarks/startup.py

# The accuracy suite (issue 12): measure llama.cpp (through llama-cpp-python, in its own venv: it builds from source,
# ~10 min on 2 cores) and transformers + peft on CPU, rewrite the golden files the tests hold the planner to, and
# BENCHMARKS.md's predicted-vs-measured table. Never part of `make test`. LLAMA_PY: a Python with llama-cpp-python.
LLAMA_VENV ?= .venv-llama
LLAMA_PY   ?= $(LLAMA_VENV)/bin/python
BEFORE     ?= 0b7b158
accuracy: setup
	$(PIP) install -q -e ".[accuracy]"
	test -x $(LLAMA_PY) || (python3 -m venv $(LLAMA_VENV) && $(LLAMA_VENV)/bin/pip install -q "llama-cpp-python==0.3.36" "gguf>=0.17" numpy)
	$(LLAMA_PY) benchmarks/accuracy/llamacpp_measure.py --out tests/golden/accuracy/llamacpp.json
	$(PY) benchmarks/accuracy/hf_measure.py --out tests/golden/accuracy/transformers.json
	rm -rf build/accuracy-before && mkdir -p build/accuracy-before
	git archive $(BEFORE) quantcore resources | tar -x -C build/accuracy-before
	$(PY) benchmarks/accuracy/compare.py --before-root build/accuracy-before --write BENCHMARKS.md

# the desktop bundle (PyInstaller, one folder): dist/quantplanner/quantplanner, checked by its own --self-test
dist: setup
	$(PIP) install -q "pyinstaller>=6.10"
	$(VENV)/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/work build/quantplanner.spec
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 dist/quantplanner/quantplanner --self-test

clean:
	rm -rf $(VENV) .pytest_cache dist build/work
