"""landscope's flat optimizers against ``torch.optim``, the independent reference.

Two levels:

* the update rules alone: :class:`landscope.training.SGD` / :class:`~landscope.training.Adam` on
  one flat float64 ``theta`` against ``torch.optim.SGD`` / ``Adam`` / ``AdamW`` on an identical
  tensor, each fed the gradient of the same smooth loss at its own current parameters, for 20
  steps (closed loop: a wrong rule changes the path, not just one step);
* the training engine: ``landscope.training.train`` against a plain loop that applies
  ``torch.optim`` to the module's own parameters on the same minibatches (``batch_indices``).

Conventions mapped onto torch (constant learning rate; with a schedule Haink's SGD convention
``v = -lr g + mu v`` and torch's ``buf = mu buf + g; theta -= lr buf`` differ, by design):

* SGD momentum mu, L2 weight decay lambda (``weight_decay_mode="l2"``: lambda theta added to the
  gradient, so it enters the momentum) = ``torch.optim.SGD(momentum=mu, weight_decay=lambda)``;
* SGD with decoupled decay (SGDW: ``theta -= lr lambda theta`` outside the momentum) =
  ``torch.optim.SGD(momentum=mu)`` after ``p.mul_(1 - lr lambda)``, the AdamW form of the shrink
  (torch has no SGDW);
* Adam = ``torch.optim.Adam``; Adam with decoupled decay = ``torch.optim.AdamW``; Adam with L2 =
  ``torch.optim.Adam(weight_decay=lambda)``; a decay mask (no decay on biases) = a second
  parameter group with ``weight_decay=0``.

Tolerance: the two implementations evaluate the same formulas in a different order (torch
divides ``sqrt(v)`` by ``sqrt(1 - b2^t)``, folds ``1/(1 - b1^t)`` into the step size and shrinks
AdamW's theta by ``1 - lr lambda`` in place), which moves each step by a few ulps.  Measured over
the 20 steps: at most 4e-15 absolute and 1.5e-13 relative (AdamW; 1.6e-14 for Adam, 5e-15 for
SGD with momentum); the engine tests 4.4e-16 absolute.  ``rtol = 1e-12`` with ``atol = 1e-14``
(1e-13 for the engine, whose parameters are O(1)) leaves a margin of 7x or more, and every
change of the rule is far above it: ``test_the_tolerance_resolves_rule_changes`` shows that
eps 1e-8 vs 1e-7 (280 relative), beta2 0.999 vs 0.998 (2.6e-3) or coupled vs decoupled decay
(1e3) move theta by more than 1e-9 relative, so the comparison can fail.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from landscope.data import SplitDataset, TensorData
from landscope.training import SGD, Adam, batch_indices, train

F64 = torch.float64
P = 40
STEPS = 20
RTOL, ATOL = 1e-12, 1e-14


def _problem() -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """A smooth non-quadratic loss on R^40 (a softplus regression) and its start point.  The
    gradient entries span 1e-9 .. 1 in size, so Adam's eps (1e-8) matters for some of them."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(60, P, generator=g, dtype=F64) / P**0.5
    b = torch.randn(60, generator=g, dtype=F64)
    scale = torch.logspace(-9, 0, P, dtype=F64)  # per-coordinate scale of the gradient
    theta0 = torch.randn(P, generator=g, dtype=F64)

    def grad(theta: torch.Tensor) -> torch.Tensor:
        t = theta.detach().requires_grad_(True)
        loss = (
            torch.nn.functional.softplus(A @ (scale * t) - b).sum() + 0.5 * (scale * t).pow(2).sum()
        )
        return torch.autograd.grad(loss, t)[0]

    return theta0, grad


def _mask() -> torch.Tensor:
    # "No decay on these entries" (the engine's mask for biases): the last 10 coordinates.
    m = torch.ones(P, dtype=F64)
    m[-10:] = 0.0
    return m


