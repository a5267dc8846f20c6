"""Shared by the reproductions of Gur-Ari, Roberts & Dyer (2018), *Gradient descent happens in a
tiny subspace* (``gurari-*`` entries of the catalog).

All run offline: the embedded 8x8 digits (1,438 training / 359 test images, 10 classes) stand in
for MNIST and CIFAR-10, the small Keras ConvNet is trained on them with 'same' padding and a
128-unit dense layer, and the regression row uses the built-in sine set.  The run configs are
YAML files shipped in ``landscope/reproduce/configs/gurari/`` (the single source; load them with
:func:`~landscope.reproduce.load_reproduction_config`); each entry's ``quick`` variant is a small
override of them, documented where it is defined.

Each entry is split into *compute* (train / measure, returns the results dict), *checks*
(``checks(results) -> list[Check]``: the paper's statements, each with a verdict computed from our
numbers by a stated criterion) and *report* (prose, tables, figures, the verdict table).
"""

from __future__ import annotations

import copy
import math

__all__ = ["PAPER", "close", "with_analysis"]

#: The citation shown in the catalog.
PAPER = "Gur-Ari, Roberts & Dyer 2018"

#: Why numbers on our offline stand-ins can differ from the paper's, in one sentence.
OFFLINE = (
    "offline stand-in: the 8x8 digits (1,438 training images, 64 pixels) for MNIST / CIFAR-10, "
    "and far fewer steps than the paper's 'few epochs'"
)


def close(ours: float, paper: float, tol: float) -> bool:
    """``|ours - paper| <= tol`` (False for NaN: a missing measurement never passes)."""
    return math.isfinite(float(ours)) and abs(float(ours) - float(paper)) <= tol


def with_analysis(cfg: dict, name: str, *, every: int | None = None, **options) -> list[dict]:
    """``cfg["analyses"]`` with online analysis ``name``'s ``every`` and ``options`` replaced:
    an ``analyses=`` override for :func:`~landscope.reproduce.load_reproduction_config` (lists
    are replaced as a whole, so one option is changed by rewriting the list).

    >>> cfg = {"analyses": [{"name": "a", "every": 1, "options": {"k": 10, "x": 1}}]}
    >>> with_analysis(cfg, "a", every=4, x=2)
    [{'name': 'a', 'every': 4, 'options': {'k': 10, 'x': 2}}]
    """
    analyses = copy.deepcopy(cfg.get("analyses") or [])
    hits = [a for a in analyses if a["name"] == name]
    if not hits:
        raise ValueError(f"config {cfg.get('name')!r} has no analysis {name!r}")
    for a in hits:
        if every is not None:
            a["every"] = int(every)
        a["options"] = {**a.get("options", {}), **options}
    return analyses
