"""Pure planning functions: workload, memory per component, speed, GPUs, the plan, advice and its JSON form."""
