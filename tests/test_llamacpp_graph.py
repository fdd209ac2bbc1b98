"""llama.cpp's compute buffer as the planner replays it (the measured cases are in test_accuracy_golden.py)."""
from __future__ import annotations

import pytest

import quantcore.planner.llamacpp_graph as graph
from quantcore.planner.llamacpp_graph import GraphShape, compute_buffer_bytes

MiB = 2**20
SHAPES = (
    GraphShape(4096, 32, 8, 128, 14336, 128256, 32),  # Llama-3-8B
    GraphShape(8192, 64, 8, 128, 28672, 128256, 80),  # Llama-3-70B
    GraphShape(3584, 28, 4, 128, 18944, 152064, 28),  # Qwen2-7B
    GraphShape(1024, 32, 8, 32, 2816, 512, 6),  # small vocabulary: the layers set the peak
)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("flash", [True, False])
def test_replaying_a_few_layers_equals_replaying_all(monkeypatch, shape, flash):
    short = compute_buffer_bytes.__wrapped__(shape, 512, 8192, flash)
    monkeypatch.setattr(graph, "REPLAYED_LAYERS", 10**6)
    assert compute_buffer_bytes.__wrapped__(shape, 512, 8192, flash) == short


def test_logits_of_the_whole_ubatch_are_reserved():
    llama3 = SHAPES[0]
    # n_ubatch x n_vocab x 4 B of logits (250.5 MiB at 512 x 128,256) plus the output norm and the unused
    # embedding input (n_embd x n_ubatch x 4 B each), and the small inputs (token ids, positions...)
    extra = compute_buffer_bytes(llama3, 512, 4096, True) - (512 * 128256 * 4 + 2 * 512 * 4096 * 4)
    assert 0 <= extra < 64 * 1024
    assert compute_buffer_bytes(llama3, 128, 4096, True) < compute_buffer_bytes(llama3, 512, 4096, True) / 3


def test_without_flash_attention_scores_are_f32_per_head():
    llama3 = SHAPES[0]
    grow = compute_buffer_bytes(llama3, 512, 65536, False) - compute_buffer_bytes(llama3, 512, 32768, False)
    # 32,768 more cache cells: F32 KQ for 32 heads + the F32 mask, 4 B per score
    assert grow == 32768 * 512 * 4 * (32 + 1)
    flash_grow = compute_buffer_bytes(llama3, 512, 65536, True) - compute_buffer_bytes(llama3, 512, 32768, True)
    assert flash_grow <= 32768 * 512 * 2  # with flash attention only the F16 mask grows
