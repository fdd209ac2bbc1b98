"""Talking to the Hub over HTTP: endpoint and offline mode, bounded GETs (safe_http) with retries inside one overall
deadline, range reads, and one actionable error line for whatever the network or the server did."""
from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from typing import Any, BinaryIO, Callable, Iterator, TypeVar

from quantcore.errors import (HubCancelledError, HubError, HubGatedRepoError, HubOfflineError, HubRateLimitError,
                              HubRepoNotFoundError, HubRevisionNotFoundError, HubServerError, HubTimeoutError,
                              ModelFileError, QuantPlannerError)
from quantcore.sources import safe_http

T = TypeVar("T")

TIMEOUT_S = 10.0  # seconds to wait for each answer (huggingface_hub's own default for metadata requests)
RETRIES = 3  # retries of a request that timed out or got HTTP 408/429/5xx, with exponential backoff, in the deadline
BACKOFF_S = 1.0  # first wait; doubles each retry, capped at BACKOFF_MAX_S
BACKOFF_MAX_S = 8.0
MAX_JSON_BYTES = 16 << 20  # model info (a repo's file list) and search answers
_RETRY_STATUS = (408, 429, 500, 502, 503, 504)

# huggingface_hub's own retry loop is never used here, but its logger must not print a line per retry either
logging.getLogger("huggingface_hub.utils._http").setLevel(logging.ERROR)


