"""Bounded HTTP reads: every request under one overall deadline, at most a byte cap read, cancellable mid-body.

All Hub traffic goes through get() (model info, search, config.json, indexes, header range reads), and so must any
future reader of remote bytes. What it guarantees, whatever the server does:
  - one overall deadline per operation (budget(): a plan, a search, an app load), shared by every request and retry
    in it: a request's timeout is what is left of it, and a watchdog shuts the socket when it passes, so a slow
    drip (a byte a second) or a stall mid-body ends on time too;
  - the same watchdog ends the request when the operation's cancel event is set (the app's Cancel, a newer load);
  - at most `cap` bytes are kept: a Content-Length over the cap is refused before reading, a body that runs past it
    is refused at cap + 1 bytes, a compressed body is inflated only up to the cap;
  - redirects are followed by hand (at most 5, the Authorization header dropped when the host changes) so that no
    redirect body is ever read whole.
Errors are the transport's own (httpx2 exceptions) or the small classes below; hub_http turns them into one line.
"""
from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import urljoin, urlsplit

DEADLINE_S = 15.0  # one Hub operation (a plan's fetch, a search, an app load), all requests and retries together
MAX_REDIRECTS = 5
ERROR_BODY_BYTES = 64 << 10  # an error answer's body is read only when this short (never parsed)
_REDIRECTS = (301, 302, 303, 307, 308)


class DeadlineExceeded(Exception):
    """The operation's overall deadline passed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


class RequestTimedOut(Exception):
    """One request got no answer (no connection, or no bytes) within its timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


class Cancelled(Exception):
    """The operation's cancel event was set."""


class BodyTooLarge(Exception):
    """The answer is longer than the cap the caller set."""

    def __init__(self, cap: int, announced: int | None = None) -> None:
        super().__init__(f"answer of {announced:,} bytes" if announced is not None else f"answer over {cap:,} bytes")
        self.cap, self.announced = cap, announced


class BadEncoding(Exception):
    """A body in a content encoding that cannot be inflated within bounds."""


@dataclass
class Budget:
    """What one operation may spend: a monotonic deadline, how many retries, and the caller's cancel flag."""

    seconds: float
    retries: int
    cancel: threading.Event | None = None
    deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("quantplanner_http_budget", default=None)


@contextlib.contextmanager
def budget(seconds: float | None = None, retries: int = 0,
           cancel: threading.Event | None = None) -> Iterator[Budget]:
    """The budget of one operation for every request made inside (per thread). Nested calls share the outermost
    budget: its deadline, and the fewest retries either allows."""
    outer = _BUDGET.get()
    if outer is not None:
        saved = outer.retries
        outer.retries = min(outer.retries, retries)
        try:
            yield outer
        finally:
            outer.retries = saved
        return
    b = Budget(DEADLINE_S if seconds is None else seconds, retries, cancel)
    token = _BUDGET.set(b)
    try:
        yield b
    finally:
        _BUDGET.reset(token)


def current() -> Budget:
    """The active budget, or a fresh default one (a request made outside any operation is still bounded)."""
    return _BUDGET.get() or Budget(DEADLINE_S, 0)


