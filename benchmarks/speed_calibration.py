"""Speed estimates beside the published measurements they are calibrated on (the table of
tests/test_speed_calibration.py): llama-bench figures from llama.cpp pull requests and one vLLM figure.

Run: .venv/bin/python benchmarks/speed_calibration.py
Ratio = estimate / published; the test requires every ratio within 0.70-1.30.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_speed_calibration import table  # noqa: E402

if __name__ == "__main__":
    print(table())
