"""GPTQ / AWQ checkpoint packing against hand-computed words and the readers' own bit rules (AutoGPTQ, AutoAWQ)."""
from __future__ import annotations

import pytest
import torch

from quantcore.errors import BadInputError
from quantcore.formats import gptq_pack as gp


def _u32(x: int) -> int:
    """An int32 word as the unsigned bits a reader shifts."""
    return x & 0xFFFFFFFF


def _bit_spec_pack(values: list[int], bits: int) -> list[int]:
    """One column packed bit by bit: bit t of value k is stream bit k*bits + t; word w = stream bits 32w..32w+31."""
    n_words = -(-len(values) * bits // 32)
    words = [0] * n_words
    for k, v in enumerate(values):
        for t in range(bits):
            if (v >> t) & 1:
                pos = k * bits + t
                words[pos // 32] |= 1 << (pos % 32)
    return words


def test_4bit_words_by_hand() -> None:
    codes = torch.tensor([[0, 15], [1, 14], [2, 13], [3, 12], [4, 11], [5, 10], [6, 9], [7, 8]])
    packed = gp.pack_rows(codes, 4)
    assert packed.dtype == torch.int32 and packed.shape == (1, 2)
    assert _u32(int(packed[0, 0])) == 0x76543210  # first value in the lowest nibble (AutoGPTQ's << bits * j)
    assert _u32(int(packed[0, 1])) == 0x89ABCDEF
    assert int(packed[0, 1]) == 0x89ABCDEF - 2**32  # stored as a negative int32, as torch.int32 checkpoints hold it


def test_3bit_straddling_values_by_hand() -> None:
    # 32 values fill 3 words; value 10 straddles words 0/1 (bits 30-32), value 21 words 1/2 (bits 63-65)
    col = [0] * 32
    col[10] = 0b011
    assert [_u32(int(w)) for w in gp.pack_rows(torch.tensor(col).view(-1, 1), 3)[:, 0]] == [0xC0000000, 0, 0]
    col[10] = 0b100
    assert [_u32(int(w)) for w in gp.pack_rows(torch.tensor(col).view(-1, 1), 3)[:, 0]] == [0, 1, 0]
    col = [0] * 32
    col[21] = 0b110
    assert [_u32(int(w)) for w in gp.pack_rows(torch.tensor(col).view(-1, 1), 3)[:, 0]] == [0, 0, 3]
    col[21] = 0b001
    assert [_u32(int(w)) for w in gp.pack_rows(torch.tensor(col).view(-1, 1), 3)[:, 0]] == [0, 0x80000000, 0]
    assert [_u32(int(w)) for w in gp.pack_rows(torch.full((32, 1), 7), 3)[:, 0]] == [0xFFFFFFFF] * 3


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("n", [1, 7, 32, 33, 100, 384])
def test_pack_matches_bit_spec_and_round_trips(bits: int, n: int) -> None:
    gen = torch.Generator().manual_seed(bits * 1000 + n)
    codes = torch.randint(0, 2**bits, (n, 3), generator=gen)
    packed = gp.pack_rows(codes, bits)
    assert packed.shape == (-(-n * bits // 32), 3)  # formats.catalog's ceil(in * bits / 32)
    for c in range(3):
        assert [_u32(int(w)) for w in packed[:, c]] == _bit_spec_pack(codes[:, c].tolist(), bits)
    assert torch.equal(gp.unpack_rows(packed, bits, n), codes)
    assert torch.equal(gp.unpack_cols(gp.pack_cols(codes.t(), bits), bits, n), codes.t())


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_autogptq_reader_reads_our_words(bits: int) -> None:
    """AutoGPTQ's torch path: (qweight[:, None, :] >> [0, bits, 2 bits, ...]) & maxq, rows in order."""
    codes = torch.randint(0, 2**bits, (128, 5), generator=torch.Generator().manual_seed(bits))
    qweight = gp.pack_rows(codes, bits)
    shifts = torch.arange(0, 32, bits, dtype=torch.int32)
    read = torch.bitwise_and(torch.bitwise_right_shift(qweight[:, None, :], shifts[None, :, None]), 2**bits - 1)
    assert torch.equal(read.reshape(-1, 5).long(), codes)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_v1_zeros_per_field_and_gptqmodel_word_arithmetic(bits: int) -> None:
    gen = torch.Generator().manual_seed(7)
    zeros = torch.randint(1, 2**bits, (3, 64), generator=gen)  # no zero-point 0: both v1 writers agree
    qzeros = gp.pack_cols(gp.v1_zeros(zeros, bits), bits)
    # readers add one per field
    assert torch.equal((gp.unpack_cols(qzeros, bits, 64) + 1) & (2**bits - 1), zeros)
    # GPTQModel's v2 -> v1 export: subtract 0x11111111 (4-bit; 0x01010101 8-bit; 0x55555555 2-bit) from each word
    one_per_field = sum(1 << s for s in range(0, 32, bits))
    v2 = gp.pack_cols(zeros, bits).long() & 0xFFFFFFFF
    assert torch.equal(qzeros.long() & 0xFFFFFFFF, (v2 - one_per_field) & 0xFFFFFFFF)
    # a zero-point of 0 is the all-ones field, which the per-field readers take back to 0
    z0 = torch.zeros(1, 32 // bits, dtype=torch.long)
    assert _u32(int(gp.pack_cols(gp.v1_zeros(z0, bits), bits)[0, 0])) == 0xFFFFFFFF


def test_awq_gemm_order_by_hand() -> None:
    codes = torch.arange(8).view(1, 8)  # column j holds value j
    word = gp.pack_cols(gp.awq_interleave(codes), 4)
    # nibble i holds column AWQ_ORDER[i] = 0, 2, 4, 6, 1, 3, 5, 7
    assert _u32(int(word[0, 0])) == 0x75316420
    # AutoAWQ's reader: shifts 0, 4, ..., 28 then columns reordered by AWQ_REVERSE_ORDER [0, 4, 1, 5, 2, 6, 3, 7]
    fields = (word[:, :, None] >> torch.arange(0, 32, 4)[None, None, :]).reshape(1, -1) & 15
    assert fields[:, [0, 4, 1, 5, 2, 6, 3, 7]].tolist() == [list(range(8))]


def test_awq_partial_word_is_zero_padded() -> None:
    codes = torch.randint(0, 16, (4, 13), generator=torch.Generator().manual_seed(3))
    packed = gp.pack_cols(gp.awq_interleave(codes), 4)
    assert packed.shape == (4, 2)  # ceil(13 * 4 / 32)
    assert torch.equal(gp.awq_deinterleave(gp.unpack_cols(packed, 4, 16), 13), codes)


def test_family_ids() -> None:
    assert gp.family_params("gptq-4bit-g128") == ("gptq", 4, 128)
    assert gp.family_params("GPTQ-8bit-nogroup") == ("gptq", 8, -1)
    assert gp.family_params("gptq-3bit-g32") == ("gptq", 3, 32)
    assert gp.family_params("awq-4bit-g64") == ("awq", 4, 64)
    assert gp.family_params("gptq-4bit-g128", bits=2, group_size=-1) == ("gptq", 2, -1)
    for bad in ("gptq-5bit-g128", "awq-8bit-g128", "gptq-4bit-g0", "nf4", "gptq-4bit"):
        with pytest.raises(BadInputError):
            gp.family_params(bad)