def _landscope_path(opt, lr: float, l2: float = 0.0, mask=None) -> torch.Tensor:
    theta, grad = _problem()
    path = [theta.clone()]
    for _ in range(STEPS):
        g = grad(theta)
        if l2:  # the engine adds the L2 term to the gradient (masked) before the update rule
            g = g + l2 * theta * (1.0 if mask is None else mask)
        theta = theta + opt.update(theta, g, lr)
        path.append(theta.clone())
    return torch.stack(path)


def _torch_path(make_opt, *, masked: bool = False, shrink: float = 0.0) -> torch.Tensor:
    """The same loop through torch.optim: ``make_opt(param_groups)``; ``shrink`` = lr * lambda
    applied as ``p.mul_(1 - shrink)`` before each step (SGDW in AdamW's form)."""
    theta0, grad = _problem()
    if masked:  # two views of one tensor cannot be two leaves: split into two parameters
        decayed = theta0[:-10].clone().requires_grad_(True)
        free = theta0[-10:].clone().requires_grad_(True)
        params = [decayed, free]
    else:
        params = [theta0.clone().requires_grad_(True)]
    opt = make_opt(params)
    path = [torch.cat([p.detach() for p in params])]
    for _ in range(STEPS):
        g = grad(torch.cat([p.detach() for p in params]))
        with torch.no_grad():
            for p, gp in zip(params, g.split([p.numel() for p in params]), strict=True):
                p.grad = gp.clone()
            if shrink:
                params[0].mul_(1 - shrink)
        opt.step()
        path.append(torch.cat([p.detach() for p in params]))
    return torch.stack(path)


def _assert_paths_close(ours: torch.Tensor, ref: torch.Tensor, label: str) -> None:
    assert ours.shape == ref.shape == (STEPS + 1, P)
    err = (ours - ref).abs()
    bound = ATOL + RTOL * ref.abs()
    worst = int(torch.argmax(err / bound))
    step, i = divmod(worst, P)
    assert bool((err <= bound).all()), (
        f"{label}: step {step}, theta[{i}] = {float(ours[step, i])!r} vs torch "
        f"{float(ref[step, i])!r} (|diff| {float(err[step, i]):.3e} > {float(bound[step, i]):.3e})"
    )
    # The optimizer moved theta well beyond the tolerance (the comparison is not vacuous).
    assert float((ref[-1] - ref[0]).abs().max()) > 1e-3


LR_SGD, LR_ADAM, MU, LAM = 0.3, 0.05, 0.9, 0.05


@pytest.mark.parametrize("momentum", [0.0, MU])
def test_sgd_matches_torch_sgd(momentum):
    ours = _landscope_path(SGD(momentum), LR_SGD)
    ref = _torch_path(lambda ps: torch.optim.SGD(ps, lr=LR_SGD, momentum=momentum))
    _assert_paths_close(ours, ref, f"SGD momentum {momentum}")


@pytest.mark.parametrize("masked", [False, True])
def test_sgd_l2_weight_decay_matches_torch_sgd_weight_decay(masked):
    mask = _mask() if masked else None
    ours = _landscope_path(SGD(MU), LR_SGD, l2=LAM, mask=mask)

    def make(ps):
        groups = [{"params": ps[:1], "weight_decay": LAM}]
        groups += [{"params": ps[1:], "weight_decay": 0.0}] if masked else []
        return torch.optim.SGD(groups, lr=LR_SGD, momentum=MU)

    _assert_paths_close(ours, _torch_path(make, masked=masked), f"SGD l2 masked={masked}")


@pytest.mark.parametrize("momentum", [0.0, MU])
@pytest.mark.parametrize("masked", [False, True])
def test_sgdw_matches_torch_sgd_with_adamw_shrink(momentum, masked):
    mask = _mask() if masked else None
    ours = _landscope_path(SGD(momentum, decoupled_weight_decay=LAM, decay_mask=mask), LR_SGD)
    ref = _torch_path(
        lambda ps: torch.optim.SGD(ps, lr=LR_SGD, momentum=momentum),
        masked=masked,
        shrink=LR_SGD * LAM,
    )
    _assert_paths_close(ours, ref, f"SGDW momentum {momentum} masked={masked}")


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9)])
@pytest.mark.parametrize("eps", [1e-8, 1e-3])
def test_adam_matches_torch_adam(betas, eps):
    ours = _landscope_path(Adam(betas, eps), LR_ADAM)
    ref = _torch_path(lambda ps: torch.optim.Adam(ps, lr=LR_ADAM, betas=betas, eps=eps))
    _assert_paths_close(ours, ref, f"Adam betas {betas} eps {eps}")


