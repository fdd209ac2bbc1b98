"""A stand-in Hugging Face Hub on 127.0.0.1 for tests and benchmarks: the routes huggingface_hub 2.4 uses."""
from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

DTYPE_SIZE = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "I64": 8, "U8": 1, "I8": 1, "F8_E4M3": 1}
WHOLE_FILE_LIMIT = 16 << 20
TELEMETRY = "/api/agent-harnesses"
LFS_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt")


# -- writing sparse files -----------------------------------------------------------------------------------------

def write_safetensors(path: Path, tensors: list[tuple[str, tuple[int, ...], str]],
                      metadata: dict[str, str] | None = None) -> int:
    """A safetensors file with a real header (names, dtypes, shapes, offsets, 8-byte aligned as the safetensors
    library writes it) and the data region left as a hole. Returns the file size."""
    header: dict[str, Any] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, shape, dtype in tensors:
        nbytes = math.prod(shape) * DTYPE_SIZE[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        fh.truncate(8 + len(raw) + offset)
    return 8 + len(raw) + offset


def tensors_of(inv: Any) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, dtype) of an analytic inventory; `count` copies become one stacked tensor as transformers
    stores fused experts."""
    return [(t.name, (t.count, *t.shape) if t.count > 1 else tuple(t.shape), t.dtype) for t in inv.tensors]


def write_sharded(folder: Path, tensors: list[tuple[str, tuple[int, ...], str]], shards: int,
                  config: dict[str, Any]) -> dict[str, Path]:
    """transformers' layout: config.json, model-0000i-of-0000n.safetensors split by bytes, and the index."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [math.prod(s) * DTYPE_SIZE[d] for _, s, d in tensors]
    total = sum(sizes)
    groups: list[list[int]] = [[] for _ in range(shards)]
    running = 0
    for i, size in enumerate(sizes):
        groups[min(shards - 1, running * shards // total)].append(i)
        running += size
    files: dict[str, Path] = {}
    weight_map: dict[str, str] = {}
    for k, idx in enumerate(groups, start=1):
        name = f"model-{k:05d}-of-{shards:05d}.safetensors" if shards > 1 else "model.safetensors"
        write_safetensors(folder / name, [tensors[i] for i in idx])
        files[name] = folder / name
        weight_map.update({tensors[i][0]: name for i in idx})
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    files["config.json"] = folder / "config.json"
    if shards > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index))
        files["model.safetensors.index.json"] = folder / "model.safetensors.index.json"
    return files


# -- the server ---------------------------------------------------------------------------------------------------

@dataclass
class Snapshot:
    commit: str
    files: dict[str, Path]


@dataclass
class Repo:
    repo_id: str
    refs: dict[str, str]  # branch / tag -> commit
    snapshots: dict[str, Snapshot]  # commit -> files
    gated: bool = False
    downloads: int = 0
    likes: int = 0
    library: str | None = "transformers"
    pipeline_tag: str | None = "text-generation"
    parameters: int | None = None
    last_modified: str = "2024-07-23T14:00:00.000Z"

    def snapshot(self, rev: str) -> Snapshot | None:
        commit = self.refs.get(rev, rev)
        return self.snapshots.get(commit)


@dataclass
class Fault:
    pattern: str
    status: int = 0  # HTTP status to answer with (0: answer normally, after `delay`)
    times: int | None = None  # how many requests it hits (None: all)
    delay: float = 0.0
    truncate: int | None = None  # cut the body to this many bytes (Content-Length still announces the full size)
    headers: dict[str, str] = field(default_factory=dict)
    # hostile answers (see StandInHub.answer / drip / silence):
    body: bytes | None = None  # answer with exactly this body (status `status` or 200)
    length: int | None = None  # announce this Content-Length (e.g. 10 GiB) whatever is sent
    stream: int = 0  # after `body`, stream this many zero bytes (without holding them in memory)
    drip: float = 0.0  # seconds between single bytes of the body (a slow drip)
    silent: bool = False  # accept the request and never answer (until the client gives up)


@dataclass
class Request:
    method: str
    path: str
    status: int
    bytes_sent: int
    range: str | None
    auth: bool


