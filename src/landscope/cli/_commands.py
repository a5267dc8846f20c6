"""Core commands: version, datasets, models, validate, evaluate, train, runs show, runs check,
hessian and reproduce.  Each command is a module-level function; :func:`register` adds them to an app."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from landscope.cli._common import (
    DType,
    NoProgress,
    fail,
    load_config_or_fail,
    one_line_errors,
    open_run_or_fail,
    print_table,
)

AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def version() -> None:
    """Print the landscope version."""
    from landscope import __version__

    typer.echo(__version__)


def datasets(as_json: AsJson = False) -> None:
    """List the built-in datasets (all offline) with their shapes and sizes."""
    from landscope.data import list_datasets

    rows = list_datasets()
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    print_table(
        rows,
        ["name", "task", "input_shape", "num_classes", "n_train", "n_test", "description"],
        "landscope datasets",
        headers={
            "input_shape": "shape",
            "num_classes": "classes",
            "n_train": "train",
            "n_test": "test",
        },
    )


def models(as_json: AsJson = False) -> None:
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
    print_table(rows, ["name", "parameters", "example", "description"], "landscope models")
    typer.echo("options of each model: landscope models --json")
    typer.echo("initializers: " + ", ".join(sorted(INITIALIZERS)))


def validate(config: Annotated[Path, typer.Argument(help="run config YAML")]) -> None:
    """Check a run config (also the names and settings of its pipeline analyses); print it with
    all defaults filled in."""
    from landscope.config import ConfigError
    from landscope.pipeline import check_config

    cfg = load_config_or_fail(config)
    try:
        check_config(cfg)
    except ConfigError as exc:
        fail(str(exc))
    typer.echo(cfg.to_yaml())


def _initial_problems(cfg):
    """The config's problems with its model as training starts: the named initialization, or
    the weights of ``init.from_run`` (one-line error naming the field when they cannot be
    read)."""
    from landscope.config import build_dataset, build_model, build_problems
    from landscope.runs import load_run_weights

    dataset = build_dataset(cfg)
    model = build_model(cfg, dataset)
    if cfg.init.from_run is not None:
        try:
            load_run_weights(model, cfg.init.from_run, cfg.init.from_step)
        except ValueError as exc:  # ConfigError: names init.from_run / init.from_step
            fail(str(exc))
    return build_problems(cfg, dataset=dataset, model=model)


def evaluate(
    config: Annotated[Path, typer.Argument(help="run config YAML (data, model, init, loss)")],
    out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None,
) -> None:
    """Loss, gradient norm and accuracy of the config's model at initialization (or at the
    weights of init.from_run), on the train and test splits (full dataset, chunked)."""
    train_problem, test_problem = _initial_problems(load_config_or_fail(config))
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


def train(
    config: Annotated[
        Path | None, typer.Argument(help="run config YAML (omit with --resume)")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="run folder to create")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="continue the interrupted run in this folder")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="replace the run in an existing run folder (files training did not write, "
            "e.g. hessian.json or notes, are kept)"
        ),
    ] = False,
    no_progress: NoProgress = False,
) -> None:
    """Train as CONFIG says, recording the trajectory (parameters, updates, minibatches,
    losses) to a crash-safe run folder; --resume RUN continues an interrupted run exactly.
    Ctrl-C (exit code 130) and SIGTERM (143) leave a checkpoint to resume from."""
    from landscope.config import ConfigError
    from landscope.runs import DamagedRunError, RunExistsError, RunLockedError, owned_by_run
    from landscope.training import NonFiniteLossError, TrainingInterrupted
    from landscope.training import train as run_training

    if resume is None and (config is None or out is None):
        fail("give CONFIG and --out RUN_DIR, or --resume RUN_DIR")
    if resume is not None and out is not None and out != resume:
        fail("--out and --resume name different folders")
    if resume is not None and overwrite:
        fail("give --resume or --overwrite, not both")
    target = resume if resume is not None else out
    if overwrite and (target / "meta.json").is_file():
        kept = owned_by_run(target)[1]
        if kept:
            typer.echo(
                f"--overwrite: replacing the run in {target}; keeping what training did not write "
                f"there: {', '.join(kept)} (from before; they may describe the old run)",
                err=True,
            )
    try:
        run = run_training(
            config, target, resume=resume is not None, overwrite=overwrite, progress=not no_progress
        )
    except RunExistsError as exc:
        fail(
            f"run folder {exc.path} exists and is not empty: add --overwrite to replace the run "
            f"in it (files training did not write are kept), or continue it with --resume {exc.path}"
        )
    except RunLockedError as exc:
        fail(str(exc))
    except DamagedRunError as exc:
        if resume is None:
            fail(str(exc))
        fail(
            f"cannot --resume {target}: {exc}; the records on disk stay readable; to train the "
            "run again from step 0 give its config with --overwrite"
        )
    except (ConfigError, FileExistsError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    except NonFiniteLossError as exc:
        fail(str(exc), code=3)
    except TrainingInterrupted as exc:
        fail(str(exc), code=exc.exit_code)
    summary = run.read_json("summary.json")
    final = summary.get("final", {})
    parts = [f"{summary['total_steps']} steps", f"{summary['seconds']:.1f} s"]
    resumed = summary.get("resumed_from_step")
    if resumed:  # this session ran only the steps after the checkpoint it resumed from
        parts[1] = (
            f"resumed at step {resumed}: {summary.get('steps_this_session')} steps in "
            f"{summary['seconds']:.1f} s this session, "
            f"{summary.get('seconds_all_sessions', summary['seconds']):.1f} s all sessions"
        )
    if summary.get("steps_per_second"):
        parts.append(f"{summary['steps_per_second']:.0f} steps/s")
    if final:
        at = summary.get("final_eval_step")
        parts.append(
            (f"at step {at}: " if at is not None else "")
            + ", ".join(f"{k} {v:.4f}" for k, v in final.items())
        )
    typer.echo(f"{target}: " + ", ".join(parts))


def runs_show(
    run_dir: Annotated[Path, typer.Argument(help="run folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print what a run holds: config, series (rows, step range, shape), summary.  Chunk files
    found missing or truncated are listed, and the exit code is then 1."""
    run = open_run_or_fail(run_dir)
    with one_line_errors():
        info = run.summary()
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
        _fail_if_damaged(run, run_dir)
        return
    cfg = run.config
    if cfg:
        typer.echo(
            f"run {run_dir}: {cfg.get('name')} (seed {cfg.get('seed')}), data "
            f"{cfg['data']['name']}, model {cfg['model']['name']}, p = {run.meta.get('num_params')}"
        )
    else:
        typer.echo(f"run {run_dir} (no config: not written by landscope train)")
    series = info.get("series", {})
    rows = [
        {"series": k, **{kk: vv for kk, vv in v.items() if not isinstance(vv, dict)}}
        for k, v in series.items()
    ]
    if rows:
        print_table(rows, list(rows[0].keys()), "series")
    if info.get("summary"):
        typer.echo(json.dumps(info["summary"], indent=2, default=str))
    elif cfg and not (Path(run_dir) / "summary.json").exists():
        typer.echo(f"run not finished (resume with: landscope train --resume {run_dir})")
    sys.stdout.flush()
    _fail_if_damaged(run, run_dir)


