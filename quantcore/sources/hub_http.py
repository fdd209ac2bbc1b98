"""Talking to the Hub over HTTP: endpoint and offline mode, retries with backoff, range reads, and one
actionable error line for whatever huggingface_hub or the network raised."""
from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

from quantcore.errors import (
    HubCancelledError,
    HubError,
    HubGatedRepoError,
    HubOfflineError,
    HubRateLimitError,
    HubRepoNotFoundError,
    HubRevisionNotFoundError,
    HubServerError,
    HubTimeoutError,
    QuantPlannerError,
)

T = TypeVar("T")

TIMEOUT_S = 10.0  # seconds to wait for each answer (huggingface_hub's own default for metadata requests)
RETRIES = 3  # retries of a request that timed out or got HTTP 408/429/5xx, with exponential backoff
BACKOFF_S = 1.0  # first wait; doubles each retry, capped at BACKOFF_MAX_S
BACKOFF_MAX_S = 8.0
_RETRY_STATUS = (408, 429, 500, 502, 503, 504)


def is_offline() -> bool:
    """HF_HUB_OFFLINE (as huggingface_hub reads it)."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def offline_message(repo_id: str) -> str:
    from quantcore.sources.bundled import bundled_models

    return (f"{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to "
            f"fetch it, or plan one of the {len(bundled_models())} bundled models (`quantplanner models`)")


# -- fetching -----------------------------------------------------------------------------------------------------

def read_range(repo_id: str, revision: str, commit: str, filename: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of a repo file by one HTTP range request (huggingface_hub's session and backoff).

    Reads at most end - start bytes even from a server that ignores Range and sends the whole file. A body that
    breaks off midway is read again (http_stream_backoff retries only until the response starts).
    """
    import httpx2
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import (
        build_hf_headers,
        hf_raise_for_status,
        http_stream_backoff,
    )

    if end <= start:
        return b""
    url = hf_hub_url(repo_id, filename, revision=commit)
    headers = {**build_hf_headers(), "Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
    want = end - start
    attempt = 0
    while True:
        broke: Exception | None = None
        buf = bytearray()
        try:
            with http_stream_backoff("GET", url, headers=headers, timeout=TIMEOUT_S, max_retries=RETRIES,
                                     base_wait_time=BACKOFF_S, max_wait_time=BACKOFF_MAX_S) as response:
                hf_raise_for_status(response)
                if response.status_code == 200 and start > 0:
                    raise HubServerError(f"{endpoint()} ignores HTTP range requests: cannot read only the header "
                                         f"of {repo_id}/{filename}")
                try:
                    for chunk in response.iter_bytes():
                        buf += chunk
                        if len(buf) >= want:
                            break
                except httpx2.TransportError as exc:  # leave the context cleanly; retried below
                    broke = exc
        except QuantPlannerError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, repo_id, revision, filename) from None
        if broke is None:
            return bytes(buf[:want])
        if attempt >= RETRIES:
            raise translate(broke, repo_id, revision, filename)
        time.sleep(min(BACKOFF_S * 2 ** attempt, BACKOFF_MAX_S))
        attempt += 1


# -- errors and retries -------------------------------------------------------------------------------------------

def check_cancel(cancel: threading.Event | None, repo_id: str) -> None:
    if cancel is not None and cancel.is_set():
        raise HubCancelledError(f"fetching {repo_id} was cancelled")


def with_retries(call: Callable[[], T], repo_id: str, revision: str | None, what: str) -> T:
    """call(), retried like huggingface_hub's http_backoff (timeouts, network errors, 408/429/5xx), translated."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    attempt = 0
    while True:
        try:
            return call()
        except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError, HfHubHTTPError) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            # no machine at that address (DNS failure, refused, no route): retrying only makes an offline user wait
            unreachable = isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout))
            retryable = not unreachable and (not isinstance(exc, HfHubHTTPError) or status in _RETRY_STATUS)
            if not retryable or attempt >= RETRIES:
                raise translate(exc, repo_id, revision, what) from None
        except QuantPlannerError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, repo_id, revision, what) from None
        time.sleep(min(BACKOFF_S * 2 ** attempt, BACKOFF_MAX_S))
        attempt += 1


def translate(exc: BaseException, repo_id: str, revision: str | None, what: str) -> QuantPlannerError:
    """One actionable line for anything huggingface_hub or the network raised."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, QuantPlannerError):
        return exc
    site = endpoint()
    login = "log in with `hf auth login` or set HF_TOKEN"
    if isinstance(exc, GatedRepoError):
        return HubGatedRepoError(f"{repo_id} is gated: accept its license at {site}/{repo_id}, then {login}")
    if isinstance(exc, RevisionNotFoundError):
        return HubRevisionNotFoundError(f"{repo_id} has no revision '{revision}': give an existing branch, tag or "
                                        "commit hash")
    if isinstance(exc, RepositoryNotFoundError):
        return HubRepoNotFoundError(f"{repo_id}: no such model repository on {site} (check the spelling; if it is "
                                    f"private, {login})")
    if isinstance(exc, RemoteEntryNotFoundError):
        return HubError(f"{repo_id} has no {what} at revision {revision or 'main'}")
    if isinstance(exc, OfflineModeIsEnabled):
        return HubOfflineError(offline_message(repo_id))
    if isinstance(exc, LocalEntryNotFoundError):
        if is_offline():
            return HubOfflineError(offline_message(repo_id))
        cause = exc.__cause__ or exc.__context__
        if cause is not None and cause is not exc:
            return translate(cause, repo_id, revision, what)
        return HubServerError(f"could not download {what} of {repo_id} from {site}: check the network and "
                              "HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use cached and bundled models")
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        if status == 429:
            return HubRateLimitError(f"{site} is rate-limiting requests (HTTP 429, {what} of {repo_id}, after "
                                     f"{RETRIES} retries): wait a few minutes, or {login} for a higher limit")
        if status in (401, 403):
            return HubGatedRepoError(f"{repo_id}: access denied (HTTP {status}) to {what}; if the repo is gated "
                                     f"accept its license at {site}/{repo_id}, then {login}")
        return HubServerError(f"{site} answered HTTP {status} for {what} of {repo_id} after {RETRIES} retries: "
                              "try again later")
    if isinstance(exc, httpx2.TimeoutException):
        return HubTimeoutError(f"{site} did not answer within {TIMEOUT_S:g} s ({what} of {repo_id}): try again "
                               "later, or check the network and HF_ENDPOINT")
    if isinstance(exc, httpx2.RemoteProtocolError):
        return HubServerError(f"the connection to {site} broke off while reading {what} of {repo_id} "
                              f"({RETRIES} retries): try again later")
    if isinstance(exc, (httpx2.HTTPError, OSError)):
        return HubServerError(f"cannot reach {site} ({exc.__class__.__name__}) for {what} of {repo_id}: check the "
                              "network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use cached and bundled models")
    return HubServerError(f"unexpected answer from {site} for {what} of {repo_id} ({exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0][:120] if str(exc) else ''})")
