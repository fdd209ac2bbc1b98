"""The one exception family users can cause; each message says what to do about it."""
from __future__ import annotations


class QuantPlannerError(Exception):
    """Base of every error a user can cause (bad file, unknown id, absurd number)."""


class BadInputError(QuantPlannerError):
    """An argument or number that makes no sense (negative batch, empty model, ...)."""


class ModelFileError(QuantPlannerError):
    """A model file or folder that is missing, unreadable or malformed."""


class UnsupportedArchitectureError(QuantPlannerError):
    """A config.json whose model_type has no analytic family here."""


class UnknownPrecisionError(QuantPlannerError):
    """A precision id that is not in the catalog."""


class UnknownGPUError(QuantPlannerError):
    """A GPU name that is neither in the catalog nor in the user's file."""