def _fail_if_damaged(run, run_dir: Path) -> None:
    if not run.damage:
        return
    for problem in run.damage:  # on stdout, with the rest of what the run holds
        typer.echo(f"damaged: {problem.message()}")
    n = len(run.damage)
    fail(
        f"run {run_dir} is damaged: {n} chunk file{'s are' if n > 1 else ' is'} missing or "
        f"truncated (landscope runs check {run_dir} checks every chunk)",
        code=1,
    )


def runs_check(
    run_dir: Annotated[Path, typer.Argument(help="run folder")],
    checksums: Annotated[
        bool,
        typer.Option(
            "--checksums", help="also verify the crc32 recorded when each chunk was written"
        ),
    ] = False,
) -> None:
    """Check every committed chunk file of a run: present, of the right size, decodable, steps
    increasing, params and updates finite; with --checksums also the crc32 recorded at write
    time.  Lists each problem (file, series, steps lost); exit code 1 when there is one."""
    run = open_run_or_fail(run_dir)
    with one_line_errors():
        report = run.check(checksums=checksums)
    checked = f"{report.chunks} chunk files of {len(run.series())} series"
    if checksums:
        checked += f", {report.verified} checksums verified" + (
            f", {report.unverified} chunks without a recorded checksum (written by an "
            "older landscope)"
            if report.unverified
            else ""
        )
    for problem in report.problems:
        typer.echo(problem.message())
    if report.ok:
        typer.echo(f"run {run_dir}: OK ({checked})")
        return
    n = len(report.problems)
    fail(f"run {run_dir} is damaged: {n} problem{'s' if n > 1 else ''} ({checked})", code=1)


# --- hessian ----------------------------------------------------------------------------------


class Which(str, enum.Enum):
    """Which end of the spectrum Lanczos converges to (``top_eigenpairs(which=...)``)."""

    LA = "LA"
    LM = "LM"
    SA = "SA"


class Split(str, enum.Enum):
    """The dataset split whose mean loss defines the Hessian."""

    train = "train"
    test = "test"


