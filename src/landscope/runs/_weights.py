"""Start a model from the weights another run recorded (``init.from_run`` of a run config)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from landscope.config import ConfigError

__all__ = ["load_run_weights"]


def load_run_weights(model: nn.Module, run_dir: str | Path, step: int | str = "last") -> nn.Module:
    """Copy the weights a run recorded at ``step`` (a step, ``"init"`` or ``"last"``) into
    ``model``'s trainable parameters, in place (the model becomes float64 when the run stored
    float64, so no bit is lost); the run's parameter layout (names, shapes, order) must equal
    the model's.  Errors name ``init.from_run`` / ``init.from_step``."""
    from landscope.problem import ParameterLayout
    from landscope.runs._run import open_run

    try:
        run = open_run(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"init.from_run: {exc}") from None
    layout = ParameterLayout.from_module(model)
    if run.layout is None:
        raise ConfigError(f"init.from_run: run {run_dir} has no parameter layout in meta.json")
    if run.layout != layout:
        theirs = {s.name: s.shape for s in run.layout}
        ours = {s.name: s.shape for s in layout}
        diff = [
            f"{n}: {theirs.get(n, 'missing')} in the run, {ours.get(n, 'missing')} in the model"
            for n in dict.fromkeys([*ours, *theirs])
            if theirs.get(n) != ours.get(n)
        ]
        raise ConfigError(
            f"init.from_run: run {run_dir} has a different parameter layout than the model "
            f"({'; '.join(diff[:3]) or 'same tensors in another order'})"
        )
    try:
        theta = run.theta(step)  # in the stored precision
    except (KeyError, ValueError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        raise ConfigError(f"init.from_step: {msg}") from None
    if not bool(torch.isfinite(theta).all()):
        raise ConfigError(
            f"init.from_run: the weights of run {run_dir} at step {step} are not finite"
        )
    if theta.dtype == torch.float64:  # keep every bit of a float64 run
        model.double()
    with torch.no_grad():
        for slot, (_, param) in zip(
            layout, ((n, p) for n, p in model.named_parameters() if p.requires_grad), strict=True
        ):
            param.copy_(theta[slot.slice].reshape(slot.shape).to(param.dtype))
    return model
