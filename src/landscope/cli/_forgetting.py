"""``landscope analyze forgetting RUN --out DIR``: the split-task protocol of Haink sec. 7.7 on a
run trained on all classes (:func:`landscope.forgetting.run_forgetting_analysis`: results.json,
table.csv, epochs.csv), then its figure (:func:`landscope.plotting.plot_forgetting_results`,
Fig. 7.22 / 7.23).  Settings come from options or a YAML file of
:class:`landscope.forgetting.ForgettingSettings` fields (``--settings``; options override it)."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from landscope.cli._common import NoProgress, fail, one_line_errors, open_run_or_fail

__all__ = ["forgetting", "register_analyses"]


class Layers(str, enum.Enum):
    """Which layers are reinitialized and trained on the two tasks."""

    last = "last"
    all = "all"


def _csv(value: str | None, cast=str) -> list | None:
    if value is None:
        return None
    return [cast(v.strip()) for v in value.split(",") if v.strip()]


def forgetting(
    run_dir: Annotated[Path, typer.Argument(help="a run trained on all classes")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for results and the figure")],
    settings_file: Annotated[
        Path | None,
        typer.Option("--settings", help="YAML of ForgettingSettings fields (options override)"),
    ] = None,
    layers: Annotated[Layers | None, typer.Option(help="last layer or all layers")] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            help="comma-separated: finetune,ewc,hessian,pca,singular,"
            "constraint_singular,constraint_hessian"
        ),
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="comma-separated seeds, e.g. 0,1,2")] = None,
    epochs_b: Annotated[int | None, typer.Option(help="epochs on task B", min=1)] = None,
    strength: Annotated[float | None, typer.Option(help="lambda of the penalties")] = None,
    gamma: Annotated[float | None, typer.Option(help="gradient-constraint strength")] = None,
    lr_fraction: Annotated[
        float | None, typer.Option(help="task B's lr / task A's final lr (default 0.01)")
    ] = None,
    no_progress: NoProgress = False,
) -> None:
    """Catastrophic forgetting on split tasks (Haink sec. 3.3, 7.7): fine-tuning, EWC, the
    Hessian (eq. 3.11), PCA (eq. 3.10) and singular-value (eq. 7.11) penalties and the gradient
    constraint (eq. 7.12); per method and seed the test accuracies on both tasks."""
    import yaml
    from pydantic import ValidationError

    from landscope.forgetting import ForgettingSettings, run_forgetting_analysis
    from landscope.plotting import plot_forgetting_results

    run = open_run_or_fail(run_dir)
    fields: dict = {}
    if settings_file is not None:
        if not settings_file.is_file():
            fail(f"--settings: no file {settings_file}")
        fields = yaml.safe_load(settings_file.read_text()) or {}
        if not isinstance(fields, dict):
            fail(f"--settings {settings_file} must be a YAML mapping of ForgettingSettings fields")
    overrides = {
        "layers": None if layers is None else layers.value,
        "methods": _csv(methods),
        "seeds": _csv(seeds, int) if seeds is not None else None,
        "epochs_b": epochs_b,
        "strength": strength,
        "gamma": gamma,
        "lr_fraction": lr_fraction,
    }
    fields.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = ForgettingSettings(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        fail(f"forgetting settings: {'.'.join(map(str, err['loc']))}: {err['msg']}")
    except ValueError as exc:
        fail(f"--seeds: {exc}")
    try:
        with one_line_errors():
            results = run_forgetting_analysis(run, settings, out, progress=not no_progress)
    except (ValueError, KeyError) as exc:
        fail(str(exc).strip("'\"").splitlines()[0])
    figures = plot_forgetting_results(out)
    typer.echo(json.dumps(results["summary"], indent=1, default=str))
    typer.echo(f"{len(figures)} figure; table.csv and results.json in {out}")


def register_analyses(app: typer.Typer) -> None:
    """Add ``forgetting`` to ``app`` (the root app adds it under ``landscope analyze``)."""
    app.command()(forgetting)