class Backend(str, enum.Enum):
    """How Hessian-vector products are computed (``HessianOperator(backend=...)``)."""

    auto = "auto"
    autograd = "autograd"
    structured = "structured"


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
        Which, typer.Option(help="LA (largest algebraic), LM (largest magnitude), SA (smallest)")
    ] = Which.LA,
    layer: Annotated[
        str | None, typer.Option(help="restrict to one layer's block of the Hessian")
    ] = None,
    density: Annotated[bool, typer.Option(help="also estimate the spectral density (SLQ)")] = False,
    trace: Annotated[bool, typer.Option(help="also estimate the trace (Hutchinson)")] = False,
    split: Annotated[Split, typer.Option(help="dataset split defining the loss")] = Split.train,
    dtype: Annotated[DType | None, typer.Option(help="precision (default: the run's)")] = None,
    tol: Annotated[float, typer.Option(help="relative residual tolerance")] = 1e-6,
    seed: Annotated[int, typer.Option(help="seed of the random start / probes")] = 0,
    backend: Annotated[
        Backend,
        typer.Option(
            help="Hessian-vector products: auto (structured for MLPs of Linear + "
            "elementwise activations, else autograd), autograd or structured"
        ),
    ] = Backend.auto,
    out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None,
) -> None:
    """Top-k Hessian eigenpairs of the full-dataset loss (matrix-free Lanczos on exact
    Hessian-vector products), with explicit residuals, optional density and trace."""
    from landscope.curvature import SummarySettings, curvature_summary, format_table

    with one_line_errors():  # a damaged chunk of the run: one line naming it
        problem, theta, chosen = _hessian_input(target, step, split, dtype)
        try:
            summary = curvature_summary(
                problem,
                theta,
                SummarySettings(
                    top_k=top_k,
                    which=which.value,
                    layer=layer,
                    density=density,
                    trace=trace,
                    seed=seed,
                    tol=tol,
                    backend=backend.value,
                ),
            )
        except (KeyError, ValueError) as exc:
            fail(str(exc).strip("'\""))
    summary = {"target": str(target), "step": chosen, "split": split.value, **summary}
    typer.echo(format_table(summary))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2, default=float))
        typer.echo(f"wrote {out}")


def _hessian_input(target: Path, step: int | None, split: Split, dtype: DType | None):
    """``(problem, theta, step)`` of ``landscope hessian``: a run at a recorded step (theta must
    be finite), or a config's model at initialization (step 0)."""
    import torch

    if not target.exists():
        fail(f"no run folder or config file at {target}")
    precision = None if dtype is None else dtype.value
    run = open_run_or_fail(target) if target.is_dir() else None
    if run is not None:
        try:
            chosen = run.select_steps(steps=None if step is None else [step])[-1]
            train_problem, test_problem = run.problems(dtype=precision)
        except ValueError as exc:
            fail(str(exc))
    else:
        cfg = load_config_or_fail(target)
        if precision is not None:
            cfg = cfg.model_copy(update={"dtype": precision})
        train_problem, test_problem = _initial_problems(cfg)
        chosen = 0
    problem = train_problem if split is Split.train else test_problem
    if problem is None:
        fail("the dataset has no test split")
    if run is None:  # the config's model at initialization
        theta = train_problem.theta_from_model().to(device=problem.device, dtype=problem.dtype)
        return problem, theta, chosen
    theta = run.theta(chosen, like=problem)
    bad = int((~torch.isfinite(theta)).sum())
    if bad:
        fail(
            f"theta at step {chosen} of run {target} is not finite ({bad} of {theta.numel()} "
            "entries NaN or inf): the run diverged there, or its params chunk is damaged "
            f"(landscope runs check {target})"
        )
    return problem, theta, chosen


# --- reproduce --------------------------------------------------------------------------------


def reproduce(
    name: Annotated[
        str | None,
        typer.Argument(
            help="a catalog entry (landscope reproduce --list), or all (every entry and a summary)",
            show_default=False,
        ),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="list the catalog (entries, papers, run times)")
    ] = False,
    quick: Annotated[
        bool, typer.Option(help="a shortened run that finishes in minutes on a CPU")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="output folder (default: reproductions/NAME, or NAME-quick)"
            "; for all: one subfolder per entry and the summary",
        ),
    ] = None,
    no_progress: NoProgress = False,
) -> None:
    """Reproduce a paper's figure or table on offline data: trains what it needs, checks each of
    the paper's statements (verdict: reproduced / differs / not reproducible offline, computed,
    with the criterion and the reason), and writes report.md, report.html, results.json and
    figures.  --list shows the catalog."""
    from landscope.reproduce import catalog, get_reproduction

    entries = catalog()
    if list_:
        if name is not None:
            fail("give NAME or --list, not both")
        _print_catalog(entries)
        return
    if name is None:
        fail(f"give a reproduction NAME, all or --list; the catalog has: {_names(entries)}")
    if name == "all":
        _reproduce_all(
            out or Path("reproductions") / ("all-quick" if quick else "all"), quick, no_progress
        )
        return
    try:
        entry = get_reproduction(name)
    except KeyError:
        fail(f"unknown reproduction {name!r}; the catalog has: {_names(entries)}")
    out = out or Path("reproductions") / (name + ("-quick" if quick else ""))
    results = entry.run(out, quick=quick, progress=not no_progress)
    checks = (results or {}).get("checks", [])
    _print_checks(checks)
    counts = {}
    for c in checks:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    if checks:
        typer.echo(
            f"{name}: {len(checks)} checks: "
            + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
        )
    else:
        typer.echo(f"{name}: no computed checks in its results")
    written = [out / f for f in ("report.md", "report.html", "results.json") if (out / f).exists()]
    typer.echo("written: " + ", ".join(str(p) for p in written))