@pytest.mark.parametrize("masked", [False, True])
def test_adam_decoupled_matches_torch_adamw(masked):
    mask = _mask() if masked else None
    ours = _landscope_path(Adam(decoupled_weight_decay=LAM, decay_mask=mask), LR_ADAM)

    def make(ps):
        groups = [{"params": ps[:1], "weight_decay": LAM}]
        groups += [{"params": ps[1:], "weight_decay": 0.0}] if masked else []
        return torch.optim.AdamW(groups, lr=LR_ADAM)

    _assert_paths_close(ours, _torch_path(make, masked=masked), f"AdamW masked={masked}")


def test_adam_l2_matches_torch_adam_weight_decay():
    ours = _landscope_path(Adam(), LR_ADAM, l2=LAM)
    ref = _torch_path(lambda ps: torch.optim.Adam(ps, lr=LR_ADAM, weight_decay=LAM))
    _assert_paths_close(ours, ref, "Adam l2")


def test_optimizer_state_round_trip_continues_the_torch_path():
    # Checkpoint after 7 steps, restore into a fresh optimizer, continue: still torch's path.
    theta, grad = _problem()
    first = Adam(decoupled_weight_decay=LAM)
    path = [theta.clone()]
    for _ in range(7):
        theta = theta + first.update(theta, grad(theta), LR_ADAM)
        path.append(theta.clone())
    second = Adam(decoupled_weight_decay=LAM)
    second.load_state_dict(
        {k: v.clone() if torch.is_tensor(v) else v for k, v in first.state_dict().items()}
    )
    for _ in range(STEPS - 7):
        theta = theta + second.update(theta, grad(theta), LR_ADAM)
        path.append(theta.clone())
    ref = _torch_path(lambda ps: torch.optim.AdamW(ps, lr=LR_ADAM, weight_decay=LAM))
    _assert_paths_close(torch.stack(path), ref, "AdamW resumed")


def test_the_tolerance_resolves_rule_changes():
    # A comparison that cannot fail is no test: each small change of the rule moves the torch
    # path by far more than the tolerance above.
    base = _landscope_path(Adam(), LR_ADAM)
    variants = {
        "eps 1e-7": _torch_path(lambda ps: torch.optim.Adam(ps, lr=LR_ADAM, eps=1e-7)),
        "beta2 0.998": _torch_path(lambda ps: torch.optim.Adam(ps, lr=LR_ADAM, betas=(0.9, 0.998))),
        "coupled decay": _torch_path(lambda ps: torch.optim.Adam(ps, lr=LR_ADAM, weight_decay=LAM)),
    }
    for name, ref in variants.items():
        rel = float(((base - ref).abs() / (ATOL + ref.abs())).max())
        assert rel > 1e3 * RTOL, f"{name}: paths differ by only {rel:.1e} relative"
    sgdw = _landscope_path(SGD(MU, decoupled_weight_decay=LAM), LR_SGD)
    coupled = _torch_path(lambda ps: torch.optim.SGD(ps, lr=LR_SGD, momentum=MU, weight_decay=LAM))
    assert float(((sgdw - coupled).abs() / (ATOL + coupled.abs())).max()) > 1e3 * RTOL


# --- the training engine against torch.optim on the module's own parameters ------------------
def _tiny_dataset(n: int = 24) -> SplitDataset:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n + 8, 3, generator=g)
    y = torch.randint(0, 3, (n + 8,), generator=g)
    return SplitDataset(
        "tiny", TensorData(x[:n], y[:n]), TensorData(x[n:], y[n:]), "classification", 3
    )


