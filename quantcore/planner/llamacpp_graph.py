"""llama.cpp's compute buffer: its worst-case prompt graph replayed through ggml's graph allocator (pure Python).

llama.cpp sizes the compute buffer once, at context creation (`sched_reserve`): it builds the graph of one ubatch
of n_tokens = min(n_ubatch, n_ctx) tokens that are all outputs, attending to the whole KV cache (n_kv = n_ctx), and
lets ggml-alloc.c place every intermediate tensor in one buffer. The buffer is the high-water mark of that
placement: tensors are F32 whatever the weights are; inputs (token ids, positions, KV row indices, the KQ mask)
are placed first; a node reuses a parent's memory in place when the op allows it (ADD, MUL, RMS_NORM, ROPE,
SOFT_MAX, UNARY, SCALE) and it is that parent's last consumer; freed blocks are reused best-fit; graph outputs
(result_norm, result_output = the logits of every ubatch token) are never freed. Fragmentation is part of the
answer, so the allocator is replayed rather than approximated.

The node order per layer is the one llama.cpp's `build_llama` / `build_qwen2` produce (GGML_SCHED_DEBUG=2 lists
it): Q, V, K projections, RoPE, the two set_rows into the cache, attention (flash: one FLASH_ATTN_EXT node with an
F16 mask; without: KQ = K*Q in F32 per head, soft_max in place with an F32 mask, KQV, a contiguous copy), the
output projection, the residual, then the MLP (gate, up, SWIGLU, down; MoE: router, top-k, MUL_MAT_ID experts)
and its residual. Measured exact (within the log's 0.01 MiB) for llama/qwen2 dense and Mixtral-style MoE GGUFs
(tests/golden/accuracy/llamacpp.json). Other architectures are planned with this graph: their extra norms and
soft-capping ops run in place and add nothing, but sliding-window layers' smaller masks and MLA's projections
are not modelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

F32 = 4
F16 = 2
I32 = 4
I64 = 8
CPU_ALIGNMENT = 32  # ggml-cpu buffer alignment (TENSOR_ALIGNMENT); CUDA's is 128
# Layers replayed before the last one: the allocator's free list repeats from the second layer on, so the first
# few layers + the last layer + the output head give the same high-water mark as all of them (a test checks it).
REPLAYED_LAYERS = 2


@dataclass(frozen=True)
class GraphShape:
    """What the graph's tensor sizes depend on."""

    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int  # MLP intermediate; for MoE the routed width is n_expert_used x n_ff_exp (see moe_*)
    n_vocab: int
    n_layer: int
    gated: bool = True
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    n_ff_shexp: int = 0  # shared experts' total intermediate width (0: none)


class _Tensor:
    __slots__ = ("size", "view_src", "srcs", "inplace", "output", "input", "n_children", "n_views", "allocated",
                 "offset", "is_view", "sets_rows")

    def __init__(self, size: int, srcs: tuple[_Tensor | None, ...] = (), *, inplace: bool = False,
                 view_of: _Tensor | None = None, output: bool = False, is_input: bool = False,
                 sets_rows: bool = False) -> None:
        self.size = size
        self.srcs = srcs
        self.inplace = inplace
        self.is_view = view_of is not None
        self.view_src = (view_of.view_src or view_of) if view_of is not None else None
        self.output = output
        self.input = is_input
        self.sets_rows = sets_rows  # SET_ROWS writes into the (external) KV cache: nothing to allocate
        self.n_children = 0
        self.n_views = 0
        self.allocated = False
        self.offset = 0


