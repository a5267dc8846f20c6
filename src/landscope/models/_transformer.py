"""A tiny GPT: a decoder-only transformer language model (Radford et al. 2019, GPT-2's pre-norm
block) small enough for exact curvature on a CPU.

Token ids (N, L) -> token + learned position embeddings -> ``layers`` blocks -> final LayerNorm
-> logits (N, L, vocab) for the next token at every position (loss ``token_cross_entropy``
against the shifted sequence, or ``next_token_cross_entropy`` against the sequence itself).  A
block is

    h = h + W_o SDPA(causal; W_q LN(h), W_k LN(h), W_v LN(h));   h = h + W_2 GELU(W_1 LN(h))

with ``torch.nn.functional.scaled_dot_product_attention`` (``is_causal=True``): training uses the
fast fused kernels, and landscope's curvature products switch to the math kernel, the one with a
double backward (:func:`landscope.problem.attention_for_derivatives`).  No dropout by default,
so the loss is a deterministic function of theta.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TinyGPT", "tiny_gpt"]


class _Block(nn.Module):
    uses_sdpa = True  # landscope.problem.describe_attention names it

    def __init__(self, embed: int, heads: int, mlp: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(embed)
        self.qkv = nn.Linear(embed, 3 * embed)
        self.proj = nn.Linear(embed, embed)
        self.ln_2 = nn.LayerNorm(embed)
        self.fc = nn.Linear(embed, mlp)
        self.fc_out = nn.Linear(mlp, embed)
        self.dropout = dropout

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n, length, embed = h.shape
        q, k, v = self.qkv(self.ln_1(h)).split(embed, dim=-1)
        shape = (n, length, self.heads, embed // self.heads)
        q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))  # (N, heads, L, d)
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        h = h + self.proj(a.transpose(1, 2).reshape(n, length, embed))
        return h + self.fc_out(F.gelu(self.fc(self.ln_2(h))))


class TinyGPT(nn.Module):
    """Decoder-only transformer: ids (N, L) with L <= ``context`` -> logits (N, L, vocab_out).

    Parameters (``embed`` = E, ``mlp`` = M, ``layers`` = B, input vocabulary V, outputs C):
    ``token`` (V x E), ``position`` (context x E), per block ``ln_1``, ``qkv`` (3E x E + 3E),
    ``proj`` (E x E + E), ``ln_2``, ``fc`` (M x E + M), ``fc_out`` (E x M + E), then ``ln_f`` and
    ``head`` (C x E + C).
    """

    def __init__(
        self,
        vocab: int,
        output_dim: int,
        context: int,
        *,
        embed: int = 16,
        heads: int = 2,
        layers: int = 2,
        mlp: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        if min(vocab, output_dim, context, embed, heads, layers) < 1:
            raise ValueError(
                "tiny_gpt needs positive vocab, output_dim, context, embed, heads, layers; got "
                f"{vocab}, {output_dim}, {context}, {embed}, {heads}, {layers}"
            )
        if embed % heads:
            raise ValueError(f"embed ({embed}) must be a multiple of heads ({heads})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        mlp = 4 * embed if mlp is None else int(mlp)
        self.context = int(context)
        self.token = nn.Embedding(vocab, embed)
        self.position = nn.Embedding(self.context, embed)
        self.blocks = nn.ModuleList(_Block(embed, heads, mlp, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(embed)
        self.head = nn.Linear(embed, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            raise ValueError(f"tiny_gpt expects token ids of shape (N, L), got {tuple(x.shape)}")
        length = x.shape[1]
        if length > self.context:
            raise ValueError(f"sequence length {length} exceeds the context {self.context}")
        positions = torch.arange(length, device=x.device)
        h = self.token(x.long()) + self.position(positions)
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_f(h))


def tiny_gpt(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    vocab: int | None = None,
    embed: int = 16,
    heads: int = 2,
    layers: int = 2,
    mlp: int | None = None,
    dropout: float = 0.0,
) -> TinyGPT:
    """Tiny GPT for sequences of ``input_shape = (L,)`` token ids (the context is L), logits for
    ``output_dim`` tokens at every position; ``vocab`` (input tokens) defaults to
    ``output_dim``.  With 10 tokens, L = 12 and the defaults: p = 7,034.

    >>> count = sum(p.numel() for p in tiny_gpt((12,), 10).parameters())
    >>> count
    7114
    """
    if len(input_shape) != 1:
        raise ValueError(f"tiny_gpt needs input_shape (L,) of token ids, got {tuple(input_shape)}")
    return TinyGPT(
        vocab or output_dim,
        output_dim,
        input_shape[0],
        embed=embed,
        heads=heads,
        layers=layers,
        mlp=mlp,
        dropout=dropout,
    )