def _tiny_model() -> nn.Module:
    g = torch.Generator().manual_seed(5)
    m = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    return m


def _torch_optim_trajectory(cfg: dict, model: nn.Module, ds: SplitDataset) -> np.ndarray:
    """torch.optim on a copy of the module, the engine's minibatches, float64."""
    import copy

    model = copy.deepcopy(model).double()
    opt_cfg, tc = cfg["optimizer"], cfg["training"]
    lam, mode = opt_cfg.get("weight_decay", 0.0), opt_cfg.get("weight_decay_mode", "l2")
    lr = opt_cfg["lr"]
    params = list(model.parameters())
    coupled = lam if mode == "l2" else 0.0
    if opt_cfg["name"] == "sgd":
        opt = torch.optim.SGD(
            params, lr=lr, momentum=opt_cfg.get("momentum", 0.0), weight_decay=coupled
        )
        shrink = lr * lam if mode == "decoupled" else 0.0
    elif mode == "decoupled":
        opt, shrink = torch.optim.AdamW(params, lr=lr, weight_decay=lam), 0.0
    else:
        opt, shrink = torch.optim.Adam(params, lr=lr, weight_decay=coupled), 0.0
    x, y = ds.train.x.double(), ds.train.y
    out = [torch.cat([p.detach().reshape(-1) for p in params])]
    for step in range(tc["steps"]):
        idx = batch_indices(
            step,
            num_samples=len(ds.train),
            batch_size=tc["batch_size"],
            seed=cfg["seed"],
            sampling="without_replacement",
        )
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        if shrink:
            with torch.no_grad():
                for p in params:
                    p.mul_(1 - shrink)
        opt.step()
        out.append(torch.cat([p.detach().reshape(-1) for p in params]))
    return torch.stack(out).numpy()


@pytest.mark.parametrize(
    "optimizer",
    [
        {"name": "sgd", "lr": 0.2, "momentum": 0.9},
        {
            "name": "sgd",
            "lr": 0.2,
            "momentum": 0.5,
            "weight_decay": 0.01,
            "weight_decay_mode": "l2",
        },
        {
            "name": "sgd",
            "lr": 0.2,
            "momentum": 0.5,
            "weight_decay": 0.05,
            "weight_decay_mode": "decoupled",
        },
        {"name": "adam", "lr": 0.01},
        {"name": "adam", "lr": 0.01, "weight_decay": 0.01, "weight_decay_mode": "l2"},
        {"name": "adam", "lr": 0.01, "weight_decay": 0.1, "weight_decay_mode": "decoupled"},
    ],
)
def test_training_engine_matches_torch_optim(tmp_path, optimizer):
    ds, model = _tiny_dataset(), _tiny_model()
    cfg = {
        "name": "tiny",
        "seed": 7,
        "dtype": "float64",
        "data": {"name": "iris"},
        "model": {"name": "mlp", "options": {"widths": [5]}},
        "optimizer": optimizer,
        "training": {"batch_size": 6, "steps": 20},
        "record": {"params": {"every": 1}, "eval": {"every": 5}, "flush_every": 4},
    }
    run = train(cfg, tmp_path / "run", model=model, dataset=ds, progress=False)
    params = run.read("params")
    ref = _torch_optim_trajectory(cfg, model, ds)
    assert params.shape == ref.shape == (21, 3 * 5 + 5 + 5 * 3 + 3)
    # Same tolerance argument as above, plus the loss summed in another order (chunks).
    np.testing.assert_allclose(params, ref, rtol=RTOL, atol=1e-13)
    assert float(np.abs(ref[-1] - ref[0]).max()) > 1e-2
    # The recorded updates are the steps taken, and every step's parameters are recorded.
    np.testing.assert_allclose(run.read("updates"), np.diff(params, axis=0), rtol=1e-10, atol=1e-13)
    assert np.array_equal(run.steps("params"), np.arange(21))
