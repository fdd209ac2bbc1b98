"""The result tabs, one module each: memory, fit, cost (each owns its table models, plots and update())."""