def is_offline() -> bool:
    """HF_HUB_OFFLINE (as huggingface_hub reads it)."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def offline_message(repo_id: str) -> str:
    from quantcore.sources.bundled import bundled_models

    return (f"{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to "
            f"fetch it, or plan one of the {len(bundled_models())} bundled models (`quantplanner models`)")


def budget(retry: bool = True, cancel: threading.Event | None = None) -> Any:
    """The overall budget of one Hub operation: safe_http.DEADLINE_S for every request and retry in it; no retries
    when the caller has a bundled or cached answer to fall back on (retry=False)."""
    return safe_http.budget(None, RETRIES if retry else 0, cancel)


def headers() -> dict[str, str]:
    """User agent and the token huggingface_hub manages (HF_TOKEN or `hf auth login`); nothing else is sent, and
    no request is made to build them (huggingface_hub's own builder may fetch an agent registry first)."""
    from huggingface_hub import __version__, get_token

    out = {"user-agent": f"quantplanner; hf_hub/{__version__}"}
    token = get_token()
    if token:
        out["authorization"] = f"Bearer {token}"
    return out


# -- fetching -----------------------------------------------------------------------------------------------------

def get_json(url: str, repo_id: str, revision: str | None, what: str, cap: int = MAX_JSON_BYTES,
             params: dict[str, Any] | None = None) -> Any:
    """A JSON answer (at most `cap` bytes, nesting bounded), retried and translated like every Hub request."""
    from urllib.parse import urlencode

    from quantcore.sources.safe_io import parse_json

    full = url + ("?" + urlencode(params, doseq=True) if params else "")
    answer = with_retries(lambda: _get_ok(full, cap, None, repo_id, revision, what), repo_id, revision, what)
    return parse_json(answer.body, f"{endpoint()} ({what} of {repo_id})", "JSON answer", HubServerError)


def get_file(repo_id: str, revision: str | None, commit: str, filename: str, cap: int) -> bytes:
    """A whole small repo file (config.json, an index), at most `cap` bytes, by one GET."""
    answer = with_retries(lambda: _get_ok(_file_url(repo_id, commit, filename), cap, None, repo_id, revision,
                                          filename), repo_id, revision, filename)
    return answer.body


def read_range(repo_id: str, revision: str, commit: str, filename: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of a repo file by one HTTP range request.

    Reads at most end - start bytes even from a server that ignores Range and sends the whole file; a body that
    breaks off midway is read again (within the operation's retries and deadline)."""
    if end <= start:
        return b""
    want = end - start

    def call() -> bytes:
        answer = _get_ok(_file_url(repo_id, commit, filename), want, want, repo_id, revision, filename,
                         {"range": f"bytes={start}-{end - 1}"})
        if answer.status == 200 and start > 0:
            raise HubServerError(f"{endpoint()} ignores HTTP range requests: cannot read only the header of "
                                 f"{repo_id}/{filename}")
        if answer.status not in (200, 206):
            raise HubServerError(f"{endpoint()} answered HTTP {answer.status} to a range read of {repo_id}/{filename}")
        return answer.body[:want]

    return with_retries(call, repo_id, revision, filename)


def download_to(repo_id: str, revision: str, commit: str, filename: str, fh: BinaryIO, cap: int) -> int:
    """A whole repo file streamed into the open file `fh` (emptied again before each try), at most `cap` bytes,
    within the operation's budget (safe_http: deadline, cancel) and retries; the bytes written."""
    def call() -> int:
        fh.seek(0)
        fh.truncate()
        _get_ok(_file_url(repo_id, commit, filename), cap, None, repo_id, revision, filename, sink=fh.write)
        return fh.tell()

    return with_retries(call, repo_id, revision, filename)


def _file_url(repo_id: str, commit: str, filename: str) -> str:
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo_id, filename, revision=commit)


class _Status(Exception):
    """An HTTP error status, kept until the retry loop decides whether to ask again."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        super().__init__(status)
        self.status, self.headers = status, headers


def _get_ok(url: str, cap: int, stop_at: int | None, repo_id: str, revision: str | None, what: str,
            extra: dict[str, str] | None = None, sink: Callable[[bytes], object] | None = None) -> safe_http.Answer:
    answer = safe_http.get(url, {**headers(), **(extra or {})}, cap=cap, timeout=TIMEOUT_S, stop_at=stop_at,
                           sink=sink)
    if answer.status >= 400:
        raise _Status(answer.status, answer.headers)
    return answer


# -- errors and retries -------------------------------------------------------------------------------------------

def check_cancel(cancel: threading.Event | None, repo_id: str) -> None:
    if cancel is not None and cancel.is_set():
        raise HubCancelledError(f"fetching {repo_id} was cancelled")


class _Command:
    """One command line run: once the Hub has given no answer in it, it is not asked again in that run (a `fit`
    over several Hub models would otherwise wait out one deadline per model)."""

    def __init__(self) -> None:
        self.silent: str | None = None  # the endpoint that gave no answer


_COMMAND: contextvars.ContextVar[_Command | None] = contextvars.ContextVar("quantplanner_hub_command", default=None)


@contextlib.contextmanager
def one_command() -> Iterator[None]:
    """The scope of one CLI command (quantcore.cli.main): inside it, a Hub that timed out is not asked again, so a
    silent Hub costs one deadline (safe_http.DEADLINE_S) per command, whatever the command asks of it."""
    token = _COMMAND.set(_Command())
    try:
        yield
    finally:
        _COMMAND.reset(token)


def with_retries(call: Callable[[], T], repo_id: str, revision: str | None, what: str) -> T:
    """call(), retried on timeouts, broken connections and HTTP 408/429/5xx with exponential backoff, as many times
    as the operation's budget allows and never past its deadline; every failure translated into one line."""
    command = _COMMAND.get()
    if command is not None and command.silent == endpoint():
        raise HubTimeoutError(f"{endpoint()} gave no answer earlier in this command, so it is not asked again ({what} "
                              f"of {repo_id}): try again later, or check the network and HF_ENDPOINT")
    try:
        return _with_retries(call, repo_id, revision, what)
    except HubTimeoutError:
        if command is not None:
            command.silent = endpoint()
        raise


def _with_retries(call: Callable[[], T], repo_id: str, revision: str | None, what: str) -> T:
    import httpx2

    b = safe_http.current()
    attempt = 0
    while True:
        try:
            return call()
        except (safe_http.RequestTimedOut, httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError,
                _Status) as exc:
            status = exc.status if isinstance(exc, _Status) else None
            # no machine at that address (DNS failure, refused, no route): retrying only makes an offline user wait
            unreachable = isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout))
            retryable = not unreachable and (status is None or status in _RETRY_STATUS)
            pause = min(BACKOFF_S * 2 ** attempt, BACKOFF_MAX_S)
            if not retryable or attempt >= b.retries or b.remaining() <= pause or b.cancelled:
                raise translate(exc, repo_id, revision, what, attempt) from None
        except QuantPlannerError:
            raise
        except Exception as exc:  # noqa: BLE001 - anything else the transport raised: one line, never a traceback
            raise translate(exc, repo_id, revision, what, attempt) from None
        time.sleep(pause)
        attempt += 1


