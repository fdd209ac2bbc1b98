"""The one exception family users can cause; each message says what to do about it, on one clean line."""
from __future__ import annotations

import re

MAX_MESSAGE_CHARS = 1000
# C0 controls (newlines, tabs, ESC of ANSI sequences), DEL, C1 controls, Unicode line/paragraph separators, and the
# bidirectional overrides that can make a terminal show text in another order than it is
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def one_line(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    r"""`text` made safe to print on one terminal line: control characters shown as escapes (\n, \x1b, \u202e),
    at most `limit` characters (longer text ends with '...')."""
    s = text if isinstance(text, str) else str(text)

    def escape(m: re.Match[str]) -> str:
        c = m.group(0)
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else
                                                                  f"\\u{ord(c):04x}")

    s = _UNSAFE.sub(escape, s)
    return s if len(s) <= limit else s[: max(0, limit - 3)] + "..."


class QuantPlannerError(Exception):
    """Base of every error a user can cause (bad file, unknown id, absurd number).

    The message is kept as one clean line (one_line): file names, ids and tensor names in it come from files and
    servers, and may hold newlines or terminal escapes."""

    def __init__(self, message: object = "") -> None:
        super().__init__(one_line(message))


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