@dataclass(frozen=True)
class Answer:
    """A finished request: status, headers (lower-case names) and the body read (at most the cap)."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str


def get(url: str, headers: dict[str, str], *, cap: int, timeout: float, stop_at: int | None = None,
        b: Budget | None = None, sink: Callable[[bytes], object] | None = None) -> Answer:
    """GET `url` within budget `b` (default: current()): body refused past `cap` bytes (BodyTooLarge), or simply
    cut at `stop_at` bytes (range reads from a server that ignores Range). Error statuses come back with an empty
    body (their bodies are never read). With `sink` (a file's write), the body is handed over chunk by chunk
    instead of kept (a download), still within `cap`; the Answer's body is then empty."""
    from huggingface_hub.utils import get_session

    b = b or current()
    client = get_session()
    send_headers = {**headers, "accept-encoding": "identity"}  # a compressed answer anyway is inflated up to the cap
    for _hop in range(MAX_REDIRECTS + 1):
        if b.cancelled:
            raise Cancelled()
        left = b.remaining()
        if left <= 0:
            raise DeadlineExceeded(b.seconds)
        wait = min(timeout, left)
        response = _send(client, url, send_headers, wait, b)
        with _Watchdog(response, b) as dog, contextlib.closing(response):
            status = response.status_code
            got = {k.lower(): v for k, v in response.headers.items()}
            if status in _REDIRECTS and "location" in got:
                nxt = urljoin(url, got["location"])
                if urlsplit(nxt)[:2] != urlsplit(url)[:2]:
                    send_headers = {k: v for k, v in send_headers.items() if k.lower() != "authorization"}
                url = nxt
                continue
            if status >= 400:
                _drain(response, got)
                return Answer(status, got, b"", url)
            body = _read_body(response, got, cap, None if sink is not None else stop_at, b, dog, wait, sink)
            return Answer(status, got, body, url)
    raise BadEncoding(f"more than {MAX_REDIRECTS} redirects")


def _send(client: Any, url: str, headers: dict[str, str], wait: float, b: Budget) -> Any:
    """The response (headers read, body not), sent once more at once when a kept-alive connection turns out to
    have been closed by the server meanwhile (nothing was answered on it: asking again is always safe)."""
    import httpx2

    for attempt in (0, 1):
        request = client.build_request("GET", url, headers=headers, timeout=httpx2.Timeout(wait))
        try:
            return client.send(request, stream=True, follow_redirects=False)
        except httpx2.TimeoutException:
            if b.remaining() <= 0:
                raise DeadlineExceeded(b.seconds) from None
            raise RequestTimedOut(wait) from None
        except (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError):
            if attempt or b.remaining() <= 0 or b.cancelled:
                raise
            wait = min(wait, b.remaining())
    raise AssertionError("unreachable")


def _read_body(response: Any, headers: dict[str, str], cap: int, stop_at: int | None, b: Budget,
               dog: _Watchdog, wait: float, sink: Callable[[bytes], object] | None = None) -> bytes:
    import httpx2

    limit = cap if stop_at is None else min(cap, stop_at)
    announced = _int_or_none(headers.get("content-length"))
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if stop_at is None and announced is not None and announced > cap and encoding in ("", "identity"):
        raise BodyTooLarge(cap, announced)
    inflate = _inflater(encoding)
    buf = bytearray()
    count = 0
    try:
        for chunk in response.iter_raw():
            if inflate is not None:
                chunk = inflate.decompress(chunk, limit + 1 - count)
            count += len(chunk)
            if sink is not None and count <= limit:
                sink(chunk)
            elif sink is None:
                buf += chunk
            if count > limit or (inflate is not None and inflate.unconsumed_tail):
                if stop_at is not None and stop_at <= cap:
                    return bytes(buf[:stop_at])
                raise BodyTooLarge(cap)
            if dog.fired or b.remaining() <= 0:
                break
    except httpx2.TimeoutException:
        if not dog.fired and b.remaining() > 0:
            raise RequestTimedOut(wait) from None
    except (httpx2.TransportError, OSError):
        if not dog.fired and b.remaining() > 0:
            raise
    except zlib.error as exc:
        raise BadEncoding(f"damaged {encoding} body ({exc})") from None
    if b.cancelled:
        raise Cancelled()
    if dog.fired or b.remaining() <= 0:
        raise DeadlineExceeded(b.seconds)
    return bytes(buf)


def _drain(response: Any, headers: dict[str, str]) -> None:
    """Read a short error body (at most ERROR_BODY_BYTES, announced) so that the connection can be reused; a longer
    or unannounced one is left unread and the connection closed."""
    length = _int_or_none(headers.get("content-length"))
    if length is None or length > ERROR_BODY_BYTES:
        return
    with contextlib.suppress(Exception):
        read = 0
        for chunk in response.iter_raw():
            read += len(chunk)
            if read > ERROR_BODY_BYTES:
                return


def _inflater(encoding: str) -> Any:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise BadEncoding(f"answer in content encoding '{encoding[:40]}' that was not asked for")


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None and text.strip().isdigit() and len(text.strip()) < 20 else None
    except ValueError:
        return None


class _Watchdog:
    """Shuts a response's socket when the budget's deadline passes or its cancel event is set, which wakes a read
    blocked on a silent or dripping server at once (a per-read timeout alone would wait for each drop)."""

    POLL_S = 0.05

    def __init__(self, response: Any, b: Budget) -> None:
        self.response, self.b = response, b
        self.fired = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Watchdog:
        stream = self.response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            self._thread = threading.Thread(target=self._watch, args=(sock,), name="quantplanner-http-watchdog",
                                            daemon=True)
            self._thread.start()
        return self

    def _watch(self, sock: socket.socket) -> None:
        while not self._done.wait(min(self.POLL_S, max(0.0, self.b.remaining()))):
            if self.b.cancelled or self.b.remaining() <= 0:
                self.fired = True
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
