"""What a model is: its tensors (name, shape, dtype, role) and the architecture facts the planner needs."""
