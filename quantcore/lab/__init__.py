"""Measurements on real tensors: error metrics, histograms, calibration, test-runs (the quantization lab)."""
