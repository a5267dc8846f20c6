"""The LSTM model and the generated Markov-sequence dataset (Goodfellow et al. Fig. 8, 16 stand-in).

References: ``torch.nn.LSTM`` with the same weights (an independent implementation of the cell),
``torch.func.hessian`` of a plain-autograd loss, and the generating chain's own probabilities.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from landscope import Problem
from landscope.curvature import HessianOperator
from landscope.data import load_dataset, load_markov_sequences
from landscope.models import build_model, initialize, lstm


def test_markov_sequences_are_seeded_and_shaped():
    a = load_markov_sequences(num_sequences=300, length=8, seed=3)
    b = load_markov_sequences(num_sequences=300, length=8, seed=3)
    c = load_markov_sequences(num_sequences=300, length=8, seed=4)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)
    assert a.train.x.dtype == torch.int64 and a.input_shape == (8,) and a.num_classes == 10
    assert len(a.train) + len(a.test) == 300
    P = np.asarray(a.meta["transitions"])
    assert P.shape == (100, 10) and np.allclose(P.sum(1), 1) and ((P > 0).sum(1) == 3).all()
    assert 0 < a.meta["bayes_loss"] < a.meta["uniform_loss"] == pytest.approx(np.log(10))
    with pytest.raises(ValueError, match="branching"):
        load_markov_sequences(vocab=3, branching=4)


def test_labels_follow_the_chain():
    """Every (context -> next token) transition in the data has positive probability, and the
    mean log-likelihood of the labels under the chain matches the stored Bayes loss within
    sampling error (4 standard errors)."""
    ds = load_markov_sequences(num_sequences=4000, seed=1, test_fraction=0.0)
    P = np.asarray(ds.meta["transitions"])
    x, y = ds.train.x.numpy(), ds.train.y.numpy()
    ctx = x[:, -2] * 10 + x[:, -1]
    p = P[ctx, y]
    assert (p > 0).all()
    nll = -np.log(p)
    assert abs(nll.mean() - ds.meta["bayes_loss"]) < 4 * nll.std() / np.sqrt(len(nll))


def _copy_into_nn_lstm(model) -> nn.LSTM:
    cell = model.cells[0]
    ref = nn.LSTM(cell.input.in_features, model.hidden, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(cell.input.weight)
        ref.bias_ih_l0.copy_(cell.input.bias)
        ref.weight_hh_l0.copy_(cell.recurrent.weight)
        ref.bias_hh_l0.zero_()
    return ref


def test_lstm_cell_equals_torch_lstm():
    torch.manual_seed(0)
    model = lstm((7,), 6, embed=5, hidden=4).double()
    x = torch.randint(0, 6, (9, 7))
    ref = _copy_into_nn_lstm(model)
    seq, _ = ref(model.embedding(x))
    expected = model.out(seq[:, -1])
    assert torch.allclose(model(x), expected, atol=1e-12)
    assert torch.allclose(model(x.double()), expected, atol=1e-12)  # float ids are cast
    n = sum(p.numel() for p in model.parameters())
    assert n == 6 * 5 + 4 * 4 * (5 + 4 + 1) + (4 + 1) * 6
    assert (
        sum(p.numel() for p in build_model("lstm", input_shape=(12,), output_dim=10).parameters())
        == 6762
    )


def test_lstm_hessian_vector_products_match_dense():
    ds = load_markov_sequences(num_sequences=30, length=5, vocab=4, branching=2, test_fraction=0.0)
    model = initialize(lstm((5,), 4, embed=3, hidden=3, num_layers=2), "glorot_uniform", seed=0)
    problem = Problem(model, "cross_entropy", ds.train, dtype=torch.float64, chunk_size=7)
    theta = problem.theta_from_model()

    def f(t):
        out = torch.func.functional_call(
            problem.model, problem.layout.unflatten(t), (problem.data.x,)
        )
        return torch.nn.functional.cross_entropy(out, problem.data.y)

    H = torch.func.hessian(f)(theta)
    V = torch.randn(
        theta.numel(), 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    HV = HessianOperator(problem, theta) @ V
    assert torch.allclose(HV, H @ V, atol=1e-10 * H.abs().max())


def test_lstm_trains_on_the_registry_dataset(tmp_path):
    import landscope

    cfg = {
        "name": "lstm",
        "seed": 0,
        "data": {"name": "markov_sequences", "options": {"num_sequences": 400}},
        "model": {"name": "lstm", "options": {"hidden": 16, "embed": 8}},
        "optimizer": {"name": "sgd", "lr": 0.5, "momentum": 0.9},
        "training": {"batch_size": 32, "steps": 150},
        "record": {"params": {"every": 50}, "eval": {"every": 150}},
    }
    run = landscope.train(cfg, tmp_path / "run", progress=False)
    loss = np.asarray(run.read("train_loss")).ravel()
    assert loss[-1] < 0.8 * loss[0]
    assert load_dataset("markov_sequences").input_shape == (12,)
