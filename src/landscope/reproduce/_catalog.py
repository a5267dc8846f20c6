"""The reproduction catalog: every reproduced figure or table of the four papers, one entry each.

An entry (:class:`Reproduction`) names the paper and the figures / tables it covers, the configs
it runs (YAML files shipped in ``landscope/reproduce/configs/``, the single source), the function
that runs it (``run(out, quick=..., progress=...) -> dict``) and its expected run time.  What it
reports for each of the paper's statements is a :class:`Check`: the paper's value, ours, and a
:class:`Verdict` computed by the code (reproduced / differs / not reproducible offline) with the
criterion and, where we differ, the reason.  ``landscope reproduce --list`` lists the catalog;
``landscope reproduce NAME [--quick]`` runs one entry.

Entries register themselves with :func:`register` when their module is imported; the package
``__init__`` imports every built-in entry module.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "Check",
    "Reproduction",
    "Verdict",
    "catalog",
    "check",
    "config_path",
    "get_reproduction",
    "load_reproduction_config",
    "register",
]


class Verdict(str, enum.Enum):
    """The outcome of checking one statement of a paper against our measurement."""

    REPRODUCED = "reproduced"
    DIFFERS = "differs"
    NOT_OFFLINE = "not reproducible offline"

    def __str__(self) -> str:  # "reproduced", not "Verdict.REPRODUCED", in tables and f-strings
        return self.value


@dataclass(frozen=True)
class Check:
    """One statement of a paper checked against our run.

    Attributes:
        claim: the paper's statement in words (what is tested), e.g. "overlap(g, Hg) ~ 0.96 late
            in training (FC, softplus)".
        where: the figure / table / section of the paper, e.g. "Table 1, row 2".
        paper: the paper's value (a number, a string such as "k - 1 = 9", or None).
        ours: our measured value.
        verdict: computed from ``ours`` by ``criterion``.
        criterion: the rule that decided the verdict, in words (tolerance, threshold).
        reason: why we differ (offline stand-in data, a smaller model, an ambiguity in the paper),
            or what the agreement rests on; required for DIFFERS and NOT_OFFLINE.
    """

    claim: str
    where: str
    paper: Any
    ours: Any
    verdict: Verdict
    criterion: str
    reason: str = ""

    def __post_init__(self):
        if self.verdict is not Verdict.REPRODUCED and not self.reason:
            raise ValueError(f"a {self.verdict} verdict needs a reason: {self.claim!r}")

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.REPRODUCED

    def as_dict(self) -> dict:
        return {
            "claim": self.claim,
            "where": self.where,
            "paper": self.paper,
            "ours": self.ours,
            "verdict": self.verdict.value,
            "criterion": self.criterion,
            "reason": self.reason,
        }


def check(
    claim: str,
    where: str,
    *,
    paper: Any,
    ours: Any,
    holds: bool,
    criterion: str,
    differs_because: str = "",
    reason: str = "",
) -> Check:
    """A :class:`Check` whose verdict is computed: REPRODUCED when ``holds`` (the criterion,
    evaluated by the caller on our measurement through the library's generic code path), else
    DIFFERS with ``differs_because`` as the reason.

    >>> c = check("f_top > 0.9 late", "Fig. 1", paper=0.95, ours=0.97, holds=0.97 > 0.9,
    ...           criterion="ours > 0.9")
    >>> str(c.verdict)
    'reproduced'
    >>> check("x", "Fig. 1", paper=1, ours=0, holds=False, criterion="ours == 1",
    ...       differs_because="smaller model").verdict is Verdict.DIFFERS
    True
    """
    holds = bool(holds)
    if not holds and not differs_because:
        raise ValueError(f"state why we differ when the check fails: {claim!r}")
    return Check(
        claim=claim,
        where=where,
        paper=paper,
        ours=ours,
        verdict=Verdict.REPRODUCED if holds else Verdict.DIFFERS,
        criterion=criterion,
        reason=reason if holds else differs_because,
    )


@dataclass(frozen=True)
class Reproduction:
    """A catalog entry.

    Attributes:
        name: the command-line name, ``<paper>-<item>`` (e.g. ``gurari-fig2``).
        paper: short citation (e.g. "Gur-Ari, Roberts & Dyer 2018").
        items: the figures / tables / sections reproduced (e.g. "Fig. 1, 2, 3, 8, 11").
        description: one line.
        run: ``run(out: Path, *, quick: bool, progress: bool) -> dict`` writes the report
            (``report.md``, ``report.html``, ``results.json``, figures) to ``out`` and returns the
            results; ``results["checks"]`` holds the :meth:`Check.as_dict` of every check.
        configs: names of the run configs it uses (:func:`load_reproduction_config`).
        minutes: expected run time (quick, full) on a 2-core CPU, in minutes.
    """

    name: str
    paper: str
    items: str
    description: str
    run: Callable[..., dict]
    configs: tuple[str, ...] = ()
    minutes: tuple[float, float] = (float("nan"), float("nan"))
    extra: dict = field(default_factory=dict)


_CATALOG: dict[str, Reproduction] = {}


def register(entry: Reproduction) -> Reproduction:
    """Add ``entry`` to the catalog (its name must be new)."""
    if entry.name in _CATALOG and _CATALOG[entry.name] is not entry:
        raise ValueError(f"reproduction {entry.name!r} is already in the catalog")
    _CATALOG[entry.name] = entry
    return entry


def catalog() -> list[Reproduction]:
    """All entries, sorted by name."""
    return [_CATALOG[n] for n in sorted(_CATALOG)]


def get_reproduction(name: str) -> Reproduction:
    try:
        return _CATALOG[name]
    except KeyError:
        raise KeyError(
            f"unknown reproduction {name!r}; the catalog has: {', '.join(sorted(_CATALOG))}"
        ) from None


def config_path(name: str) -> Path:
    """The shipped YAML config ``name`` (e.g. ``"gurari/fc_digits"``), a path inside the package."""
    path = Path(str(resources.files("landscope.reproduce") / "configs" / f"{name}.yaml"))
    if not path.is_file():
        raise FileNotFoundError(f"no reproduction config {name!r} (looked for {path})")
    return path


def load_reproduction_config(name: str, /, **overrides: Any) -> dict:
    """The shipped config ``name`` as a plain dict (validated by
    :func:`landscope.config.load_config`), with nested ``overrides`` merged in (dicts merge
    key by key, anything else replaces; ``name`` is positional-only, so ``name=...`` overrides
    the config's own name)."""
    import yaml

    from landscope.config import load_config

    with open(config_path(name)) as f:
        cfg = yaml.safe_load(f)
    cfg = _merge(cfg, overrides)
    load_config(cfg)  # raises ConfigError naming the field
    return cfg


def _merge(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
