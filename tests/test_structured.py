"""The structured (layer-by-layer) Hessian and GGN products against independent references.

References never use the structured code: the Hessian is ``torch.func.hessian`` of the mean
per-sample loss of a one-batch ``functional_call`` of the model (no chunking), the GGN is
``J^T H_out J`` from ``torch.func.jacrev`` and ``torch.func.hessian`` of the loss in the output,
and the autograd backend (itself tested against the same references in test_operators.py).

Tolerance: float64 products agree with the references to ~1e-15 of the matrix's scale (a few
hundred rounding errors); we assert 1e-10, the issue's bar, which a missing term (a second
derivative of an activation, a dropped bias row, a mis-weighted chunk) misses by orders of
magnitude.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev

import landscope.curvature._structured as structured
from _problems import CASE_NAMES, assert_close_report, make
from landscope import Problem
from landscope.curvature import GGNOperator, HessianOperator, select_parameters
from landscope.curvature._structured import dense_chain
from landscope.models import MLP

RTOL = 1e-10
N = 23

# torch.func's forward-mode decompositions (used by the references) warn from torch internals.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _seeded(model: nn.Module, seed: int) -> nn.Module:
    g = _gen(seed)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p.shape[1] if p.ndim > 1 else p.shape[0]
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 1.6 / fan_in**0.5)
    return model.double()


def _x(shape, seed):
    return torch.randn((N, *shape), generator=_gen(100 + seed), dtype=torch.float64)


def _classes(c, seed):
    return torch.randint(0, c, (N,), generator=_gen(200 + seed))


def _targets(shape, seed):
    return torch.randn((N, *shape), generator=_gen(300 + seed), dtype=torch.float64)


# name -> (model, loss, x, y): chains the registry does not cover.
CHAINS = {
    # the zoo's MLP on image-shaped inputs (it flattens), tanh
    "zoo_mlp_tanh_ce": lambda: (
        _seeded(MLP(6, [5, 4], 3, activation="tanh"), 0),
        "cross_entropy",
        _x((2, 3), 0),
        _classes(3, 0),
    ),
    # Flatten first, an activation after the last layer, squared error
    "flatten_gelu_sigmoid_out_mse": lambda: (
        _seeded(
            nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 2), nn.Sigmoid()),
            1,
        ),
        "mse",
        _x((1, 2, 3), 1),
        _targets((2,), 1),
    ),
    # nested Sequential, composed activations, eval-mode dropout, (n, 1) logits and (n,) targets
    "nested_leaky_elu_bce": lambda: (
        _seeded(
            nn.Sequential(
                nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(0.1), nn.Dropout(0.5)),
                nn.Sequential(nn.Linear(6, 5), nn.ELU(), nn.Identity(), nn.Softplus(beta=2.0)),
                nn.Linear(5, 1),
            ),
            2,
        ),
        "bce_with_logits",
        _x((4,), 2),
        (torch.rand(N, generator=_gen(2)) > 0.5).double(),
    ),
    # deep linear network without biases (identity between layers)
    "deep_linear_mse": lambda: (
        _seeded(
            nn.Sequential(
                nn.Linear(4, 4, bias=False),
                nn.Linear(4, 4, bias=False),
                nn.Linear(4, 2, bias=False),
            ),
            3,
        ),
        "mse",
        _x((4,), 3),
        _targets((2,), 3),
    ),
    # absolute error (zero output Hessian), in-place ReLU, a prefix activation on the input
    "inplace_relu_mae": lambda: (
        _seeded(
            nn.Sequential(nn.Tanh(), nn.Linear(4, 7), nn.ReLU(inplace=True), nn.Linear(7, 2)), 4
        ),
        "mae",
        _x((4,), 4),
        _targets((2,), 4),
    ),
    # cross-entropy with ignored targets (F.cross_entropy's ignore_index -100: no loss)
    "ce_ignore_index": lambda: (
        _seeded(nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)), 6),
        "cross_entropy",
        _x((5,), 6),
        torch.where(torch.arange(N) % 4 == 1, -100, _classes(3, 6)),
    ),
    # cross-entropy with probability targets whose rows do not sum to one
    "ce_probability_targets": lambda: (
        _seeded(nn.Sequential(nn.Linear(5, 4), nn.Softplus(), nn.Linear(4, 3)), 7),
        "cross_entropy",
        _x((5,), 7),
        torch.rand(N, 3, generator=_gen(7), dtype=torch.float64),
    ),
    # a bare nn.Linear (softmax regression)
    "bare_linear_ce": lambda: (
        _seeded(nn.Linear(5, 4), 5),
        "cross_entropy",
        _x((5,), 5),
        _classes(4, 5),
    ),
}
DENSE_REGISTRY = [n for n in CASE_NAMES if not n.startswith("conv")]
ALL = [f"registry:{n}" for n in DENSE_REGISTRY] + list(CHAINS)


def _make(name: str, chunk_size: int | None = 10, **kwargs) -> tuple[Problem, torch.Tensor]:
    if name.startswith("registry:"):
        return make(name.split(":", 1)[1], chunk_size=chunk_size, **kwargs)
    model, loss, x, y = CHAINS[name]()
    problem = Problem(model, loss, (x, y), chunk_size=chunk_size, **kwargs)
    return problem, problem.theta_from_model()


def _mean_loss(problem: Problem):
    x, y = problem.data.x, problem.data.y
    model, layout = problem.model, problem.layout

    def f(theta):
        model.eval()  # the Problem's default mode (dropout off)
        return problem.per_sample_loss(
            functional_call(model, layout.unflatten(theta), (x,)), y
        ).mean()

    return f


def _dense_ggn(problem: Problem, theta: torch.Tensor) -> torch.Tensor:
    x, y = problem.data.x, problem.data.y
    model, layout = problem.model, problem.layout
    model.eval()

    def out(t):
        return functional_call(model, layout.unflatten(t), (x,))

    o = out(theta).detach()
    J = jacrev(out)(theta).reshape(o.numel(), -1)
    H_out = hessian(lambda v: problem.per_sample_loss(v.reshape(o.shape), y).mean())(o.reshape(-1))
    return J.T @ H_out @ J


def _probe(p: int, k: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(p, k, generator=_gen(seed), dtype=torch.float64)


@pytest.mark.parametrize("name", ALL)
def test_hessian_matches_dense(name):
    problem, theta = _make(name)  # 23 samples in chunks of 10, 10, 3
    H = hessian(_mean_loss(problem))(theta)
    op = HessianOperator(problem, theta)
    assert op.backend == "structured", op.backend_reason
    V = _probe(problem.num_params, 4)
    assert_close_report(op @ V, H @ V, rtol=RTOL, label=f"{name} H @ V")
    assert_close_report(op @ V[:, 0], H @ V[:, 0], rtol=RTOL, label=f"{name} H @ v")
    # a layer's block (parameter group): the dense block of the full Hessian
    layer = problem.layout.layers[0]
    sel = select_parameters(problem.layout, layer)
    block = HessianOperator(problem, theta, params=layer)
    W = _probe(sel.size, 2, seed=1)
    assert_close_report(block @ W, H[sel.index][:, sel.index] @ W, rtol=RTOL, label=f"{name} block")


@pytest.mark.parametrize("name", ALL)
def test_ggn_matches_dense(name):
    problem, theta = _make(name)
    G = _dense_ggn(problem, theta)
    op = GGNOperator(problem, theta)
    assert op.backend == "structured"
    V = _probe(problem.num_params, 3)
    assert_close_report(op @ V, G @ V, rtol=RTOL, label=f"{name} GGN")


@pytest.mark.parametrize("name", ["registry:mlp_softplus_ce_nobias", "nested_leaky_elu_bce"])
def test_parameter_groups_skip_inactive_layers_exactly(name):
    # Groups in the first, middle and last layer, two layers with an unselected one between
    # them, and a scattered mask: the products skip the unselected layers' work, so each case
    # exercises a different path through the passes.
    problem, theta = _make(name)
    H = hessian(_mean_loss(problem))(theta)
    G = _dense_ggn(problem, theta)
    layers = problem.layout.layers
    assert len(layers) == 3
    slots = list(problem.layout)
    mask = torch.zeros(problem.num_params, dtype=torch.bool)
    mask[::7] = True
    groups = [*layers, [slots[0].name, slots[-1].name], mask]
    for group in groups:
        sel = select_parameters(problem.layout, group)
        W = _probe(sel.size, 3, seed=4)
        for Op, M in ((HessianOperator, H), (GGNOperator, G)):
            op = Op(problem, theta, params=group)
            assert op.backend == "structured"
            assert_close_report(
                op @ W,
                M[sel.index][:, sel.index] @ W,
                rtol=RTOL,
                label=f"{name} {Op.__name__} {group if isinstance(group, (str, list)) else 'mask'}",
            )


@pytest.mark.parametrize("name", ["registry:mlp_softplus_ce_nobias", "nested_leaky_elu_bce"])
def test_sub_chunks_and_block_sizes(name, monkeypatch):
    # Small work buffers: every chunk is split into sub-chunks of 16 samples (the code path
    # large problems take); the product must not change beyond rounding, for any block size.
    problem, theta = _make(name, chunk_size=None)
    ref = HessianOperator(problem, theta, backend="autograd")
    V = _probe(problem.num_params, 9, seed=2)
    expected = ref @ V
    monkeypatch.setattr(structured, "_CPU_BUFFER_ELEMENTS", 64)
    op = HessianOperator(problem, theta)
    assert_close_report(op @ V, expected, rtol=1e-12, label="sub-chunked block")
    cols = torch.stack([op @ V[:, j] for j in range(V.shape[1])], dim=1)
    assert_close_report(cols, expected, rtol=1e-12, label="sub-chunked columns")


def test_results_never_alias_work_buffers():
    problem, theta = _make("registry:mlp_relu_ce", chunk_size=None)
    op = HessianOperator(problem, theta)
    other = HessianOperator(problem, theta)  # a second operator interleaved with the first
    V, W = _probe(problem.num_params, 3), _probe(problem.num_params, 5, seed=1)
    first = op @ V
    kept = first.clone()
    op @ W, other @ W, op @ V[:, :1], op @ (2 * V)
    assert torch.equal(first, kept)
    assert torch.equal(op @ V, kept)  # and products are deterministic


def test_cached_equals_uncached_bitwise_and_no_grad():
    problem, theta = _make("zoo_mlp_tanh_ce", chunk_size=7)
    V = _probe(problem.num_params, 2)
    cached = HessianOperator(problem, theta, cache=True)
    uncached = HessianOperator(problem, theta, cache=False)
    first = cached @ V
    assert torch.equal(first, uncached @ V)
    assert cached._graphs is not None and uncached._graphs is None
    cached.clear_cache()
    assert torch.equal(first, cached @ V)
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            assert torch.equal(cached @ V, first)
            assert torch.equal(uncached @ V, first)


def test_float32_close_to_float64_reference():
    problem64, theta64 = _make("registry:mlp_softplus_mse")
    H = hessian(_mean_loss(problem64))(theta64)
    problem, theta = _make("registry:mlp_softplus_mse", dtype=torch.float32)
    op = HessianOperator(problem, theta)
    assert op.backend == "structured" and op.dtype == torch.float32
    V = _probe(problem.num_params, 3)
    out = op @ V.float()
    assert out.dtype == torch.float32
    # float32 rounding of a few hundred terms: ~1e-6 of the scale.
    assert_close_report(out.double(), H @ V, rtol=1e-5, label="float32")


def test_model_untouched():
    problem, theta = _make("nested_leaky_elu_bce")
    model = problem.model
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    HessianOperator(problem, theta + 0.1) @ _probe(problem.num_params, 2)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_chain_recognition():
    problem, _ = _make("zoo_mlp_tanh_ce")
    chain = dense_chain(problem.model, problem.layout, train_mode=False)
    assert chain.flatten and [(s.in_features, s.out_features) for s in chain.stages] == [
        (6, 5),
        (5, 4),
        (4, 3),
    ]
    assert [len(s.activations) for s in chain.stages] == [1, 1, 0]
    problem, _ = _make("nested_leaky_elu_bce")
    chain = dense_chain(problem.model, problem.layout, train_mode=False)
    assert [len(s.activations) for s in chain.stages] == [1, 3, 0]  # dropout dropped (eval)
    assert isinstance(dense_chain(problem.model, problem.layout, train_mode=True), str)


def _fallback_cases():
    x, y = _x((4,), 9), _classes(3, 9)
    lin = nn.Linear(4, 4).double()
    hooked = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    hooked[1].register_forward_hook(lambda m, i, o: o * 2)
    frozen = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    frozen[0].bias.requires_grad_(False)

    overridden = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    overridden[2].forward = lambda inp: (
        2 * torch.nn.functional.linear(inp, overridden[2].weight, overridden[2].bias)
    )

    class Scaled(nn.Linear):  # a subclass may change forward: not assumed to be a Linear
        def forward(self, inp):
            return 2 * super().forward(inp)

    return {
        "Conv2d": (
            nn.Sequential(nn.Conv2d(1, 2, 2), nn.Flatten(), nn.Linear(8, 3)).double(),
            "cross_entropy",
            _x((1, 3, 3), 9),
            y,
            False,
        ),
        "shared": (
            nn.Sequential(lin, nn.Tanh(), lin, nn.Linear(4, 3)).double(),
            "cross_entropy",
            x,
            y,
            False,
        ),
        "hooks": (hooked, "cross_entropy", x, y, False),
        "trainable": (frozen, "cross_entropy", x, y, False),
        "Scaled": (nn.Sequential(Scaled(4, 3)).double(), "cross_entropy", x, y, False),
        "forward": (overridden, "cross_entropy", x, y, False),
        "global hook": (
            nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double(),
            "cross_entropy",
            x,
            y,
            False,
        ),
        "train mode": (
            nn.Sequential(nn.Linear(4, 5), nn.Dropout(0.3), nn.Linear(5, 3)).double(),
            "cross_entropy",
            x,
            y,
            True,
        ),
        # Linear on the last axis of (n, 2, 4) inputs: outputs (n, 2, 3)
        "shape": (
            nn.Sequential(nn.Linear(4, 3)).double(),
            "mse",
            _x((2, 4), 9),
            _targets((2, 3), 9),
            False,
        ),
        "loss": (
            nn.Sequential(nn.Linear(4, 3)).double(),
            lambda out, t: torch.nn.functional.cross_entropy(out, t, reduction="none"),
            x,
            y,
            False,
        ),
    }


@pytest.mark.parametrize("case", list(_fallback_cases()))
def test_unsupported_models_fall_back_to_autograd(case, request):
    model, loss, x, y, train_mode = _fallback_cases()[case]
    problem = Problem(model, loss, (x, y), chunk_size=None, train_mode=train_mode)
    theta = problem.theta_from_model()
    if case == "global hook":  # a global backward hook changes what autograd computes
        handle = torch.nn.modules.module.register_module_full_backward_hook(
            lambda m, gi, go: tuple(None if g is None else 2 * g for g in gi)
        )
        request.addfinalizer(handle.remove)
    op = HessianOperator(problem, theta)
    assert op.backend == "autograd"
    expected = {
        "Conv2d": "Conv2d",
        "shared": "more than once",
        "hooks": "hooks",
        "trainable": "trainable",
        "Scaled": "Scaled",
        "forward": "overridden forward",
        "global hook": "global module hooks",
        "train mode": "Dropout",
        "shape": "shape (2, 4)",
        "loss": "named losses",
    }[case]
    assert expected in op.backend_reason
    with pytest.raises(ValueError, match="backend='structured' cannot be used"):
        HessianOperator(problem, theta, backend="structured")
    if case not in ("train mode", "global hook"):  # no plain reference for these
        H = hessian(problem.loss_function(problem.data.x, problem.data.y))(theta)
        V = _probe(problem.num_params, 2)
        assert_close_report(op @ V, H @ V, rtol=RTOL, label=case)


def test_bad_backend_name():
    problem, theta = _make("registry:mlp_relu_ce")
    with pytest.raises(ValueError, match="backend must be one of"):
        HessianOperator(problem, theta, backend="fast")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    problem, theta = _make("flatten_gelu_sigmoid_out_mse")
    V = _probe(problem.num_params, 5)
    expected = HessianOperator(problem, theta) @ V
    gpu, theta_gpu = _make("flatten_gelu_sigmoid_out_mse", device="cuda")
    # "auto" keeps autograd on accelerators (measured there); the structured path on request.
    assert HessianOperator(gpu, theta_gpu).backend == "autograd"
    op = HessianOperator(gpu, theta_gpu, backend="structured")
    assert op.backend == "structured"
    assert_close_report((op @ V.cuda()).cpu(), expected, rtol=1e-12, label="cuda")
    G = GGNOperator(gpu, theta_gpu, backend="structured") @ V.cuda()
    assert_close_report(G.cpu(), GGNOperator(problem, theta) @ V, rtol=1e-12, label="cuda GGN")
