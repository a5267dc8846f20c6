"""Problem: chunked evaluation equals one-batch evaluation; theta round trips; model untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from landscope import ParameterLayout, Problem, TensorData

# float64 sums of ~100 terms of size O(1): chunking changes only the summation order, so the
# chunked and one-batch results agree to a few ulps; 1e-10 relative leaves a wide margin while
# still catching any mis-weighting of a ragged chunk (which would be an O(1e-2) error).
RTOL = 1e-10


def _mlp(bias: bool = True, out: int = 3) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    m = nn.Sequential(
        nn.Linear(4, 7, bias=bias),
        nn.Softplus(),
        nn.Linear(7, 5, bias=bias),
        nn.Tanh(),
        nn.Linear(5, out, bias=bias),
    )
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.7)
    return m.double()


def _data(n: int = 23, regression: bool = False, out: int = 3):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)
    y = (
        torch.randn(n, out, generator=g, dtype=torch.float64)
        if regression
        else torch.randint(0, out, (n,), generator=g)
    )
    return x, y


def _reference(model, loss_fn, x, y):
    """One batch, plain autograd on the module's own parameters (independent of Problem)."""
    model = model
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return loss.detach(), torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("chunk_size", [1, 4, 5, 22, 23, None])
@pytest.mark.parametrize(
    "loss,regression,ref",
    [
        ("cross_entropy", False, nn.functional.cross_entropy),
        ("mse", True, nn.functional.mse_loss),
        ("mae", True, nn.functional.l1_loss),
    ],
)
def test_chunked_loss_and_gradient_equal_one_batch(chunk_size, loss, regression, ref):
    model = _mlp()
    x, y = _data(regression=regression)
    problem = Problem(model, loss, (x, y), chunk_size=chunk_size)
    theta = problem.theta_from_model()
    value, grad = problem.loss_and_gradient(theta)
    ref_value, ref_grad = _reference(model, ref, x, y)
    torch.testing.assert_close(value, ref_value, rtol=RTOL, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=RTOL, atol=1e-14)
    torch.testing.assert_close(problem.loss(theta), ref_value, rtol=RTOL, atol=0)


@pytest.mark.parametrize("chunk_size", [3, None])
def test_subset_indices(chunk_size):
    model = _mlp()
    x, y = _data()
    idx = torch.tensor([5, 0, 17, 3, 3, 22, 9])
    problem = Problem(model, "cross_entropy", (x, y), chunk_size=chunk_size)
    theta = problem.theta_from_model()
    ref_value, ref_grad = _reference(model, nn.functional.cross_entropy, x[idx], y[idx])
    value, grad = problem.loss_and_gradient(theta, idx)
    torch.testing.assert_close(value, ref_value, rtol=RTOL, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=RTOL, atol=1e-14)
    torch.testing.assert_close(
        problem.predictions(theta, idx), model(x[idx]).detach(), rtol=0, atol=1e-14
    )
    acc = (model(x[idx]).argmax(1) == y[idx]).double().mean().item()
    assert problem.accuracy(theta, idx) == pytest.approx(acc, abs=0)
    with pytest.raises(IndexError, match="sample indices"):
        problem.loss(theta, [0, 23])


def test_theta_round_trip_is_exact_and_views():
    model = _mlp(bias=False)
    problem = Problem(model, "cross_entropy", _data())
    theta = problem.theta_from_model()
    assert theta.shape == (problem.num_params,)
    assert problem.num_params == 4 * 7 + 7 * 5 + 5 * 3
    views = problem.unflatten(theta)
    for name, p in model.named_parameters():
        assert torch.equal(views[name], p.detach())
        assert views[name].data_ptr() >= theta.data_ptr()  # a view into theta, no copy
    other = _mlp(bias=False)
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    problem.load_into(other, theta)
    assert torch.equal(problem.theta_from_model(other), theta)


def test_layout_slices_layers():
    model = _mlp()
    layout = ParameterLayout.from_module(model)
    assert layout.layers == ["0", "2", "4"]
    sl = layout.layer_slice("2")
    assert (sl.start, sl.stop) == (4 * 7 + 7, 4 * 7 + 7 + 7 * 5 + 5)
    assert layout["2.bias"].shape == (5,)
    assert int(layout.mask(lambda s: s.kind == "bias").sum()) == 7 + 5 + 3
    assert ParameterLayout.from_dicts(layout.to_dicts()) == layout
    idx = layout.layer_index()
    assert idx.shape == (layout.num_params,) and int(idx[sl].unique().item()) == 1
    with pytest.raises(KeyError, match="layers are"):
        layout.layer_slice("nope")


def test_user_model_untouched_and_mode_restored():
    model = nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.Linear(6, 3)
    ).double()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _data(n=16)
    for train_mode in (False, True):
        problem = Problem(model, "cross_entropy", (x, y), chunk_size=4, train_mode=train_mode)
        theta = problem.theta_from_model() + 0.1
        problem.loss_and_gradient(theta)
        problem.evaluate(theta)
    after = model.state_dict()
    for k in before:
        assert torch.equal(before[k], after[k]), k  # running stats and params unchanged
    assert all(m.training for m in model.modules())


class _DoublesInput(nn.Module):
    """Writes into its input: ``x *= 2`` (what an in-place first module does)."""

    def forward(self, x):
        return x.mul_(2)


