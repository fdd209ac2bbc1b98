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


class HubError(QuantPlannerError):
    """The Hugging Face Hub could not give what was asked (missing repo, gated, offline, down, malformed)."""


class HubRepoNotFoundError(HubError):
    """No such model repository (or a private one the token cannot see)."""


class HubRevisionNotFoundError(HubError):
    """The repository exists but the branch, tag or commit does not."""


class HubGatedRepoError(HubError):
    """A gated repository whose license the user has not accepted (or no token was sent)."""


class HubUnavailableError(HubError):
    """No answer now: offline with nothing cached, unreachable, too slow, rate-limited or failing (5xx)."""


class HubOfflineError(HubUnavailableError):
    """HF_HUB_OFFLINE is set and the model is not in the local cache."""


class HubTimeoutError(HubUnavailableError):
    """The Hub did not answer within the timeout."""


class HubRateLimitError(HubUnavailableError):
    """HTTP 429 after every retry."""


class HubServerError(HubUnavailableError):
    """HTTP 5xx (or an unusable answer) after every retry, or the Hub could not be reached at all."""


class HubCancelledError(HubError):
    """The caller cancelled a fetch (its cancel event was set)."""
