"""QuantPlanner engine: model inventories, precisions, memory, GPUs and plans (never imports Qt)."""
from __future__ import annotations

__version__ = "0.1.0"