@pytest.mark.parametrize("first", ["relu_inplace", "mul_"])
def test_model_writing_into_its_input_never_overwrites_the_data(first):
    from landscope.landscape import evaluate_points

    g = torch.Generator().manual_seed(3)
    lin = nn.Linear(4, 3).double()
    head = nn.ReLU(inplace=True) if first == "relu_inplace" else _DoublesInput()
    model = nn.Sequential(head, lin)
    x, y = _data()
    assert bool((x < 0).any())
    x_before = x.clone()
    problem = Problem(model, "cross_entropy", (x, y), chunk_size=5)
    assert problem._copy_inputs is None  # decided by the first evaluation, no extra pass
    theta = problem.theta_from_model() + 0.01 * torch.randn(
        problem.num_params, generator=g, dtype=torch.float64
    )
    first_eval = problem.loss_and_gradient(theta)
    assert problem._copy_inputs is True
    second_eval = problem.loss_and_gradient(theta)
    assert torch.equal(x, x_before) and torch.equal(problem.data.x, x_before)
    assert torch.equal(first_eval[0], second_eval[0]) and torch.equal(first_eval[1], second_eval[1])
    # the reference: the same network without the in-place op, on clean data
    clean_head = nn.ReLU() if first == "relu_inplace" else _Doubles()
    clean = Problem(nn.Sequential(clean_head, lin), "cross_entropy", (x_before, y), chunk_size=5)
    assert torch.allclose(clean.gradient(theta), first_eval[1], rtol=RTOL, atol=0)
    assert clean._copy_inputs is False
    # point-by-point landscape evaluation runs its own copy of the model: guarded as well
    fresh = Problem(model, "cross_entropy", (x, y), chunk_size=5)
    for batch_points in (1, 3):
        losses = evaluate_points(fresh, torch.stack([theta] * 3), batch_points=batch_points)["loss"]
        assert losses.tolist() == [losses[0]] * 3
    assert torch.equal(x, x_before)
    # decided the same way when everything runs inside inference mode
    with torch.inference_mode():
        inside = Problem(model, "cross_entropy", (x, y))
        inside.loss(theta)
        assert inside._copy_inputs is True
    assert torch.equal(x, x_before)
    # a DataLoader over tensors is read as those tensors: guarded like them
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    via_loader = Problem(model, "cross_entropy", loader, chunk_size=5)
    assert torch.allclose(via_loader.loss(theta), first_eval[0], rtol=RTOL, atol=0)
    assert via_loader._copy_inputs
    # a map-style dataset collates fresh tensors: nothing to guard
    mapped = Problem(model, "cross_entropy", _ItemDataset(x, y), chunk_size=5)
    assert mapped._copy_inputs is False
    assert torch.allclose(mapped.loss(theta), first_eval[0], rtol=RTOL, atol=0)
    assert torch.equal(x, x_before)


class _Doubles(nn.Module):
    def forward(self, x):
        return 2 * x


class _ItemDataset(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def test_eval_mode_is_deterministic_with_dropout():
    model = nn.Sequential(nn.Linear(4, 32), nn.Dropout(0.5), nn.Linear(32, 3)).double()
    problem = Problem(model, "cross_entropy", _data())
    theta = problem.theta_from_model()
    assert torch.equal(problem.gradient(theta), problem.gradient(theta))


def test_dtype_conversion_uses_private_copy():
    model = _mlp().float()
    x, y = _data()
    problem = Problem(model, "cross_entropy", (x.float(), y), dtype=torch.float64)
    assert problem.theta_from_model().dtype == torch.float64
    assert next(model.parameters()).dtype == torch.float32
    assert problem.data is not None and problem.data.x.dtype == torch.float64


def test_dataset_and_dataloader_sources_match_tensors():
    model = _mlp()
    x, y = _data()
    ref = Problem(model, "cross_entropy", (x, y), chunk_size=6)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, drop_last=True)

    class MapStyle(torch.utils.data.Dataset):
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return x[i], y[i]

    theta = ref.theta_from_model()
    for data in (loader, MapStyle(), TensorData(x, y)):
        other = Problem(model, "cross_entropy", data, chunk_size=6)
        assert other.num_samples == 23
        torch.testing.assert_close(
            other.loss_and_gradient(theta), ref.loss_and_gradient(theta), rtol=1e-14, atol=1e-15
        )


def test_callable_losses_scalar_and_per_sample():
    model = _mlp()
    x, y = _data()
    theta = Problem(model, "cross_entropy", (x, y)).theta_from_model()
    ref = Problem(model, "cross_entropy", (x, y), chunk_size=None).loss_and_gradient(theta)
    mean_loss = nn.CrossEntropyLoss()
    per_sample = nn.CrossEntropyLoss(reduction="none")
    for fn in (mean_loss, per_sample):
        got = Problem(model, fn, (x, y), chunk_size=7, task="classification").loss_and_gradient(
            theta
        )
        torch.testing.assert_close(got, ref, rtol=RTOL, atol=1e-14)


def test_bad_inputs_have_clear_errors():
    model = _mlp()
    x, y = _data()
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        Problem(model, "hinge", (x, y))
    with pytest.raises(ValueError, match="same number of samples"):
        Problem(model, "cross_entropy", (x, y[:-1]))
    problem = Problem(model, "cross_entropy", (x, y))
    with pytest.raises(ValueError, match=r"theta must have shape \(93,\)"):
        problem.loss(torch.zeros(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="target shape"):
        Problem(model, "mse", (x, torch.randn(23, 2, dtype=torch.float64))).loss(
            problem.theta_from_model()
        )