def _reproduce_all(out: Path, quick: bool, no_progress: bool) -> None:
    """Every catalog entry into OUT/<name>, then OUT/summary.{md,json,html}."""
    from landscope.reproduce._summary import run_all

    try:
        summary = run_all(out, quick=quick, progress=not no_progress)
    except KeyboardInterrupt:
        fail(f"interrupted; {out / 'summary.md'} lists the entries that finished before", code=130)
    rows = [
        {
            "entry": r["name"],
            "checks": len(r["checks"]),
            "reproduced": sum(c["verdict"] == "reproduced" for c in r["checks"]),
            "differs": sum(c["verdict"] == "differs" for c in r["checks"]),
            "offline": sum(c["verdict"] == "not reproducible offline" for c in r["checks"]),
            "minutes": f"{r['seconds'] / 60:.1f}",
            "status": r["status"],
        }
        for r in summary["entries"]
    ]
    print_table(rows, list(rows[0]) if rows else ["entry"], wrap=())
    counts = ", ".join(f"{n} {k}" for k, n in summary["verdicts"].items())
    typer.echo(
        f"{len(rows)} entries, {summary['checks']} checks ({counts}) in "
        f"{summary['seconds'] / 60:.1f} min; written: "
        + ", ".join(str(out / f"summary.{x}") for x in ("md", "json", "html"))
    )
    if summary["errors"]:
        fail(f"entries that failed to run: {', '.join(summary['errors'])}", code=1)


def _names(entries) -> str:
    return ", ".join(e.name for e in entries) or "(empty)"


def _minutes(value: float) -> str:
    return "?" if value != value else f"{value:g}"


def _print_catalog(entries) -> None:
    rows = [
        {
            "name": e.name,
            "paper": e.paper,
            "items": e.items,
            "minutes": f"{_minutes(e.minutes[0])} / {_minutes(e.minutes[1])}",
            "description": e.description,
        }
        for e in entries
    ]
    print_table(
        rows,
        ["name", "paper", "items", "minutes", "description"],
        "landscope reproduce NAME [--quick]  (minutes on a 2-core CPU: quick / full)",
        wrap=("paper", "items", "description"),
    )
    import shutil
    import textwrap

    quick, full = (sum(e.minutes[i] for e in entries) for i in (0, 1))
    line = (
        f"landscope reproduce all [--quick]: all {len(entries)} entries and a summary "
        f"(summary.md / .json / .html), about {_minutes(round(quick, 1))} / "
        f"{_minutes(round(full, 1))} minutes"
    )
    width = shutil.get_terminal_size((80, 24)).columns
    typer.echo(textwrap.fill(line, width, break_on_hyphens=False, break_long_words=False))


def _value(v) -> str:
    """A paper's or our value as the report writes it (3 significant decimals)."""
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.3g}" if abs(v) < 1e-2 and v != 0 else f"{v:.3f}"
    return "" if v is None else str(v)


def _print_checks(checks: list[dict]) -> None:
    rows = [
        {
            "where": c.get("where"),
            "claim": c.get("claim"),
            "paper": _value(c.get("paper")),
            "ours": _value(c.get("ours")),
            "verdict": str(c["verdict"]).upper(),
        }
        for c in checks
    ]
    if rows:
        print_table(
            rows,
            ["where", "claim", "paper", "ours", "verdict"],
            wrap=("where", "claim", "paper", "ours"),
        )


def register(app: typer.Typer) -> None:
    """Add the core commands (and the ``runs`` group) to ``app``."""
    for command in (version, datasets, models, validate, evaluate, train):
        app.command()(command)
    runs_app = typer.Typer(help="Inspect recorded runs.", no_args_is_help=True)
    runs_app.command("show")(runs_show)
    runs_app.command("check")(runs_check)
    app.add_typer(runs_app, name="runs")
    app.command()(hessian)
    app.command()(reproduce)
