"""Core commands: datasets, models, validate, evaluate, train, runs show."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

runs_app = typer.Typer(help="Inspect recorded runs.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _table(rows: list[dict], columns: list[str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        # Short columns never wrap; free text (description) takes the remaining width.
        table.add_column(
            c, no_wrap=c != "description", overflow="fold" if c == "description" else "ellipsis"
        )
    for r in rows:
        table.add_row(*[("" if r.get(c) is None else str(r.get(c))) for c in columns])
    Console().print(table)


def _load(config: Path):
    from landscope.config import ConfigError, load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        _fail(str(exc))


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")

    @app.command()
    def version() -> None:
        """Print the landscope version."""
        from landscope import __version__

        typer.echo(__version__)

    @app.command()
    def datasets(
        as_json: Annotated[
            bool, typer.Option("--json", help="print JSON instead of a table")
        ] = False,
    ) -> None:
        """List the built-in datasets (all offline) with their shapes and sizes."""
        from landscope.data import list_datasets

        rows = list_datasets()
        if as_json:
            typer.echo(json.dumps(rows, indent=2, default=str))
            return
        _table(
            rows,
            ["name", "task", "input_shape", "num_classes", "n_train", "n_test", "description"],
            "landscope datasets",
        )

    @app.command()
    def models(
        as_json: Annotated[
            bool, typer.Option("--json", help="print JSON instead of a table")
        ] = False,
    ) -> None:
        """List the model zoo with parameter counts on a stated example input."""
        from landscope.models import INITIALIZERS, list_models

        rows = list_models()
        if as_json:
            typer.echo(
                json.dumps(
                    {"models": rows, "initializers": sorted(INITIALIZERS)}, indent=2, default=str
                )
            )
            return
        _table(rows, ["name", "parameters", "example", "description"], "landscope models")
        typer.echo("options of each model: landscope models --json")
        typer.echo("initializers: " + ", ".join(sorted(INITIALIZERS)))

    @app.command()
    def validate(config: Annotated[Path, typer.Argument(help="run config YAML")]) -> None:
        """Check a run config; print it with all defaults filled in."""
        cfg = _load(config)
        typer.echo(cfg.to_yaml())

    @app.command()
    def evaluate(
        config: Annotated[Path, typer.Argument(help="run config YAML (data, model, init, loss)")],
        out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None,
    ) -> None:
        """Loss, gradient norm and accuracy of the config's model at initialization, on the
        train and test splits (full dataset, chunked)."""
        from landscope.config import build_problems

        cfg = _load(config)
        train_problem, test_problem = build_problems(cfg)
        theta = train_problem.theta_from_model()
        result: dict = {"config": str(config), "num_params": train_problem.num_params}
        for split, problem in (("train", train_problem), ("test", test_problem)):
            if problem is None:
                continue
            metrics = problem.evaluate(theta)
            metrics["gradient_norm"] = float(problem.gradient(theta).norm())
            metrics["num_samples"] = problem.num_samples
            result[split] = metrics
        typer.echo(json.dumps(result, indent=2))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2))

    @app.command()
    def train(
        config: Annotated[
            Path | None, typer.Argument(help="run config YAML (omit with --resume)")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="run folder to create")
        ] = None,
        resume: Annotated[
            Path | None, typer.Option(help="continue the interrupted run in this folder")
        ] = None,
        overwrite: Annotated[bool, typer.Option(help="replace an existing run folder")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    ) -> None:
        """Train as CONFIG says, recording the trajectory (parameters, updates, minibatches,
        losses) to a crash-safe run folder; --resume RUN continues an interrupted run exactly."""
        from landscope.config import ConfigError
        from landscope.training import NonFiniteLossError, TrainingInterrupted
        from landscope.training import train as run_training

        if resume is None and (config is None or out is None):
            _fail("give CONFIG and --out RUN_DIR, or --resume RUN_DIR")
        if resume is not None and out is not None and out != resume:
            _fail("--out and --resume name different folders")
        target = resume if resume is not None else out
        try:
            run = run_training(
                config, target, resume=resume is not None, overwrite=overwrite, progress=not quiet
            )
        except (ConfigError, FileExistsError, FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
        except NonFiniteLossError as exc:
            _fail(str(exc), code=3)
        except TrainingInterrupted as exc:
            _fail(str(exc), code=130)
        summary = run.read_json("summary.json")
        final = summary.get("final", {})
        parts = [f"{summary['total_steps']} steps", f"{summary['seconds']:.1f} s"]
        if summary.get("steps_per_second"):
            parts.append(f"{summary['steps_per_second']:.0f} steps/s")
        parts += [f"{k} {v:.4f}" for k, v in final.items()]
        typer.echo(f"{target}: " + ", ".join(parts))

    @runs_app.command("show")
    def runs_show(
        run_dir: Annotated[Path, typer.Argument(help="run folder")],
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Print what a run holds: config, series (rows, step range, shape), summary."""
        from landscope.runs import open_run

        try:
            run = open_run(run_dir)
        except (FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
        info = run.summary()
        if as_json:
            typer.echo(json.dumps(info, indent=2, default=str))
            return
        cfg = run.config
        typer.echo(
            f"run {run_dir}: {cfg.get('name')} (seed {cfg.get('seed')}), "
            f"data {cfg['data']['name']}, model {cfg['model']['name']}, p = {run.meta.get('num_params')}"
        )
        series = info.get("series", {})
        rows = [
            {"series": k, **{kk: vv for kk, vv in v.items() if not isinstance(vv, dict)}}
            for k, v in series.items()
        ]
        if rows:
            _table(rows, list(rows[0].keys()), "series")
        if info.get("summary"):
            typer.echo(json.dumps(info["summary"], indent=2, default=str))
        elif not (Path(run_dir) / "summary.json").exists():
            typer.echo(f"run not finished (resume with: landscope train --resume {run_dir})")
        sys.stdout.flush()


def register_hessian(app: typer.Typer) -> None:
    @app.command()
    def hessian(
        target: Annotated[
            Path,
            typer.Argument(help="a run folder, or a run config YAML (evaluated at initialization)"),
        ],
        step: Annotated[
            int | None, typer.Option(help="recorded step of the run (default: the last)")
        ] = None,
        top_k: Annotated[int, typer.Option("--top-k", help="number of eigenpairs")] = 10,
        which: Annotated[
            str, typer.Option(help="LA (largest algebraic), LM (largest magnitude), SA (smallest)")
        ] = "LA",
        layer: Annotated[
            str | None, typer.Option(help="restrict to one layer's block of the Hessian")
        ] = None,
        density: Annotated[
            bool, typer.Option(help="also estimate the spectral density (SLQ)")
        ] = False,
        trace: Annotated[bool, typer.Option(help="also estimate the trace (Hutchinson)")] = False,
        split: Annotated[
            str, typer.Option(help="dataset split defining the loss: train or test")
        ] = "train",
        dtype: Annotated[
            str | None, typer.Option(help="float32 or float64 (default: the run's)")
        ] = None,
        tol: Annotated[float, typer.Option(help="relative residual tolerance")] = 1e-6,
        seed: Annotated[int, typer.Option(help="seed of the random start / probes")] = 0,
        backend: Annotated[
            str,
            typer.Option(
                help="Hessian-vector products: auto (structured for MLPs of Linear + "
                "elementwise activations, else autograd), autograd or structured"
            ),
        ] = "auto",
        out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None,
    ) -> None:
        """Top-k Hessian eigenpairs of the full-dataset loss (matrix-free Lanczos on exact
        Hessian-vector products), with explicit residuals, optional density and trace."""
        import torch

        from landscope.config import build_problems, load_config
        from landscope.curvature import curvature_summary, format_table

        if which not in ("LA", "LM", "SA"):
            _fail(f"--which must be LA, LM or SA, got {which!r}")
        if split not in ("train", "test"):
            _fail(f"--split must be train or test, got {split!r}")
        if target.is_dir():
            from landscope.runs import open_run

            run = open_run(target)
            cfg = load_config(run.config)
            if dtype is not None:
                cfg = cfg.model_copy(update={"dtype": dtype})
            steps = run.steps("params")
            if len(steps) == 0:
                _fail(f"run {target} recorded no parameters")
            chosen = int(steps[-1]) if step is None else step
            if chosen not in set(steps.tolist()):
                _fail(
                    f"step {chosen} was not recorded; recorded params steps: {steps[:5].tolist()} ... {steps[-3:].tolist()}"
                )
            train_problem, test_problem = build_problems(cfg)
            theta = torch.as_tensor(run.read("params", steps=[chosen])[0])
        else:
            cfg = _load(target)
            if dtype is not None:
                cfg = cfg.model_copy(update={"dtype": dtype})
            train_problem, test_problem = build_problems(cfg)
            theta = train_problem.theta_from_model()
            chosen = 0
        problem = train_problem if split == "train" else test_problem
        if problem is None:
            _fail("the dataset has no test split")
        theta = theta.to(device=problem.device, dtype=problem.dtype)
        try:
            summary = curvature_summary(
                problem,
                theta,
                top_k=top_k,
                which=which,
                layer=layer,
                density=density,
                trace=trace,
                seed=seed,
                tol=tol,
                backend=backend,
            )
        except (KeyError, ValueError) as exc:
            _fail(str(exc))
        summary = {"target": str(target), "step": chosen, "split": split, **summary}
        typer.echo(format_table(summary))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(summary, indent=2, default=float))
            typer.echo(f"wrote {out}")