def _commit(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()


def _etag(path: Path) -> str:
    """A stable fake sha256 etag (hashing a sparse 5 GB file is not an option)."""
    st = path.stat()
    return hashlib.sha256(f"{path}:{st.st_size}".encode()).hexdigest()


class StandInHub:
    """The server (a ThreadingHTTPServer on 127.0.0.1:0), its repos, its injected faults and its request log.

    Routes (as huggingface_hub's hf_api.py, file_download.py and utils/_http.py call and parse them):
      GET  /api/models?search=..&sort=..&limit=..          list_models (JSON list; no Link header = one page)
      GET  /api/models/{org}/{name}[/revision/{rev}]        model_info (?blobs=True adds sizes and LFS info)
      HEAD /{org}/{name}/resolve/{rev}/{path}               get_hf_file_metadata: X-Repo-Commit, ETag, X-Linked-Etag,
                                                            X-Linked-Size, Content-Length
      GET  same, with or without Range: bytes=a-b           200, or 206 + Content-Range; 416 past the end
    Errors carry the headers hf_raise_for_status parses: X-Error-Code RepoNotFound / RevisionNotFound /
    EntryNotFound / GatedRepo (401 without a token, 403 with one), X-Error-Message. Faults can be injected per path
    (HTTP 429 / 500 a number of times, slow answers, bodies cut short). Every request is logged with the bytes sent
    (status line, headers and body), so tests measure what a plan costs at the server.

    Weight files are sparse: a real safetensors header followed by a hole (file.truncate to the full size), so a
    141 GB "Llama-3.1-70B" costs a few kB of disk. Whole-file GETs of files over 16 MiB are refused (HTTP 400):
    the planner must never download weights, and a test that tries fails at once instead of streaming zeros.

    Environment (see the `hub` fixture): huggingface_hub reads HF_ENDPOINT, HF_HUB_OFFLINE, HF_HOME, HF_HUB_CACHE and
    the token path into its `constants` module at import time, and hf_hub_url formats
    constants.HUGGINGFACE_CO_URL_TEMPLATE (built from the endpoint at import), so setting environment variables in a
    test is too late: the fixture patches those constants (ENDPOINT, HUGGINGFACE_CO_URL_TEMPLATE, HF_HUB_OFFLINE,
    HF_HOME, HF_HUB_CACHE, HF_TOKEN_PATH, HF_STORED_TOKENS_PATH) and removes HF_TOKEN from the environment, which
    huggingface_hub reads at call time.
    """

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.faults: list[Fault] = []
        self.log: list[Request] = []
        self._lock = threading.Lock()
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="stand-in-hub", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # repos
    def add_repo(self, repo_id: str, files: dict[str, Path], *, revision: str = "main", **info: Any) -> Repo:
        commit = _commit(repo_id, revision)
        repo = self.repos.get(repo_id)
        if repo is None:
            repo = self.repos[repo_id] = Repo(repo_id=repo_id, refs={}, snapshots={}, **info)
        repo.refs[revision] = commit
        repo.snapshots[commit] = Snapshot(commit, dict(files))
        return repo

    # faults and counting
    def fail(self, pattern: str, status: int, times: int | None = None, **headers: str) -> None:
        self.faults.append(Fault(pattern, status=status, times=times, headers=headers))

    def slow(self, pattern: str, seconds: float, times: int | None = None) -> None:
        self.faults.append(Fault(pattern, delay=seconds, times=times))

    def cut(self, pattern: str, keep: int, times: int | None = None) -> None:
        self.faults.append(Fault(pattern, truncate=keep, times=times))

    def answer(self, pattern: str, body: bytes | str | Any, status: int = 200, times: int | None = None,
               length: int | None = None, stream: int = 0, **headers: str) -> None:
        """Answer requests matching `pattern` with this body (bytes, text, or a value sent as JSON): a bad commit
        hash, a deep JSON, wrong types, a huge Content-Length, a redirect..."""
        raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.faults.append(Fault(pattern, status=status, times=times, body=raw, length=length, stream=stream,
                                 headers=headers))

    def drip(self, pattern: str, seconds_per_byte: float, body: bytes = b'{"sha": "' + b"0" * 40 + b'"}',
             times: int | None = None) -> None:
        """A slow drip: headers at once, then one byte every `seconds_per_byte`."""
        self.faults.append(Fault(pattern, body=body, drip=seconds_per_byte, times=times))

    def silence(self, pattern: str, times: int | None = None) -> None:
        """Read the request, then never answer (the connection stays open until the client gives up)."""
        self.faults.append(Fault(pattern, silent=True, times=times))

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.log.clear()

    @property
    def requests(self) -> list[Request]:
        """Requests a plan made, without huggingface_hub's once-a-day telemetry fetch of its agent registry
        (utils/_detect_agent.py asks {ENDPOINT}/api/agent-harnesses once per process when no cached copy exists)."""
        with self._lock:
            return [r for r in self.log if not r.path.startswith(TELEMETRY)]

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def bytes_sent(self) -> int:
        return sum(r.bytes_sent for r in self.requests)

    def _fault(self, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.pattern in path and (f.times is None or f.times > 0):
                    if f.times is not None:
                        f.times -= 1
                    return f
        return None

    def _record(self, req: Request) -> None:
        with self._lock:
            self.log.append(req)


class _QuietServer(ThreadingHTTPServer):
    """A client that gives up mid-answer (as it should with a hostile answer) is not an error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class SilentServer:
    """A TCP port that accepts connections and never says a byte: a Hub that hangs."""

    def __init__(self) -> None:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._held: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-hub", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._held.append(conn)

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for c in self._held:
            c.close()
        self._sock.close()


def closed_port_url() -> str:
    """An address where nothing listens (a port bound and released): connections are refused at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_hub: StandInHub

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._route(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._route(head=True)

    # -- plumbing
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False,
              length: int | None = None, truncate: int | None = None) -> None:
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        headers["Content-Length"] = str(len(body) if length is None else length)
        payload = b"" if head else body if truncate is None else body[:truncate]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        # recorded before anything is sent, so a client that has its answer always finds the request logged
        sent = sum(len(b) for b in self._headers_buffer) + len(b"\r\n") + len(payload)
        self.server_hub._record(Request(self.command, self.path, status, sent, self.headers.get("Range"),
                                        any(k.lower() == "authorization" for k in self.headers)))
        try:
            self.end_headers()
            self.wfile.write(payload)
            if truncate is not None:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _error(self, status: int, code: str | None, message: str, head: bool, **extra: str) -> None:
        headers = {"X-Error-Message": message, **extra}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, json.dumps({"error": message}).encode(), headers, head)

    def _route(self, head: bool) -> None:
        hub = self.server_hub
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        fault = hub._fault(path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.silent or fault.body is not None:
                self._hostile(fault, head)
                return
            if fault.status:
                self._error(fault.status, None, f"injected HTTP {fault.status}", head, **fault.headers)
                return
        truncate = fault.truncate if fault is not None else None
        if path == "/api/models":
            self._search(query, head)
            return
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+?)(?:/revision/(.+))?", path)
        if m:
            self._info(m.group(1), m.group(2) or "main", "blobs" in query, head)
            return
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            self._file(m.group(1), unquote(m.group(2)), m.group(3), head, truncate)
            return
        self._error(404, None, "Not Found", head)

    def _hostile(self, fault: Fault, head: bool) -> None:
        """Silence, a fixed body (dripped, streamed or with a lying Content-Length)."""
        self.server_hub._record(Request(self.command, self.path, fault.status or 200, 0, self.headers.get("Range"),
                                        any(k.lower() == "authorization" for k in self.headers)))
        try:
            if fault.silent:
                self.connection.settimeout(60)
                while self.connection.recv(1024):  # until the client closes (or a minute passes)
                    pass
                self.close_connection = True
                return
            assert fault.body is not None
            self.send_response(fault.status or 200)
            headers = {"Content-Type": "application/json", "Connection": "close", **fault.headers}
            length = fault.length if fault.length is not None else len(fault.body) + fault.stream
            headers["Content-Length"] = str(length)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if head:
                return
            if fault.drip:
                for i in range(len(fault.body)):
                    self.wfile.write(fault.body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(fault.drip)
            else:
                self.wfile.write(fault.body)
            zeros = bytes(1 << 16)
            left = fault.stream
            while left > 0:
                self.wfile.write(zeros[:left])
                left -= len(zeros)
            self.close_connection = True
        except OSError:  # the client gave up: what it should do
            self.close_connection = True

    # -- routes
    def _repo(self, repo_id: str, head: bool) -> Repo | None:
        repo = self.server_hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found", head)
        return repo

    def _search(self, query: dict[str, list[str]], head: bool) -> None:
        text = (query.get("search") or [""])[0].lower()
        limit = int((query.get("limit") or ["1000"])[0])
        found = sorted((r for r in self.server_hub.repos.values() if text in r.repo_id.lower()),
                       key=lambda r: -r.downloads)[:limit]
        items = [{"_id": r.repo_id, "id": r.repo_id, "downloads": r.downloads, "likes": r.likes,
                  "library_name": r.library, "pipeline_tag": r.pipeline_tag,
                  "gated": "manual" if r.gated else False, "lastModified": r.last_modified,
                  **({"safetensors": {"parameters": {"BF16": r.parameters}, "total": r.parameters}}
                     if r.parameters else {})} for r in found]
        self._send(200, json.dumps(items).encode(), head=head)

    def _info(self, repo_id: str, rev: str, blobs: bool, head: bool) -> None:
        repo = self._repo(repo_id, head)
        if repo is None:
            return
        snap = repo.snapshot(rev)
        if snap is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return
        siblings = []
        for name, p in sorted(snap.files.items()):
            sib: dict[str, Any] = {"rfilename": name}
            if blobs:
                size = p.stat().st_size
                sib.update(size=size, blobId=hashlib.sha1(name.encode()).hexdigest())
                if name.endswith(LFS_SUFFIXES):
                    sib["lfs"] = {"size": size, "sha256": _etag(p), "pointerSize": 134}
            siblings.append(sib)
        body = {"_id": repo_id, "id": repo_id, "modelId": repo_id, "sha": snap.commit, "private": False,
                "gated": "manual" if repo.gated else False, "disabled": False, "downloads": repo.downloads,
                "likes": repo.likes, "library_name": repo.library, "pipeline_tag": repo.pipeline_tag, "tags": [],
                "lastModified": repo.last_modified, "siblings": siblings}
        if repo.parameters:
            body["safetensors"] = {"parameters": {"BF16": repo.parameters}, "total": repo.parameters}
        self._send(200, json.dumps(body).encode(), head=head)

    def _file(self, repo_id: str, rev: str, name: str, head: bool, truncate: int | None) -> None:
        repo = self._repo(repo_id, head)
        if repo is None:
            return
        snap = repo.snapshot(rev)
        if snap is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return
        if repo.gated:
            auth = any(k.lower() == "authorization" for k in self.headers)
            self._error(403 if auth else 401, "GatedRepo",
                        f"Access to model {repo_id} is restricted. You must have access to it and be "
                        "authenticated to access it. Please log in.", head)
            return
        path = snap.files.get(name)
        if path is None:
            self._error(404, "EntryNotFound", f"{name} does not exist on \"{rev}\"", head,
                        **{"X-Repo-Commit": snap.commit})
            return
        size = path.stat().st_size
        lfs = name.endswith(LFS_SUFFIXES)
        etag = _etag(path) if lfs else hashlib.sha1(path.read_bytes()).hexdigest()
        headers = {"X-Repo-Commit": snap.commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(size)})
        if head:
            self._send(200, b"", headers, head=True, length=size)
            return
        rng = self.headers.get("Range")
        if rng is None:
            if size > WHOLE_FILE_LIMIT:
                self._error(400, None, f"stand-in Hub refuses to send all {size:,} bytes of {name}", head)
                return
            self._send(200, path.read_bytes(), headers, truncate=truncate)
            return
        m = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", rng)
        if m is None:
            self._error(416, None, f"bad range {rng}", head)
            return
        start = int(m.group(1))
        end = min(size - 1, int(m.group(2))) if m.group(2) else size - 1
        if start >= size:
            self._error(416, None, f"range {rng} starts past the end ({size})", head,
                        **{"Content-Range": f"bytes */{size}"})
            return
        with path.open("rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._send(206, body, headers, truncate=truncate)


# -- pytest fixtures ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def hub_server() -> Iterator[StandInHub]:
    """One stand-in Hub for the session; tests add repos (built from sparse files) with hub_server.add_repo."""
    server = StandInHub()
    yield server
    server.close()


def point_huggingface_hub_at(monkeypatch: pytest.MonkeyPatch, url: str, home: Path, offline: bool = False) -> None:
    """Make huggingface_hub talk to `url` with its cache and token files under `home` (see the module docstring
    for why constants are patched rather than environment variables)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def hub(hub_server: StandInHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInHub]:
    """The stand-in Hub, online, a fresh HF_HOME, no token, short timeouts and backoff; faults and counts reset."""
    import quantcore.sources.hub_http as qhub_http

    point_huggingface_hub_at(monkeypatch, hub_server.url, tmp_path / "hf-home")
    monkeypatch.setattr(qhub_http, "TIMEOUT_S", 2.0)
    monkeypatch.setattr(qhub_http, "BACKOFF_S", 0.01)
    monkeypatch.setattr(qhub_http, "BACKOFF_MAX_S", 0.05)
    hub_server.reset()
    yield hub_server
    hub_server.reset()
