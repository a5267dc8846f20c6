"""A small LSTM sequence classifier (Goodfellow, Vinyals & Saxe 2015, Fig. 8 and 16: "an LSTM
trained on the Penn Treebank"; here on generated sequences, see ``landscope.data``'s
``markov_sequences``).

The recurrence is written out with two dense layers per layer of cells instead of calling
``nn.LSTM``: the fused kernels (cuDNN on GPUs) have no double backward, so Hessian-vector products
-- which every curvature analysis needs -- would fail on CUDA, and ``torch.func.functional_call``
on ``nn.LSTM``'s flattened weights is fragile.  The cell is the standard one (Hochreiter &
Schmidhuber 1997, with forget gate; gate order i, f, g, o as in PyTorch):

    i, f, g, o = split(W_ih x_t + b + W_hh h_{t-1});  c_t = s(f) c_{t-1} + s(i) tanh(g);
    h_t = s(o) tanh(c_t)

Dropout (Zaremba et al. 2014) is applied to the non-recurrent connections only.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LSTMClassifier", "lstm"]


class LSTMClassifier(nn.Module):
    """Token ids (N, L) -> embedding -> ``num_layers`` LSTM layers -> logits (N, vocab_out) from the
    last time step.  Inputs may be integer ids or floats holding integers (cast with ``long``).

    Layers: ``embedding`` (vocab x embed), ``cells.{l}.input`` (Linear embed/hidden -> 4 hidden,
    with bias), ``cells.{l}.recurrent`` (Linear hidden -> 4 hidden, no bias), ``out``.  The forget
    gate bias starts at 1 (Gers et al. 2000; Zaremba et al.), the rest as in ``nn.Linear``.
    """

    def __init__(
        self,
        vocab: int,
        output_dim: int,
        *,
        embed: int = 16,
        hidden: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
    ):
        super().__init__()
        if vocab < 1 or embed < 1 or hidden < 1 or num_layers < 1:
            raise ValueError(
                f"lstm needs positive vocab, embed, hidden, num_layers; got {vocab}, {embed}, "
                f"{hidden}, {num_layers}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.vocab, self.hidden = int(vocab), int(hidden)
        self.embedding = nn.Embedding(self.vocab, embed)
        self.cells = nn.ModuleList()
        for layer in range(num_layers):
            cell = nn.Module()
            cell.input = nn.Linear(embed if layer == 0 else hidden, 4 * hidden)
            cell.recurrent = nn.Linear(hidden, 4 * hidden, bias=False)
            with torch.no_grad():
                cell.input.bias[hidden : 2 * hidden].fill_(1.0)
            self.cells.append(cell)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            raise ValueError(f"lstm expects token ids of shape (N, L), got {tuple(x.shape)}")
        tokens = x.long()  # (no range check here: it would sync the GPU; Embedding raises)
        seq = self.drop(self.embedding(tokens))  # (N, L, E)
        n, length = tokens.shape
        for cell in self.cells:
            pre = cell.input(seq)  # (N, L, 4H): the input part of every step in one product
            h = seq.new_zeros(n, self.hidden)
            c = seq.new_zeros(n, self.hidden)
            outputs = []
            for t in range(length):
                i, f, g, o = (pre[:, t] + cell.recurrent(h)).chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outputs.append(h)
            seq = self.drop(torch.stack(outputs, dim=1))
        return self.out(seq[:, -1])


def lstm(
    input_shape: tuple[int, ...],
    output_dim: int,
    *,
    vocab: int | None = None,
    embed: int = 16,
    hidden: int = 32,
    num_layers: int = 1,
    dropout: float = 0.0,
) -> LSTMClassifier:
    """LSTM next-token classifier for sequences of ``input_shape = (L,)`` token ids.

    ``vocab`` (input vocabulary) defaults to ``output_dim`` (next-token prediction over the same
    tokens).  Parameters: vocab*embed + sum_l 4h(in_l + h + 1) + (h + 1)*output_dim; 6,762 for the
    defaults with 10 tokens.
    """
    if len(input_shape) != 1:
        raise ValueError(f"lstm needs input_shape (L,) of token ids, got {tuple(input_shape)}")
    return LSTMClassifier(
        vocab or output_dim,
        output_dim,
        embed=embed,
        hidden=hidden,
        num_layers=num_layers,
        dropout=dropout,
    )