class _Allocator:
    """ggml_dyn_tallocr for one chunk: best fit among the free blocks but the last, else the last (growing)."""

    def __init__(self, alignment: int) -> None:
        self.alignment = alignment
        self.blocks: list[list[int]] = [[0, 1 << 62]]  # [offset, size], sorted by offset
        self.max_size = 0

    def _pad(self, size: int) -> int:
        return -(-size // self.alignment) * self.alignment

    def alloc(self, size: int) -> int:
        size = self._pad(size)
        best, best_size = -1, None
        for i in range(len(self.blocks) - 1):
            s = self.blocks[i][1]
            if s >= size and (best_size is None or s <= best_size):
                best, best_size = i, s
        if best < 0:
            best = len(self.blocks) - 1
        block = self.blocks[best]
        offset = block[0]
        block[0] += size
        block[1] -= size
        if block[1] == 0:
            del self.blocks[best]
        self.max_size = max(self.max_size, offset + size)
        return offset

    def free(self, offset: int, size: int) -> None:
        size = self._pad(size)
        blocks = self.blocks
        for i, block in enumerate(blocks):
            if block[0] + block[1] == offset:
                block[1] += size
                if i < len(blocks) - 1 and block[0] + block[1] == blocks[i + 1][0]:
                    block[1] += blocks[i + 1][1]
                    del blocks[i + 1]
                return
            if offset + size == block[0]:
                block[0] = offset
                block[1] += size
                if i > 0 and blocks[i - 1][0] + blocks[i - 1][1] == block[0]:
                    blocks[i - 1][1] += block[1]
                    del blocks[i]
                return
        pos = 0
        while pos < len(blocks) and blocks[pos][0] < offset:
            pos += 1
        blocks.insert(pos, [offset, size])


def _allocate(alloc: _Allocator, t: _Tensor) -> None:
    """ggml_gallocr_allocate_node: in place over a parent that is used up here, else a fresh block."""
    if t is None or t.allocated or t.is_view or t.sets_rows or t.size == 0:
        return
    t.allocated = True
    # In place over a parent this node uses up (not through a view, not for a graph output: what ggml-alloc in
    # llama-cpp-python 0.3.36 does, checked node by node against its own allocator through ctypes).
    if t.inplace:
        for p in t.srcs:
            if p is None or p.is_view or p.output or not p.allocated or p.size != t.size:
                continue
            if p.n_children == 1 and p.n_views == 0:
                t.offset = p.offset
                p.allocated = False
                return
    t.offset = alloc.alloc(t.size)


def _free(alloc: _Allocator, t: _Tensor) -> None:
    if t.output:
        return
    alloc.free(t.offset, t.size)
    t.allocated = False


def replay(leafs: list[_Tensor], nodes: list[_Tensor], alignment: int = CPU_ALIGNMENT) -> int:
    """ggml_gallocr_alloc_graph_impl on this graph; returns the buffer size (the allocator's high-water mark)."""
    alloc = _Allocator(alignment)
    for leaf in leafs:
        _allocate(alloc, leaf)
    for node in nodes:
        if node.is_view:
            node.view_src.n_views += 1
        for s in node.srcs:
            if s is not None:
                s.n_children += 1
    for node in nodes:
        _allocate(alloc, node)
        for p in node.srcs:
            if p is None:
                continue
            p.n_children -= 1
            if p.n_children == 0 and p.n_views == 0:
                if p.is_view:
                    root = p.view_src
                    root.n_views -= 1
                    if root.n_views == 0 and root.n_children == 0 and root.allocated:
                        _free(alloc, root)
                elif p.allocated:
                    _free(alloc, p)
    return alloc.max_size


class _Graph:
    """Nodes appended in execution order (views included: they decide when their source is freed)."""

    def __init__(self) -> None:
        self.nodes: list[_Tensor] = []

    def op(self, size: int, *srcs: _Tensor | None, inplace: bool = False, output: bool = False,
           sets_rows: bool = False) -> _Tensor:
        x = _Tensor(size, srcs, inplace=inplace, output=output, sets_rows=sets_rows)
        self.nodes.append(x)
        return x

    def view(self, of: _Tensor) -> _Tensor:
        x = _Tensor(of.size, (of,), view_of=of)
        self.nodes.append(x)
        return x


def _layer(g: _Graph, s: GraphShape, inp: _Tensor, ins: dict[str, _Tensor], n_tokens: int, n_kv: int,
           flash: bool, last: bool, n_outputs: int) -> _Tensor:
    """One decoder layer in build_llama's order; returns l_out."""
    t, op, view = n_tokens, g.op, g.view
    e_q, e_kv = s.n_head * s.head_dim, s.n_head_kv * s.head_dim
    norm = op(s.n_embd * t * F32, inp, inplace=True)  # RMS_NORM
    cur = op(norm.size, norm, None, inplace=True)  # MUL by the norm weight
    q = op(e_q * t * F32, None, cur)  # MUL_MAT wq
    q = op(q.size, view(q), ins["pos"], inplace=True)  # ROPE over the reshaped view
    v = op(e_kv * t * F32, None, cur)
    v_r = view(v)
    k = op(e_kv * t * F32, None, cur)
    k = op(k.size, view(k), ins["pos"], inplace=True)
    op(0, view(k), ins["k_idxs"], None, sets_rows=True)  # SET_ROWS into the K cache
    op(0, view(v_r), ins["v_idxs"], None, sets_rows=True)
    q_p = view(q)  # permute
    if flash:
        o = op(e_q * t * F32, q_p, None, None, ins["mask"])  # FLASH_ATTN_EXT, F32 result
        o = view(o)
    else:
        kq = op(n_kv * t * s.n_head * F32, None, q_p)  # MUL_MAT k, q: F32 scores per head
        kq = op(kq.size, kq, ins["mask"], inplace=True)  # SOFT_MAX with the F32 mask
        kqv = op(s.head_dim * t * s.n_head * F32, None, kq)
        o = op(kqv.size, view(kqv))  # CONT of the permuted result
    attn = op(s.n_embd * t * F32, None, o)  # MUL_MAT wo
    if last:
        attn = op(s.n_embd * n_outputs * F32, attn, ins["out_ids"])  # GET_ROWS of the output rows
        inp = op(s.n_embd * n_outputs * F32, inp, ins["out_ids"])
        t = n_outputs
    ffn_inp = op(attn.size, attn, inp, inplace=True)  # ADD residual
    norm = op(ffn_inp.size, ffn_inp, inplace=True)
    cur = op(norm.size, norm, None, inplace=True)
    out = _moe(g, s, cur, t) if s.n_expert else _mlp(g, s, cur, t, s.n_ff)
    return op(out.size, out, ffn_inp, inplace=True)  # ADD residual -> l_out


def _mlp(g: _Graph, s: GraphShape, cur: _Tensor, t: int, width: int) -> _Tensor:
    if s.gated:
        gate = g.op(width * t * F32, None, cur)
        up = g.op(width * t * F32, None, cur)
        act = g.op(width * t * F32, gate, up)  # SWIGLU (GLU ops are not in place)
    else:
        up = g.op(width * t * F32, None, cur)
        act = g.op(up.size, up, inplace=True)  # GELU (UNARY, in place)
    return g.op(s.n_embd * t * F32, None, act)


def _moe(g: _Graph, s: GraphShape, cur: _Tensor, t: int) -> _Tensor:
    """build_moe_ffn (Mixtral / Qwen-MoE style): router logits, soft_max, argsort and its top-k view, the chosen
    weights (GET_ROWS) normalised by their sum, MUL_MAT_ID gate/up/down for the k chosen experts of every token,
    weighting, and the sum over the k slots; a shared expert's MLP is added on top."""
    op, view, k, n = g.op, g.view, s.n_expert_used, s.n_expert
    probs = op(n * t * F32, op(n * t * F32, None, cur), inplace=True)  # router MUL_MAT, SOFT_MAX
    top_k = view(op(n * t * I32, probs))  # ARGSORT, top-k view
    weights = op(k * t * F32, view(probs), top_k)  # GET_ROWS
    total = op(t * F32, view(weights))  # SUM_ROWS
    total = op(total.size, total, inplace=True)  # CLAMP
    weights = op(k * t * F32, view(weights), total, inplace=True)  # DIV
    x = view(cur)
    width = s.n_ff_exp * k
    gate = op(width * t * F32, None, x, top_k)  # MUL_MAT_ID
    up = op(width * t * F32, None, x, top_k)
    act = op(width * t * F32, gate, up)  # SWIGLU
    down = op(s.n_embd * k * t * F32, None, act, top_k)
    down = op(down.size, down, weights, inplace=True)  # MUL by the weights
    slots = [view(down) for _ in range(k)]
    out = op(s.n_embd * t * F32, slots[0], slots[1] if k > 1 else None)  # ADD of the k slots
    for extra in slots[2:]:
        out = op(out.size, out, extra, inplace=True)
    if s.n_ff_shexp:
        out = op(out.size, out, _mlp(g, s, cur, t, s.n_ff_shexp), inplace=True)
    return out


@lru_cache(maxsize=4096)
def compute_buffer_bytes(shape: GraphShape, n_tokens: int, n_kv: int, flash_attention: bool,
                         n_outputs: int | None = None, alignment: int = CPU_ALIGNMENT) -> int:
    """Bytes of llama.cpp's compute buffer for a ubatch of n_tokens attending to n_kv cache cells.

    n_outputs defaults to n_tokens (llama.cpp reserves with every token an output, so the logits of the whole
    ubatch, n_tokens x n_vocab x 4 B, are always in the buffer).
    """
    if n_tokens <= 0 or n_kv <= 0:
        return 0
    n_out = n_tokens if n_outputs is None else n_outputs
    t, e_kv = n_tokens, shape.n_head_kv * shape.head_dim
    ins = {
        "tokens": _Tensor(t * I32, is_input=True),
        # llm_graph_input_embd makes both a token-id and an embedding input; a token batch leaves the second
        # (n_embd x n_tokens F32) allocated and unused for the whole graph
        "embd": _Tensor(shape.n_embd * t * F32, is_input=True),
        "pos": _Tensor(t * I32, is_input=True),
        "k_idxs": _Tensor(t * I64, is_input=True),
        # without flash attention the V cache is stored transposed and rows are set element by element
        "v_idxs": _Tensor(t * I64 if flash_attention else t * e_kv * I64, is_input=True),
        "mask": _Tensor(n_kv * t * (F16 if flash_attention else F32), is_input=True),
        "out_ids": _Tensor(n_out * I32, is_input=True),
    }
    g = _Graph()
    inp = g.op(shape.n_embd * t * F32, None, ins["tokens"])  # GET_ROWS of the token embeddings
    layers = shape.n_layer
    replayed = list(range(min(layers - 1, REPLAYED_LAYERS))) + [layers - 1]
    for il in replayed:
        inp = _layer(g, shape, inp, ins, t, n_kv, flash_attention, il == layers - 1, n_out)
    result_norm = g.op(inp.size, g.op(inp.size, inp, inplace=True), None, inplace=True, output=True)
    g.op(shape.n_vocab * n_out * F32, None, result_norm, output=True)  # result_output: the logits
    leafs = [ins[k] for k in ("tokens", "embd", "pos", "k_idxs", "v_idxs", "mask", "out_ids")]
    return replay(leafs, g.nodes, alignment)
