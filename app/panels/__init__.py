"""The input column: one module per panel (model, workload, GPUs, precisions)."""
