"""The Weights tab's work, run in workers: the selection's histogram with levels, the error view of one tensor,
and a Hub tensor located, fetched by a range read, or its shard downloaded."""
from __future__ import annotations

from pathlib import Path
from typing import Any

BINS = 128


def histogram_job(source: Path | None, names: list[str], extra: dict[str, Any], pid: str | None,
                  block: int | None, progress: Any = None, cancel: Any = None) -> dict[str, Any]:
    """In a worker: the selection's histogram and outlier statistics, and the levels of pid (a typical block of the
    first matrix, or block number `block`)."""
    from quantcore.lab.inspect_tensors import block_levels, load_named, selection, typical_levels

    local = [n for n in names if n not in extra]
    refs = dict(zip(local, load_named(source, local))) if local and source is not None else {}
    ordered = [extra.get(n) or refs[n] for n in names if n in extra or n in refs]
    sel = selection(ordered, BINS, progress, cancel)
    levels, note, values = (), "", None
    first = next((r for r in ordered if len(r.shape) >= 2), None)
    if pid and first is not None:
        t = first.load()
        if block is not None:
            levels, note, vals = block_levels(pid, t, block)
            values = vals.float().numpy()
        else:
            levels, note = typical_levels(pid, t)
        note += f" ({first.name})" if len(ordered) > 1 else ""
    return {"selection": sel, "levels": levels, "note": note, "block_values": values}


def errors_job(source: Path | None, name: str, extra: dict[str, Any], precisions: list[str], info: Any, arch: Any,
               progress: Any = None, cancel: Any = None) -> tuple[str, list[Any], list[tuple[str, str]]]:
    from quantcore.lab.inspect_tensors import load_named, tensor_errors

    ref = extra.get(name) or load_named(source, [name])[0]
    errors, failed = tensor_errors(ref.load(), precisions, info, arch, progress=progress, cancel=cancel)
    return name, errors, failed


def locate_job(repo: str, name: str, progress: Any = None, cancel: Any = None) -> Any:
    from quantcore.sources.hub_tensor import locate

    return locate(repo, name, cancel=cancel)


def fetch_job(repo: str, name: str, shard: bool, progress: Any = None, cancel: Any = None) -> dict[str, Any]:
    """One tensor by a range read, or its whole shard into the Hugging Face cache (then every tensor in it)."""
    from quantcore.sources.hub_tensor import download_shard, fetch, locate, memory_ref
    from quantcore.sources.tensors import list_tensors

    rt = locate(repo, name, cancel=cancel)
    if progress is not None:
        progress(f"fetching {rt.nbytes if not shard else rt.shard_size or 0:,} bytes from {repo}", 0.1)
    if not shard:
        return {name: memory_ref(rt, fetch(rt, cancel=cancel))}
    return {r.name: r for r in list_tensors(download_shard(rt, cancel=cancel))}
