"""The plan's sections of a report, from the plan dict: title block, summary, model, memory, fit, cost and speed."""
from __future__ import annotations

from typing import Any

from quantcore.report import charts, fmt
from quantcore.report.document import Block, Bullets, Chart, Facts, Heading, Para, Span, Table, b, spans
from quantcore.report.quality_report import change_text


def extras(data: dict[str, Any]) -> dict[str, Any]:
    return data.get("report") or {}


def recommendations(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The recommended precision and count per chosen GPU (stored by report_dict; worked out here for a bare plan:
    the planner's own pick when one fits on a single GPU, else the fewest GPUs that hold everything)."""
    stored = extras(data).get("recommendations")
    if stored is not None:
        return list(stored)
    planner = data.get("recommendations") or []
    out = []
    for i, name in enumerate(fmt.gpu_names(data)):
        gid = data["rows"][0]["gpus"][i]["gpu"]
        pick = planner[i] if i < len(planner) and isinstance(planner[i], dict) else {}
        if pick.get("precision"):
            out.append({"gpu": gid, "precision": pick["precision"], "count": 1, "layout": "placement", "text": ""})
            continue

        def gpus_of(r: dict[str, Any]) -> int | None:
            g = r["gpus"][i]
            multi = g.get("multi_gpu") if isinstance(g.get("multi_gpu"), dict) else None
            return multi.get("gpus") if multi is not None else g["count"]

        placed = [r for r in data["rows"] if gpus_of(r)]
        good = [r for r in placed if r["bits_per_weight"] >= 4] or placed
        if not good:
            out.append({"gpu": gid, "precision": None, "count": None, "text": ""})
            continue
        fewest = min(gpus_of(r) for r in good)
        best = max((r for r in good if gpus_of(r) == fewest),
                   key=lambda r: (min(r["bits_per_weight"], 16.0), -r["memory"]["total"], r["precision"] == "bf16"))
        out.append({"gpu": gid, "precision": best["precision"], "count": fewest, "layout": "multi_gpu", "text": ""})
    return out


def as_layout(opt: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """The GPU option as the recommendation runs it: its own figures, or, for the fewest-GPU layout, that layout's
    (GPU count, per-GPU memory, prices, speed estimates; no largest context or batch is worked out for it)."""
    multi = opt.get("multi_gpu")
    if rec.get("layout") != "multi_gpu" or not isinstance(multi, dict):
        return opt
    keys = ("kind", "gpus", "tensor_parallel", "pipeline_parallel", "gpu_layers", "total_layers", "host_bytes",
            "badge")
    view = dict(opt)
    view.update(count=multi.get("gpus"), fits=multi.get("kind") == "single",
                placement={k: multi.get(k) for k in keys},
                per_gpu={"total": multi["per_gpu_total"]} if multi.get("per_gpu_total") is not None else None,
                max_context=None, max_batch=None)
    for k in ("purchase_usd", "hourly_usd", "decode_tokens_per_s", "prefill_tokens_per_s", "cost_per_million_tokens",
              "speed_basis"):
        view[k] = multi.get(k)
    return view


def title_facts(data: dict[str, Any], unit: str) -> list[Block]:
    m, w, x = data["model"], data["workload"], extras(data)
    arch = []
    if m.get("layers"):
        arch.append(f"{m['layers']} layers, hidden {m.get('hidden_size', 0):,}")
        arch.append(f"{m.get('heads')} heads / {m.get('kv_heads')} KV heads, head_dim {m.get('head_dim')}")
        if m.get("vocab_size"):
            arch.append(f"vocabulary {m['vocab_size']:,}")
        if m.get("max_context"):
            arch.append(f"context limit {m['max_context']:,}")
        if m.get("experts"):
            arch.append(f"{m['experts']} experts, {m.get('experts_per_token')} per token")
    params = fmt.params(m["parameters"]) + (f" ({fmt.params(m['active_parameters'])} active per token)"
                                            if m.get("active_parameters") != m["parameters"] else "")
    rows = [("Model", str(m["id"])),
            ("Revision", str(x.get("revision") or "not pinned (the repository's default branch)")),
            ("Sizes", fmt.SOURCES.get(m.get("source", ""), str(m.get("source")))),
            ("Architecture", f"{m.get('architecture', 'unknown')}" + (": " + ", ".join(arch) if arch else "")),
            ("Parameters", f"{params}; {m.get('tensors', 0):,} tensors, {fmt.size_u(m.get('stored_bytes'), unit)} "
                           f"as stored" + (f" ({m['quantization']})" if m.get("quantization") else "")),
            ("Workload", workload_text(w)),
            ("GPUs", "; ".join(f"{g.get('name') or g['gpu']} ({fmt.size_u(g['gpu_memory_bytes'], unit)}, "
                               f"{fmt.size_u(g['usable_bytes'], unit)} usable)"
                               for g in (data["rows"][0]["gpus"] if data["rows"] else [])) or "none chosen"),
            ("Precisions", precisions_text(data))]
    if w.get("mode", "inference") != "inference":
        rows.insert(6, ("Training", training_text(w)))
    if x.get("generated"):
        rows.append(("Generated", x["generated"].replace("T", " ").replace("Z", " UTC")))
    if x.get("quantplanner_version"):
        rows.append(("QuantPlanner", str(x["quantplanner_version"])))
    if x.get("command"):
        rows.append(("Command", str(x["command"])))
    return [Facts(tuple(rows), mono=("Command",))]


def workload_text(w: dict[str, Any]) -> str:
    parts = [str(w.get("mode", "inference")), f"batch {w.get('batch', 1)}",
             f"context {int(w.get('context', 0)):,} tokens per sequence", f"KV cache {w.get('kv_dtype', 'fp16')}",
             f"engine {w.get('engine', 'hf')}",
             "flash attention " + ("on" if w.get("flash_attention", True) else "off")]
    if w.get("overhead_bytes") is not None:
        parts.append(f"overhead set to {int(w['overhead_bytes']):,} B per GPU")
    if w.get("gpu_memory_utilization"):
        parts.append(f"GPU memory utilization {w['gpu_memory_utilization']:.2f}")
    if w.get("host_ram_bytes"):
        parts.append(f"host RAM {fmt.size_u(w['host_ram_bytes'], 'GiB', 0)}")
    return ", ".join(parts)


def training_text(w: dict[str, Any]) -> str:
    parts = [f"optimizer {w.get('optimizer')}", f"recomputation {w.get('recompute')}"]
    if w.get("recipe"):
        parts.insert(0, f"recipe {w['recipe']}")
    if w.get("mode") in ("lora", "qlora"):
        parts.append(f"LoRA rank {w.get('lora_rank')} on {', '.join(w.get('lora_targets') or [])}")
    if w.get("zero_stage"):
        parts.append(f"ZeRO stage {w['zero_stage']} over {w.get('data_parallel', 1)} GPUs")
    if w.get("dataset_tokens"):
        parts.append(f"dataset {int(w['dataset_tokens']):,} tokens x {w.get('epochs', 1)} epochs")
    return ", ".join(parts)


def precisions_text(data: dict[str, Any]) -> str:
    ids = [r["precision"] for r in data["rows"]]
    asked = extras(data).get("precisions_requested")
    text = ", ".join(ids) if asked else f"all {len(ids)} that suit the mode: {', '.join(ids)}"
    if data.get("skipped"):
        text += f" (skipped for this mode: {', '.join(data['skipped'])})"
    return text


def _row(data: dict[str, Any], pid: str | None) -> dict[str, Any] | None:
    return next((r for r in data["rows"] if r["precision"] == pid), None)


def summary(data: dict[str, Any], unit: str) -> list[Block]:
    blocks: list[Block] = [Heading("Summary")]
    recs = recommendations(data)
    if not recs:
        blocks.append(Para(spans("No GPU was chosen: the report lists memory per precision only. Add --gpu NAME to "
                                 "see what fits, how many GPUs it takes and what it costs.")))
    caveats: list[tuple[Span, ...]] = []
    for i, rec in enumerate(recs):
        row = _row(data, rec.get("precision"))
        name = fmt.gpu_names(data)[i]
        if row is None:
            blocks.append(Para(spans(b(f"{name}: "), f"the model does not fit on up to 64 x {name} at any precision "
                                     "with this workload.")))
            continue
        opt = as_layout(row["gpus"][i], rec)
        blocks.append(Para(_recommendation_spans(data, row, opt, unit), "lead"))
        caveats += _caveats(data, row, opt, unit)
        own = row["gpus"][i]
        place = own.get("placement") or {}
        if opt is not own and place.get("kind") == "offload":  # the one-card alternative, said as such
            speed = own.get("decode_tokens_per_s")
            blocks.append(Para(spans(
                f"With one {fmt.short_gpu(name)} instead: partial offload keeps {place.get('gpu_layers')} of "
                f"{place.get('total_layers')} layers on the GPU and needs {fmt.size_u(place.get('host_bytes'), unit)} "
                "of system RAM" + (f", at about {fmt.rate(speed)} tokens/s decoding (bound by host memory "
                                   "bandwidth)" if speed else "") + ".")))
    seen, unique = set(), []
    for c in caveats + [spans(w) for w in data.get("warnings") or []]:
        if c not in seen:
            seen.add(c)
            unique.append(c)
    if unique:
        blocks += [Para(spans(b("Caveats"))), Bullets(tuple(unique), "caveat")]
    return blocks


def _recommendation_spans(data: dict[str, Any], row: dict[str, Any], opt: dict[str, Any], unit: str) -> tuple:
    name, n = opt.get("name") or opt["gpu"], opt["count"]
    per = (opt.get("per_gpu") or {}).get("total")
    spare = opt["usable_bytes"] - per if per is not None else None
    parts: list[Any] = [b(f"On {fmt.short_gpu(name)}: "), "run ", b(row["precision"]),
                        f" ({row['bits_per_weight']:.2f} bits per weight) on ", b(f"{n} x {name}"),
                        f" ({fmt.placement_text(opt)}). "]
    parts.append(f"The model needs {fmt.size_u(row['memory']['total'], unit)} in all")
    if per is not None:
        parts.append(f"; each GPU holds {fmt.size_u(per, unit)} of its {fmt.size_u(opt['usable_bytes'], unit)} usable "
                     f"({fmt.size_u(spare, unit)} to spare)")
    parts.append(". ")
    money = []
    if opt.get("purchase_usd") is not None:
        money.append(f"{fmt.money(opt['purchase_usd'])} to buy")
    if opt.get("hourly_usd") is not None:
        money.append(f"{fmt.money(opt['hourly_usd'], 2)} per hour to rent")
    if money:
        parts.append(f"The GPUs cost {' or '.join(money)}. ")
    train = opt.get("training")
    if isinstance(train, dict) and train.get("tokens_per_s"):
        parts.append(f"Training runs at about {fmt.rate(train['tokens_per_s'])} tokens/s: "
                     f"{train.get('hours', 0):,.1f} hours, {train.get('gpu_hours', 0):,.1f} GPU-hours"
                     + (f", {fmt.money(train['cost_usd'])}" if train.get("cost_usd") is not None else "") + ". ")
    elif opt.get("decode_tokens_per_s"):
        batch = data["workload"].get("batch", 1)
        parts.append(f"Expected speed (estimate): about {fmt.rate(opt['decode_tokens_per_s'])} tokens/s decoding "
                     f"(batch {batch}) and {fmt.rate(opt.get('prefill_tokens_per_s'))} tokens/s prefill")
        if opt.get("cost_per_million_tokens") is not None:
            parts.append(f", {fmt.money(opt['cost_per_million_tokens'], 2)} per million generated tokens")
        parts.append(". ")
    if opt.get("max_context"):
        parts.append(f"Largest context that fits: {opt['max_context']:,} tokens at batch "
                     f"{data['workload'].get('batch', 1)}; largest batch at {data['workload'].get('context', 0):,} "
                     f"tokens: {opt.get('max_batch') or 0:,}.")
    return spans(*parts)


def _caveats(data: dict[str, Any], row: dict[str, Any], opt: dict[str, Any], unit: str) -> list[tuple[Span, ...]]:
    out = []
    src = data["model"].get("source")
    if src == "config":
        out.append(spans("Sizes are analytic (from config.json, as transformers would build the model); planning "
                         "the Hub repository online reads the exact tensor sizes from its safetensors headers."))
    elif src == "count":
        out.append(spans("The model is a guess shaped from a bare parameter count: treat every figure as rough."))
    if row["bits_per_weight"] < 4:
        out.append(spans(f"{row['precision']} is below 4 bits per weight: quality falls off sharply there "
                         "(Dettmers & Zettlemoyer 2023, k-bit inference scaling laws)."))
    per = (opt.get("per_gpu") or {}).get("total")
    if per is not None and opt["usable_bytes"] - per < 0.05 * opt["usable_bytes"]:
        out.append(spans(f"Only {fmt.size_u(opt['usable_bytes'] - per, unit)} per GPU to spare (under 5% of the "
                         "card): a longer prompt or a larger batch will not fit."))
    if (opt.get("count") or 0) > 1:
        out.append(spans("Multi-GPU placements leave out communication buffers (NCCL) and need the GPUs in one "
                         "machine with a fast interconnect for the speeds shown."))
    placement = opt.get("placement") or {}
    if placement.get("kind") == "offload":
        out.append(spans(f"Partial offload keeps {placement.get('gpu_layers')} of {placement.get('total_layers')} "
                         f"layers on the GPU and needs {fmt.size_u(placement.get('host_bytes'), unit)} of system "
                         "RAM; decoding is bound by host memory bandwidth."))
    basis = opt.get("speed_basis")
    basis = basis.removeprefix("estimate ") if isinstance(basis, str) else basis  # "Speeds are estimates: (llama.cpp...)"
    out.append(spans("Speeds are estimates" + (f": {basis}" if basis else ", roofline bounds at the efficiencies in "
                                               "the assumptions") + "; measure on the target before buying."))
    if opt.get("purchase_usd") is not None or opt.get("hourly_usd") is not None:
        out.append(spans("Prices are the GPU catalog's reference figures (resources/gpus.toml); quotes vary."))
    return out


def model_section(data: dict[str, Any], unit: str) -> list[Block]:
    by_role = extras(data).get("parameters_by_role")
    if not by_role:
        return []
    total = sum(by_role.values()) or 1
    tensors = extras(data).get("tensors_by_role") or {}
    rows = tuple((role, f"{tensors.get(role, 0):,}", f"{n:,}", f"{100 * n / total:.1f}%")
                 for role, n in by_role.items())
    rows += (("total", f"{sum(tensors.values()):,}", f"{sum(by_role.values()):,}", "100%"),)
    return [Heading("Model"),
            Table(("role", "tensors", "parameters", "share"), rows, "lrrr",
                  caption="Parameters by role (norms and biases included; stored buffers such as rotary tables left "
                          "out).", bold_rows=(len(rows) - 1,))]


def memory_section(data: dict[str, Any], unit: str) -> list[Block]:
    rows = data["rows"]
    if not rows:
        return [Heading("Memory"), Para(spans("No precision suits this mode."))]
    comps = charts.components_present(rows)
    recs = {r.get("precision") for r in recommendations(data)}
    with_engine = any(r.get("engine") for r in rows)
    with_quality = any(isinstance(r.get("quality"), dict) for r in rows)
    headers = ["precision", "bits/w"] + (["engine"] if with_engine else []) + \
        [fmt.COMPONENT_NAMES[c] for c in comps] + ["total"] + (["quality"] if with_quality else [])
    body = []
    for r in rows:
        cells = [r["precision"] + (" (as stored)" if r.get("as_stored") else ""), f"{r['bits_per_weight']:.2f}"]
        if with_engine:
            cells.append(str(r.get("engine") or "-"))
        cells += [fmt.size(r["memory"].get(c), unit) for c in comps] + [fmt.size(r["memory"]["total"], unit)]
        if with_quality:
            q = r.get("quality")
            short = {"measured": "meas.", "published": "publ.", "estimate": "est."}
            cells.append(f"{change_text(q)} ({short.get(q.get('kind'), '?')})" if isinstance(q, dict) else "-")
        body.append(tuple(cells))
    align = "lr" + ("l" if with_engine else "") + "r" * (len(comps) + 1) + ("l" if with_quality else "")
    blocks: list[Block] = [
        Heading("Memory"),
        Table(tuple(headers), tuple(body), align,
              caption=f"{unit} per memory line for the whole model (before any split across GPUs); bits/w includes "
                      "block scales and zero-points; quality: the expected change (measured, published or estimated; "
                      "its metric and source under Expected quality). Bold: recommended.",
              bold_rows=tuple(i for i, r in enumerate(rows) if r["precision"] in recs),
              ),
        Chart(charts.memory_bars(data, unit),
              "Memory per precision, stacked by line; dashed: each chosen GPU's usable memory.")]
    curves = charts.context_curves(data, unit)
    if curves is not None:
        blocks.append(Chart(curves, "Total memory as the context grows (batch and everything else as planned); "
                                    "dashed: GPU capacities; dotted: the planned context."))
    return blocks


def fit_section(data: dict[str, Any], unit: str) -> list[Block]:
    names = fmt.gpu_names(data)
    blocks: list[Block] = [Heading("Fit and limits")] if names or extras(data).get("fit_heatmap") else []
    recs = {i: r.get("precision") for i, r in enumerate(recommendations(data))}
    for i, name in enumerate(names):
        body, shade = [], []
        for r in data["rows"]:
            o = r["gpus"][i]
            per = (o.get("per_gpu") or {}).get("total")
            body.append((r["precision"], fmt.count(o["count"]), fmt.placement_text(o), fmt.size(per, unit),
                         fmt.size(o["usable_bytes"] - per, unit) if per is not None else "-",
                         fmt.integer(o.get("max_context")), fmt.integer(o.get("max_batch"))))
            shade.append((None, charts.count_colour(o["count"])) + (None,) * 5)
        blocks += [Heading(f"On {name}", 2),
                   Table(("precision", "GPUs", "placement", f"per GPU ({unit})", f"spare ({unit})", "largest context",
                          "largest batch"), tuple(body), "lrlrrrr",
                         caption=f"{fmt.size_u(data['rows'][0]['gpus'][i]['usable_bytes'], unit)} usable per GPU. "
                                 "Largest context at the planned batch, largest batch at the planned context.",
                         shade=tuple(shade),
                         bold_rows=tuple(k for k, r in enumerate(data["rows"]) if r["precision"] == recs.get(i)))]
    heat = charts.fit_heatmap(data, unit)
    if heat is not None:
        blocks.append(Chart(heat, "GPUs needed on every catalog GPU at each precision, for this workload; the chosen "
                                  "GPUs are outlined."))
    return blocks


def cost_section(data: dict[str, Any], unit: str) -> list[Block]:
    names = fmt.gpu_names(data)
    if not names:
        return []
    training = data["workload"].get("mode", "inference") != "inference"
    blocks: list[Block] = [Heading("Cost and speed")]
    for i, name in enumerate(names):
        body = []
        for r in data["rows"]:
            o = r["gpus"][i]
            t = o.get("training") if isinstance(o.get("training"), dict) else None
            if training and t:
                body.append((r["precision"], fmt.count(o["count"]), fmt.money(o.get("purchase_usd")),
                             fmt.money(o.get("hourly_usd"), 2), fmt.rate(t.get("tokens_per_s")),
                             f"{t.get('hours', 0):,.1f}", f"{t.get('gpu_hours', 0):,.1f}",
                             fmt.money(t.get("cost_usd"))))
            else:
                body.append((r["precision"], fmt.count(o["count"]), fmt.money(o.get("purchase_usd")),
                             fmt.money(o.get("hourly_usd"), 2), fmt.rate(o.get("decode_tokens_per_s")),
                             fmt.rate(o.get("prefill_tokens_per_s")), fmt.money(o.get("cost_per_million_tokens"), 2)))
        has_training = training and any(r["gpus"][i].get("training") for r in data["rows"])
        headers = (("precision", "GPUs", "purchase", "per hour", "train tok/s", "hours", "GPU-hours", "cost")
                   if has_training else
                   ("precision", "GPUs", "purchase", "per hour", "decode tok/s", "prefill tok/s", "$ / M tokens"))
        caption = ("Training throughput, time and cost for the dataset and epochs planned." if has_training else
                   f"Decode at batch {data['workload'].get('batch', 1)} and prefill of "
                   f"{int(data['workload'].get('context', 0)):,} tokens, estimated; cost per million generated tokens "
                   "at the hourly price.")
        blocks += [Heading(f"On {name}", 2), Table(headers, tuple(body), caption=caption)]
    return blocks