def translate(exc: BaseException, repo_id: str, revision: str | None, what: str,
              retries: int | None = None) -> QuantPlannerError:
    """One actionable line for anything the network or the server did."""
    import httpx2

    if isinstance(exc, QuantPlannerError):
        return exc
    site = endpoint()
    tries = "" if not retries else f" after {retries} retr{'y' if retries == 1 else 'ies'}"
    if isinstance(exc, _Status):
        return status_error(exc.status, exc.headers, repo_id, revision, what, tries)
    if isinstance(exc, safe_http.Cancelled):
        return HubCancelledError(f"fetching {repo_id} was cancelled")
    if isinstance(exc, safe_http.DeadlineExceeded):
        return HubTimeoutError(f"{site} gave no complete answer within {exc.seconds:g} s ({what} of {repo_id}"
                               f"{tries}): try again later, or check the network and HF_ENDPOINT")
    if isinstance(exc, safe_http.BodyTooLarge):
        size = f"{exc.announced:,} bytes" if exc.announced is not None else f"more than {exc.cap:,} bytes"
        return ModelFileError(f"{site} sent {size} for {what} of {repo_id} (at most {exc.cap:,} expected); "
                              "refusing: is HF_ENDPOINT a Hugging Face Hub?")
    if isinstance(exc, safe_http.BadEncoding):
        return HubServerError(f"unusable answer from {site} for {what} of {repo_id} ({exc})")
    if isinstance(exc, (safe_http.RequestTimedOut, httpx2.TimeoutException)):
        seconds = exc.seconds if isinstance(exc, safe_http.RequestTimedOut) else TIMEOUT_S
        return HubTimeoutError(f"{site} did not answer within {seconds:g} s ({what} of {repo_id}{tries}): try "
                               "again later, or check the network and HF_ENDPOINT")
    if isinstance(exc, httpx2.RemoteProtocolError):
        return HubServerError(f"the connection to {site} broke off while reading {what} of {repo_id}{tries}: "
                              "try again later")
    if is_offline():
        return HubOfflineError(offline_message(repo_id))
    if isinstance(exc, (httpx2.HTTPError, OSError)):
        return HubServerError(f"cannot reach {site} ({exc.__class__.__name__}) for {what} of {repo_id}: check the "
                              "network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use cached and bundled models")
    first = str(exc).splitlines()[0][:120] if str(exc) else ""
    return HubServerError(f"unexpected answer from {site} for {what} of {repo_id} ({exc.__class__.__name__}: "
                          f"{first})")


def status_error(status: int, headers: dict[str, str], repo_id: str, revision: str | None, what: str,
                 tries: str = "") -> HubError:
    """The error an HTTP status means, read as huggingface_hub reads it (the X-Error-Code header first)."""
    site = endpoint()
    login = "log in with `hf auth login` or set HF_TOKEN"
    code = headers.get("x-error-code", "")
    if code == "RevisionNotFound":
        return HubRevisionNotFoundError(f"{repo_id} has no revision '{revision}': give an existing branch, tag or "
                                        "commit hash")
    if code == "EntryNotFound":
        return HubError(f"{repo_id} has no {what} at revision {revision or 'main'}")
    if code == "GatedRepo":
        return HubGatedRepoError(f"{repo_id} is gated: accept its license at {site}/{repo_id}, then {login}")
    invalid_token = headers.get("x-error-message", "") == "Invalid credentials in Authorization header"
    if code == "RepoNotFound" or (status == 401 and not invalid_token) or (status == 404 and not code):
        return HubRepoNotFoundError(f"{repo_id}: no such model repository on {site} (check the spelling; if it is "
                                    f"private, {login})")
    if status == 429:
        return HubRateLimitError(f"{site} is rate-limiting requests (HTTP 429, {what} of {repo_id}{tries}): wait a "
                                 f"few minutes, or {login} for a higher limit")
    if status in (401, 403):
        return HubGatedRepoError(f"{repo_id}: access denied (HTTP {status}) to {what}; if the repo is gated accept "
                                 f"its license at {site}/{repo_id}, then {login}")
    return HubServerError(f"{site} answered HTTP {status} for {what} of {repo_id}{tries}: try again later")
