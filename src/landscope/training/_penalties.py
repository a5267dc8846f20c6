"""The engine's own loss penalty: an L2 pull towards an anchor (a plugin like any other).

Penalties of later analyses (e.g. curvature-based defences against forgetting, Haink sec. 3.3)
register in :data:`landscope.plugins.LOSS_PENALTIES` the same way.
"""

from __future__ import annotations

from pathlib import Path

import torch

from landscope.plugins import LOSS_PENALTIES, PenaltyContext

__all__ = ["L2Anchor"]


@LOSS_PENALTIES.register("l2_anchor")
class L2Anchor:
    """``strength / 2 * || m * (theta - theta_anchor) ||^2``: an L2 pull towards an anchor.

    The anchor is theta(0) of this run (``anchor="init"``: the L2-SP regularizer of fine-tuning),
    the origin (``anchor="zero"``: L2 weight decay as a loss term), or the last recorded theta of
    another run folder (``anchor="path/to/run"``: the usual baseline of continual learning, "stay
    close to the previous task's solution").  ``m`` is 1, or 0 on biases with ``on_bias=False``.
    Its gradient ``strength * m * (theta - theta_anchor)`` is added to every minibatch gradient.

    Args:
        strength: lambda >= 0 (0 leaves training bitwise unchanged).
        anchor: ``"init"``, ``"zero"`` or a run folder with the same parameter layout.
        on_bias: include bias parameters.
        name: the name of its recorded series ``penalty.<name>``.
    """

    def __init__(
        self,
        strength: float = 1e-3,
        anchor: str = "init",
        on_bias: bool = True,
        name: str = "l2_anchor",
    ):
        if not strength >= 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        self.strength, self.anchor, self.on_bias, self.name = float(strength), anchor, on_bias, name
        self._anchor: torch.Tensor | None = None
        self._mask: torch.Tensor | None = None

    def setup(self, ctx: PenaltyContext) -> None:
        problem = ctx.problem
        if self.anchor == "init":
            anchor = ctx.theta_init
        elif self.anchor == "zero":
            anchor = torch.zeros_like(ctx.theta_init)
        else:
            from landscope.runs import open_run

            other = open_run(Path(self.anchor))
            anchor = other.theta("last", like=problem)
            if anchor.shape != ctx.theta_init.shape:
                raise ValueError(
                    f"l2_anchor: run {self.anchor} has {anchor.numel()} parameters, this model "
                    f"{ctx.theta_init.numel()}"
                )
        self._anchor = anchor.detach().to(device=problem.device, dtype=problem.dtype)
        if not self.on_bias:
            self._mask = problem.layout.mask(lambda s: s.kind != "bias").to(
                device=problem.device, dtype=problem.dtype
            )

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        if self._anchor is None:
            raise RuntimeError("L2Anchor.setup was not called (the engine calls it before step 0)")
        diff = theta - self._anchor
        if self._mask is not None:
            diff = diff * self._mask
        return 0.5 * self.strength * (diff * diff).sum()
