"""Curvature operators on a Problem against independent dense float64 references.

References never go through the operators under test: the Hessian is ``torch.func.hessian`` of a
one-batch ``torch.nn.functional`` loss (``reference_loss``), the GGN is ``J^T H_out J`` from
``torch.func.jacrev`` / ``torch.func.hessian``, per-sample gradients are the Jacobian of the
vector of per-sample losses, eq. 2.6 is evaluated literally (and checked by enumerating every
mini-batch).

Tolerances: float64 products accumulate O(p N) rounding errors of relative size ~1e-16, so the
operators agree with the references to ~1e-14 of the matrix's scale; we assert 1e-10 (the
issue's acceptance bar), which any mistake in the math (a mis-weighted chunk, a missing term)
violates by orders of magnitude.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, hessian, jacrev

from _problems import CASE_NAMES, assert_close_report, make, reference_loss
from landscope import Problem
from landscope.curvature import (
    GGNOperator,
    HessianOperator,
    NoiseCovarianceOperator,
    check_operator_determinism,
    dense_hessian,
    hessian_eigh,
    noise_covariance_scale,
    per_sample_gradients,
    select_parameters,
)

RTOL = 1e-10

# torch.func's forward-mode decompositions (used by the references) warn from torch internals.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def _probe(p: int, k: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(p, k, generator=g, dtype=torch.float64)


def _dense_H(problem: Problem, theta: torch.Tensor, indices=None) -> torch.Tensor:
    return hessian(reference_loss(problem, indices))(theta)


def _per_sample_losses(problem: Problem):
    """theta -> (N,) per-sample losses from torch.nn.functional (reduction='none')."""
    x, y = problem.data.x, problem.data.y

    def f(theta):
        out = functional_call(problem.model, problem.layout.unflatten(theta), (x,))
        if problem.loss_name == "cross_entropy":
            return F.cross_entropy(out, y, reduction="none")
        return F.mse_loss(out, y, reduction="none").mean(dim=1)

    return f


# --- Hessian ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("cache,block", [(False, "loop"), (True, "loop"), (True, "vmap")])
def test_hvp_matches_dense_hessian(name, cache, block):
    problem, theta = make(name)  # 23 samples in chunks of 10, 10, 3
    H = _dense_H(problem, theta)
    op = HessianOperator(problem, theta, cache=cache, block=block)
    V = _probe(problem.num_params, 3)
    assert_close_report(op @ V, H @ V, rtol=RTOL, label=f"{name} H @ V")
    assert_close_report(op @ V[:, 0], H @ V[:, 0], rtol=RTOL, label=f"{name} H @ v")
    assert op.num_matvecs == 4


@pytest.mark.parametrize("name", CASE_NAMES)
def test_block_equals_columnwise(name):
    problem, theta = make(name, chunk_size=None)
    V = _probe(problem.num_params, 5, seed=1)
    for block in ("loop", "vmap"):
        op = HessianOperator(problem, theta, block=block, backend="autograd")
        block_product = op @ V
        columns = torch.stack([op @ V[:, j] for j in range(V.shape[1])], dim=1)
        # Same graph, same kernels per column: equal up to the batched kernels' rounding.
        assert_close_report(block_product, columns, rtol=1e-13, label=f"{name} block={block}")
    # The loop applies the very same backward per column: bitwise equal.
    op = HessianOperator(problem, theta, block="loop", backend="autograd")
    assert torch.equal(op @ V, torch.stack([op @ V[:, j] for j in range(V.shape[1])], dim=1))


def test_cached_equals_uncached_bitwise():
    problem, theta = make("conv_softplus_ce")
    V = _probe(problem.num_params, 2)
    cached = HessianOperator(problem, theta, cache=True, block="loop")
    uncached = HessianOperator(problem, theta, cache=False, block="loop")
    first = cached @ V
    assert torch.equal(first, cached @ V)  # deterministic
    assert torch.equal(first, uncached @ V)
    assert cached._graphs is not None and uncached._graphs is None
    cached.clear_cache()
    assert torch.equal(first, cached @ V)
    # Products inside no_grad / inference_mode blocks (as solvers may run them) are the same.
    for context in (torch.no_grad, torch.inference_mode):
        for op in (HessianOperator(problem, theta, cache=True, block="loop"), uncached):
            with context():
                assert torch.equal(op @ V, first)
        with context():
            G = per_sample_gradients(problem, theta)
        assert_close_report(G.mean(0), problem.gradient(theta), rtol=RTOL)


def test_cache_default_depends_on_number_of_chunks():
    # autograd: a cached graph per chunk multiplies memory, so only one chunk is cached.
    problem, theta = make("mlp_relu_ce", chunk_size=None)
    assert HessianOperator(problem, theta, backend="autograd").cache
    problem, theta = make("mlp_relu_ce", chunk_size=10)
    assert not HessianOperator(problem, theta, backend="autograd").cache
    assert HessianOperator(problem, theta, indices=[0, 5, 7], backend="autograd").cache
    # structured: the state is a few activations per sample, cached while it fits 1 GiB.
    assert HessianOperator(problem, theta).backend == "structured"
    assert HessianOperator(problem, theta).cache


@pytest.mark.parametrize("name", ["mlp_softplus_mse", "conv_softplus_ce"])
def test_subset_indices(name):
    problem, theta = make(name, chunk_size=4)
    idx = torch.tensor([3, 0, 17, 9, 9, 22, 11])  # unordered, with a repeat, ragged chunks
    H = _dense_H(problem, theta, idx)
    op = HessianOperator(problem, theta, indices=idx)
    assert op.num_samples == 7
    V = _probe(problem.num_params, 2)
    assert_close_report(op @ V, H @ V, rtol=RTOL, label=name)


def _params_variants(problem: Problem):
    layout = problem.layout
    first_layer = layout.layers[0]
    biases = [s.name for s in layout if s.kind == "bias"]
    weights = [s.name for s in layout if s.kind == "weight"]
    variants = {
        "layer": first_layer,
        "last_layer": layout.layers[-1],
        "param_name": layout.names[-1],
        "weights": weights,  # non-contiguous when there are biases
        "mask": layout.mask(lambda s: s.kind == "weight" and s.layer == layout.layers[-1]),
        "slice": slice(2, min(40, layout.num_params)),
    }
    if biases:
        variants["biases"] = biases
    return variants


@pytest.mark.parametrize("name", CASE_NAMES)
def test_parameter_group_is_dense_block(name):
    problem, theta = make(name)
    H = _dense_H(problem, theta)
    for label, params in _params_variants(problem).items():
        sel = select_parameters(problem.layout, params)
        idx = sel.index
        block = H[idx][:, idx]
        op = HessianOperator(problem, theta, params=params)
        assert op.shape == (idx.numel(), idx.numel())
        assert torch.equal(op.param_index, idx)
        V = _probe(idx.numel(), 2)
        assert_close_report(op @ V, block @ V, rtol=RTOL, label=f"{name} params={label}")
        if label in ("layer", "weights"):  # the dense path on a contiguous and a scattered group
            dense = dense_hessian(problem, theta, params=params)
            assert_close_report(dense, block, rtol=RTOL, label=f"{name} dense {label}")


def test_select_parameters_forms_agree_and_errors():
    problem, _ = make("mlp_relu_ce")
    layout = problem.layout
    by_layer = select_parameters(layout, "0")
    by_names = select_parameters(layout, ["0.weight", "0.bias"])
    by_mask = select_parameters(layout, layout.mask(lambda s: s.layer == "0"))
    by_slice = select_parameters(layout, slice(0, 40))
    for sel in (by_names, by_mask, by_slice):
        assert torch.equal(sel.index, by_layer.index)
        assert sel.slice == slice(0, 40)
    biases = select_parameters(layout, ["0.bias", "2.bias"])
    assert biases.slice is None and biases.index.tolist() == [*range(32, 40), *range(64, 67)]
    with pytest.raises(KeyError, match="layers are"):
        select_parameters(layout, "nope")
    with pytest.raises(ValueError, match="boolean mask of shape"):
        select_parameters(layout, torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="selects no entries"):
        select_parameters(layout, torch.zeros(layout.num_params, dtype=torch.bool))
    with pytest.raises(ValueError, match="step 1"):
        select_parameters(layout, slice(0, 10, 2))


def test_bad_arguments():
    problem, theta = make("mlp_relu_ce")
    with pytest.raises(ValueError, match="theta must have shape"):
        HessianOperator(problem, theta[:-1])
    with pytest.raises(ValueError, match="block must be"):
        HessianOperator(problem, theta, block="columns")
    op = HessianOperator(problem, theta)
    with pytest.raises(ValueError, match="expected a tensor of shape"):
        op @ torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(IndexError, match="sample indices"):
        HessianOperator(problem, theta, indices=[0, 23])


@pytest.mark.parametrize("dtype,rtol", [(torch.float32, 1e-4)])
def test_float32(dtype, rtol):
    # float32 products carry ~1e-7 relative rounding per term; 1e-4 of the scale is generous
    # and still catches any real error.
    problem64, theta64 = make("conv_softplus_ce")
    problem32, theta32 = make("conv_softplus_ce", dtype=dtype)
    H = _dense_H(problem64, theta64)
    V = _probe(problem64.num_params, 2)
    out = HessianOperator(problem32, theta32) @ V
    assert out.dtype == dtype
    assert_close_report(out, H @ V, rtol=rtol, label="float32")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    problem, theta = make("conv_softplus_ce")
    problem_gpu, theta_gpu = make("conv_softplus_ce", device="cuda")
    V = _probe(problem.num_params, 4)
    for block in ("loop", "vmap"):
        out = HessianOperator(problem_gpu, theta_gpu, block=block) @ V.cuda()
        assert out.device.type == "cuda"
        assert_close_report(out.cpu(), HessianOperator(problem, theta) @ V, rtol=1e-12, label=block)


# --- GGN -------------------------------------------------------------------------------------
def _dense_ggn(problem: Problem, theta: torch.Tensor) -> torch.Tensor:
    x, y = problem.data.x, problem.data.y

    def out_fn(t):
        return functional_call(problem.model, problem.layout.unflatten(t), (x,)).reshape(-1)

    out = out_fn(theta).detach()
    J = jacrev(out_fn)(theta)  # (N * C, p)

    def loss_of_out(o):
        return {"cross_entropy": F.cross_entropy, "mse": F.mse_loss}[problem.loss_name](
            o.reshape(x.shape[0], -1), y
        )

    H_out = hessian(loss_of_out)(out)  # (N * C, N * C), block diagonal
    return J.T @ H_out @ J


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("block", ["loop", "vmap"])
def test_ggn_matches_dense(name, block):
    problem, theta = make(name)
    G = _dense_ggn(problem, theta)
    op = GGNOperator(problem, theta, block=block)
    V = _probe(problem.num_params, 3)
    assert_close_report(op @ V, G @ V, rtol=RTOL, label=f"{name} GGN")
    # A parameter group: the dense block.
    sel = select_parameters(problem.layout, problem.layout.layers[0])
    op = GGNOperator(problem, theta, params=problem.layout.layers[0], block=block)
    W = _probe(sel.size, 2)
    assert_close_report(
        op @ W, G[sel.index][:, sel.index] @ W, rtol=RTOL, label=f"{name} GGN block"
    )


@pytest.mark.parametrize(
    "name", [n for n in CASE_NAMES if n.endswith("ce") or n.endswith("regression") or "_ce_" in n]
)
def test_ggn_cross_entropy_is_fisher_of_predictive_distribution(name):
    # F = (1/N) sum_i sum_c p_ic grad log p_ic grad log p_ic^T with p_i = softmax(model): the
    # Fisher with labels drawn from the model, a different formula from J^T H J.
    problem, theta = make(name)
    x = problem.data.x

    def log_probs(t):
        return torch.log_softmax(
            functional_call(problem.model, problem.layout.unflatten(t), (x,)), dim=1
        )

    lp = log_probs(theta).detach()
    J = jacrev(log_probs)(theta)  # (N, C, p)
    Fisher = torch.einsum("nc,ncp,ncq->pq", lp.exp(), J, J) / x.shape[0]
    assert_close_report(GGNOperator(problem, theta).to_dense(), Fisher, rtol=RTOL, label=name)


def test_ggn_is_psd_and_equals_hessian_for_linear_least_squares():
    problem, theta = make("mlp_softplus_mse")
    G = GGNOperator(problem, theta).to_dense()
    assert float(torch.linalg.eigvalsh((G + G.T) / 2).min()) > -1e-12 * float(G.abs().max())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(11, 3, generator=g, dtype=torch.float64)
    y = torch.randn(11, 2, generator=g, dtype=torch.float64)
    lin = Problem(nn.Linear(3, 2).double(), "mse", (x, y), chunk_size=4)
    t = lin.theta_from_model()
    assert_close_report(GGNOperator(lin, t).to_dense(), _dense_H(lin, t), rtol=RTOL, label="linear")


# --- per-sample gradients ----------------------------------------------------------------------
@pytest.mark.parametrize("name", CASE_NAMES)
def test_per_sample_gradients(name):
    problem, theta = make(name)
    ref = jacrev(_per_sample_losses(problem))(theta)  # (N, p)
    for method, chunk_size in [("vmap", None), ("vmap", 4), ("loop", 7)]:
        G = per_sample_gradients(problem, theta, chunk_size=chunk_size, method=method)
        assert G.shape == (problem.num_samples, problem.num_params)
        assert_close_report(G, ref, rtol=RTOL, label=f"{name} {method}")
    assert_close_report(G.mean(0), problem.gradient(theta), rtol=RTOL, label=f"{name} mean")
    idx = torch.tensor([4, 1, 1, 20])
    sel = select_parameters(problem.layout, problem.layout.layers[-1])
    sub = per_sample_gradients(problem, theta, idx, params=problem.layout.layers[-1])
    assert_close_report(sub, ref[idx][:, sel.index], rtol=RTOL, label=f"{name} subset")


def _bn_model() -> nn.Module:
    torch_gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Softplus(), nn.Linear(6, 3)
    ).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=torch_gen, dtype=torch.float64))
    return model


def test_per_sample_batchnorm_train_mode_error_and_loop_fallback():
    model = _bn_model()
    problem0, _ = make("mlp_relu_ce")
    problem = Problem(
        model, "cross_entropy", (problem0.data.x, problem0.data.y), chunk_size=10, train_mode=True
    )
    theta = problem.theta_from_model()
    with pytest.raises(ValueError, match=r"BatchNorm in train mode.*method='loop'"):
        per_sample_gradients(problem, theta)
    G = per_sample_gradients(problem, theta, method="loop", chunk_size=10)
    # Rows are each sample's loss term within its chunk (batch statistics of the chunk): their
    # mean is the Problem's (chunked, train-mode) gradient.
    assert_close_report(G.mean(0), problem.gradient(theta), rtol=RTOL, label="bn loop")
    # In eval mode vmap is fine and agrees with the loop.
    eval_problem = Problem(
        model, "cross_entropy", (problem0.data.x, problem0.data.y), chunk_size=10
    )
    assert_close_report(
        per_sample_gradients(eval_problem, theta),
        per_sample_gradients(eval_problem, theta, method="loop"),
        rtol=RTOL,
        label="bn eval",
    )


# --- SGD noise covariance (Fjellstrom eq. 2.6-2.8) ------------------------------------------
@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("batch_size", [1, 4, 23])
def test_noise_covariance_reproduces_eq_2_6_to_2_8(name, batch_size):
    problem, theta = make(name)
    N, n = problem.num_samples, batch_size
    Gi = jacrev(_per_sample_losses(problem))(theta)  # rows nabla f_i, (N, p)
    g = Gi.mean(0)
    second_moment = Gi.T @ Gi / N
    c = (N - n) / (n * (N - 1))
    expected = {
        "exact": c * (second_moment - torch.outer(g, g)),  # eq. 2.6
        "critical_point": c * second_moment,  # eq. 2.7
        "fisher": second_moment / n,  # eq. 2.8
    }
    V = _probe(problem.num_params, 3)
    for form, C in expected.items():
        op = NoiseCovarianceOperator(problem, theta, batch_size=n, form=form)
        assert op.factor.shape == (problem.num_params, N)
        atol = RTOL * max(float(C.abs().max()), float(second_moment.abs().max()) / n)
        assert_close_report(
            op.factor @ op.factor.T, C, rtol=RTOL, atol=atol, label=f"{name} {form} UU^T"
        )
        assert_close_report(
            op @ V,
            C @ V,
            rtol=RTOL,
            atol=atol * math.sqrt(problem.num_params) * 10,
            label=f"{name} {form} CV",
        )
        assert_close_report(op.to_dense(), C, rtol=RTOL, atol=atol, label=f"{name} {form} dense")
    assert NoiseCovarianceOperator(problem, theta, batch_size=n, form="2.6").form == "exact"


def test_eq_2_6_equals_covariance_over_all_minibatches():
    # Eq. 2.6 is the covariance of the mini-batch gradient when the batch is drawn uniformly
    # without replacement; enumerate all C(7, 3) = 35 batches of a 7-sample population.
    problem, theta = make("mlp_softplus_mse")
    population = torch.tensor([0, 3, 5, 8, 13, 17, 21])
    n = 3
    Gi = per_sample_gradients(problem, theta, population)
    batches = torch.stack([Gi[list(b)].mean(0) for b in itertools.combinations(range(7), n)])
    centered = batches - batches.mean(0)
    C_enum = centered.T @ centered / batches.shape[0]
    C = NoiseCovarianceOperator(problem, theta, batch_size=n, indices=population).to_dense()
    assert_close_report(C, C_enum, rtol=RTOL, label="enumeration")


def test_noise_covariance_scale_and_errors():
    assert noise_covariance_scale(10, 10) == 0.0
    assert noise_covariance_scale(10, 1) == 1.0
    assert noise_covariance_scale(100, 10) == pytest.approx(90 / (10 * 99), rel=1e-15)
    problem, theta = make("softmax_regression")
    with pytest.raises(ValueError, match=r"batch_size must lie in \[1, N = 23\]"):
        NoiseCovarianceOperator(problem, theta, batch_size=24)
    with pytest.raises(ValueError, match="form must be"):
        NoiseCovarianceOperator(problem, theta, batch_size=2, form="diag")
    with pytest.raises(ValueError, match="N = 2"):
        noise_covariance_scale(1, 1)


# --- dense path ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mlp_relu_ce", "conv_softplus_ce"])
def test_dense_hessian_and_eigh(name):
    problem, theta = make(name)
    H = _dense_H(problem, theta)
    assert_close_report(dense_hessian(problem, theta), H, rtol=RTOL, label=name)
    evals, evecs = hessian_eigh(problem, theta)
    ref = np.linalg.eigvalsh(H.numpy())[::-1]
    assert torch.all(evals[:-1] >= evals[1:])
    assert_close_report(evals, torch.from_numpy(ref.copy()), rtol=RTOL, label=f"{name} eigenvalues")
    assert_close_report(H @ evecs, evecs * evals, rtol=1e-9, label=f"{name} H V = V L")
    assert_close_report(
        evecs.T @ evecs, torch.eye(len(evals), dtype=torch.float64), rtol=1e-12, atol=1e-12
    )


def test_dense_refusal_message():
    problem, theta = make("conv_softplus_ce")
    with pytest.raises(ValueError, match=r"177 parameters would take 0\.00 GB.*HessianOperator"):
        dense_hessian(problem, theta, max_params=100)
    # A layer's block fits under the same limit.
    assert dense_hessian(problem, theta, params="0", max_params=100).shape == (30, 30)


# --- SciPy interop ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mlp_softplus_ce_nobias", "conv_softplus_ce"])
def test_to_scipy_eigsh(name):
    from scipy.sparse.linalg import eigsh

    problem, theta = make(name)
    H = _dense_H(problem, theta).numpy()
    op = HessianOperator(problem, theta)
    vals, vecs = eigsh(op.to_scipy(), k=3, which="LA", tol=1e-12, v0=np.ones(problem.num_params))
    ref_vals, ref_vecs = np.linalg.eigh(H)
    np.testing.assert_allclose(np.sort(vals)[::-1], ref_vals[::-1][:3], rtol=1e-8)
    # Projector onto the top-3 eigenspace: sign/rotation invariant.
    P, P_ref = vecs @ vecs.T, ref_vecs[:, -3:] @ ref_vecs[:, -3:].T
    np.testing.assert_allclose(P, P_ref, atol=1e-6)
    assert op.num_matvecs > 0


# --- the user's model is never touched ---------------------------------------------------------
def test_model_untouched_by_products():
    problem0, _ = make("mlp_relu_ce")
    model = _bn_model()
    model.train()
    model[3].eval()  # a mix of flags that must survive
    flags = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    V = _probe(sum(p.numel() for p in model.parameters()), 2)
    for train_mode in (False, True):
        problem = Problem(
            model,
            "cross_entropy",
            (problem0.data.x, problem0.data.y),
            chunk_size=10,
            train_mode=train_mode,
        )
        # Products at another point than the model's must not leak into the model.
        theta = problem.theta_from_model() + 0.1
        HessianOperator(problem, theta, check_determinism=True) @ V
        GGNOperator(problem, theta, cache=True) @ V
        per_sample_gradients(problem, theta, method="loop")
        NoiseCovarianceOperator(problem, theta, batch_size=3, method="loop") @ V
        dense_hessian(problem, theta, params="3")
    assert [m.training for m in model.modules()] == flags
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k  # parameters and BatchNorm running statistics
    assert all(p.grad is None for p in model.parameters())


def test_determinism_probe_catches_dropout():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 16), nn.Dropout(0.5), nn.Softplus(), nn.Linear(16, 3)
    ).double()
    x = torch.randn(12, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (12,), generator=g)
    noisy = Problem(model, "cross_entropy", (x, y), train_mode=True)
    with pytest.raises(RuntimeError, match="dropout"):
        HessianOperator(noisy, noisy.theta_from_model(), check_determinism=True)
    with pytest.raises(RuntimeError, match="dropout"):
        check_operator_determinism(GGNOperator(noisy, noisy.theta_from_model()))
    # The same model in eval mode (dropout off) passes.
    quiet = Problem(model, "cross_entropy", (x, y))
    HessianOperator(quiet, quiet.theta_from_model(), check_determinism=True)
