"""The steps ``landscope run`` knows: analysis name -> (settings model, compute, plot).

Every analysis follows one contract (see ``landscope.pipeline``'s docstring): a pydantic settings
model, ``compute(run, settings, out_dir, *, progress) -> dict`` writing ``out_dir/results.json``
and raw arrays, and ``plot(out_dir) -> list[SavedFigure]`` drawing from those files only and
writing ``out_dir/figures.json``.  A :class:`Step` names the three, either as objects or as
``"module:attribute"`` strings imported when the step is used, so that the registry imports no
analysis package until a config asks for it (and a missing optional dependency is a one-line
error naming the analysis, not an import error of the whole pipeline).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = [
    "Step",
    "StepUnavailable",
    "check_analyses",
    "get_step",
    "register_step",
    "step_names",
    "steps",
]


class StepUnavailable(RuntimeError):
    """A registered step whose code cannot be imported here (a missing optional extra)."""


def _resolve(ref: Any) -> Any:
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Step:
    """One analysis of a recorded run, as the pipeline runs it.

    Attributes:
        name: the config's and the CLI's spelling (``hessian``, ``diffusion``, ``eigvec-stats``).
        title: the report's section title.
        settings: the pydantic settings model (``extra="forbid"``), or ``"module:Class"``.
        compute: ``compute(run, settings, out_dir, *, progress=True) -> dict`` (the
            ``results.json`` it wrote), or ``"module:function"``.
        plot: ``plot(out_dir) -> list[SavedFigure]``, or ``"module:function"``.
        version: bumped when the step's outputs change meaning: finished steps of an older
            version are recomputed.
        extra: the pip extra its code needs, named in the error when it cannot be imported.
    """

    name: str
    title: str
    settings: Any
    compute: Any
    plot: Any
    version: int = 1
    extra: str | None = None

    def settings_model(self) -> type[BaseModel]:
        return self._load("settings")

    def compute_function(self) -> Callable[..., dict]:
        return self._load("compute")

    def plot_function(self) -> Callable[..., list]:
        return self._load("plot")

    def _load(self, part: str) -> Any:
        try:
            return _resolve(getattr(self, part))
        except (ImportError, AttributeError) as exc:
            hint = f" (pip install 'landscope[{self.extra}]')" if self.extra else ""
            raise StepUnavailable(
                f"analysis {self.name!r} cannot be loaded here: {exc}{hint}"
            ) from None

    def available(self) -> bool:
        """Whether the step's settings, compute and plot import here."""
        try:
            for part in ("settings", "compute", "plot"):
                self._load(part)
        except StepUnavailable:
            return False
        return True

    def make_settings(self, values: Mapping[str, Any] | None) -> BaseModel:
        """The validated settings of ``values`` (None: the defaults); pydantic's
        ``ValidationError`` on bad ones (:func:`check_analyses` turns it into one line)."""
        return self.settings_model().model_validate(dict(values or {}))


_STEPS: dict[str, Step] = {}


def register_step(step: Step) -> Step:
    """Add ``step`` to the registry (a new name, or the same step again)."""
    old = _STEPS.get(step.name)
    if old is not None and old != step:
        raise ValueError(f"pipeline step {step.name!r} is already registered")
    _STEPS[step.name] = step
    return step


def _builtin() -> None:
    from landscope.pipeline import _steps  # noqa: F401  (registers the built-in steps)


def steps(*, available_only: bool = False) -> list[Step]:
    """The registered steps in registration order (with ``available_only``: only those whose
    code imports here)."""
    _builtin()
    return [s for s in _STEPS.values() if not available_only or s.available()]


def step_names(*, available_only: bool = False) -> list[str]:
    return [s.name for s in steps(available_only=available_only)]


def get_step(name: str) -> Step:
    _builtin()
    try:
        return _STEPS[name]
    except KeyError:
        raise KeyError(f"unknown analysis {name!r}; known: {', '.join(step_names())}") from None


def _field_errors(err: ValidationError, where: str) -> list[str]:
    out = []
    for e in err.errors():
        loc = ".".join([where, *(str(p) for p in e["loc"])])
        msg = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
        out.append(f"{loc}: {msg}")
    return out


def check_analyses(analyses: Mapping[str, Any]) -> list[tuple[Step, BaseModel]]:
    """The steps and validated settings of a config's ``pipeline.analyses`` mapping, in order.

    Raises:
        ValueError: one line per problem, each naming the field
            (``pipeline.analyses.hessian.top_k: Input should be greater than 0``,
            ``pipeline.analyses.foo: unknown analysis 'foo'; known: ...``).
    """
    problems: list[str] = []
    chosen: list[tuple[Step, BaseModel]] = []
    for name, values in analyses.items():
        where = f"pipeline.analyses.{name}"
        try:
            step = get_step(name)
            chosen.append((step, step.make_settings(values)))
        except KeyError as exc:
            problems.append(f"{where}: {str(exc).strip(chr(34) + chr(39))}")
        except StepUnavailable as exc:
            problems.append(f"{where}: {exc}")
        except ValidationError as exc:
            problems.extend(_field_errors(exc, where))
        except TypeError as exc:  # values not a mapping
            problems.append(f"{where}: settings must be a mapping of fields ({exc})")
    if problems:
        raise ValueError("; ".join(problems))
    return chosen
