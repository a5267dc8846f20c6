"""``landscope analyze subspace RUN`` (Gur-Ari, Roberts & Dyer 2018 on a recorded run) and
``landscope reproduce NAME``.  The root app calls :func:`register` and :func:`register_reproduce`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _steps(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        _fail(f"--steps must be comma-separated integers, got {text!r}")
        raise  # unreachable


def register(app: typer.Typer) -> None:
    @app.command()
    def subspace(
        run_dir: Annotated[Path, typer.Argument(help="a recorded run folder")],
        out: Annotated[Path, typer.Option("--out", "-o", help="folder for .npz, .json and .png")],
        source: Annotated[
            str,
            typer.Option(
                help="'offline' (recompute from recorded params), 'online' (read the run's "
                "top_subspace tracker series) or 'auto' (online if present)"
            ),
        ] = "auto",
        k: Annotated[
            int | None, typer.Option(help="top subspace dimension (default: number of classes)")
        ] = None,
        every: Annotated[
            int, typer.Option(help="offline: analyze every N-th recorded params step")
        ] = 10,
        steps: Annotated[
            str | None, typer.Option(help="offline: comma-separated steps (overrides --every)")
        ] = None,
        max_samples: Annotated[
            int | None, typer.Option(help="offline: Hessian on a fixed subset of this many samples")
        ] = None,
        tol: Annotated[float, typer.Option(help="eigenpair relative residual tolerance")] = 1e-5,
        dtype: Annotated[
            str | None, typer.Option(help="float32 or float64 (default: the run's)")
        ] = None,
        last: Annotated[
            int, typer.Option(help="Table 1 summary: mean overlap over the last N steps")
        ] = 1000,
        seed: Annotated[int, typer.Option(help="seed of the random control vectors")] = 0,
        spectrum: Annotated[
            bool,
            typer.Option(
                help="also the full dense Hessian spectrum at the last analyzed step (Fig. 4, "
                "outlier count, top eigenvector by layer, Fig. 6); needs p <= 10,000"
            ),
        ] = False,
    ) -> None:
        """Top Hessian subspace along a run (Gur-Ari et al. 2018): f_top (eq. 2), overlap(g, Hg)
        (eq. 3) with random-vector controls, c_i^2 (eq. 12), top eigenvalues, and from the
        eigenvectors the subspace-overlap grid (Fig. 2) and overlap vs dimension (Fig. 3).
        Writes subspace.npz/.json, summary.json and figures fig1/2/3/8/11 to --out."""
        import numpy as np

        from landscope.plotting import (
            plot_eigenvalues_over_training,
            plot_eigenvector_weights,
            plot_overlap_by_dimension,
            plot_subspace_overlap_grid,
            plot_top_subspace_fraction,
            save_figure,
        )
        from landscope.runs import open_run
        from landscope.subspace import analyze_run, read_tracked

        if source not in ("auto", "online", "offline"):
            _fail(f"--source must be auto, online or offline, got {source!r}")
        if dtype is not None and dtype not in ("float32", "float64"):
            _fail(f"--dtype must be float32 or float64, got {dtype!r}")
        try:
            run = open_run(run_dir)
        except (FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
        online = "top_subspace.fraction" in run.series()
        if source == "online" and not online:
            _fail(f"run {run_dir} has no top_subspace online analysis; use --source offline")
        try:
            if source == "online" or (source == "auto" and online):
                analysis = read_tracked(run)
            else:
                analysis = analyze_run(
                    run_dir,
                    steps=_steps(steps),
                    every=every,
                    k=k,
                    dtype=dtype,
                    max_samples=max_samples,
                    tol=tol,
                    seed=seed,
                    progress=True,
                )
        except ValueError as exc:
            _fail(str(exc))
        out.mkdir(parents=True, exist_ok=True)
        written = [str(p) for p in analysis.save(out / "subspace")]
        summary = {
            "source": analysis.meta.get("source"),
            "k": analysis.k,
            "steps": [int(analysis.steps[0]), int(analysis.steps[-1])],
            "measurements": len(analysis.steps),
            "final_fraction": float(analysis["fraction"][-1]),
            "mean_overlap_last": analysis.mean_over_last("overlap", last),
            "last_steps": last,
            "final_top_eigenvalues": analysis.eigenvalues[-1][: analysis.k].tolist(),
        }
        figures = [
            ("fig1_fraction.png", plot_top_subspace_fraction(analysis)),
            ("fig8_eigenvalues.png", plot_eigenvalues_over_training(analysis)),
        ]
        chosen = [int(s) for s in analysis.steps[:: max(1, len(analysis.steps) // 4)]][:4]
        figures.append(("fig11_weights.png", plot_eigenvector_weights(analysis, chosen)))
        if analysis.eigenvectors is not None and len(analysis.eigenvectors) >= 2:
            t1, table = analysis.overlap_by_dimension()
            summary["overlap_by_dimension_first_t1"] = {
                "t1": int(t1[0]),
                "mean_overlap": np.round(table[0], 4).tolist(),
            }
            figures.append(("fig2_subspace_overlap.png", plot_subspace_overlap_grid(analysis)))
            figures.append(("fig3_overlap_by_dimension.png", plot_overlap_by_dimension(analysis)))
        if spectrum:
            figures += _spectrum(run_dir, analysis, dtype, summary, out)
        for name, fig in figures:
            written.append(str(save_figure(fig, out / name)))
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        written.append(str(out / "summary.json"))
        typer.echo(
            f"k={analysis.k}, {len(analysis.steps)} steps: final f_top {summary['final_fraction']:.3f}, "
            f"mean overlap(g, Hg) over the last {last} steps {summary['mean_overlap_last']:.3f}"
        )
        for path in written:
            typer.echo(f"  {path}")


_REPRODUCTION_NAMES = "gurari-table1, gurari-fig2, gurari-toy, gurari-spectrum, gurari-optimizers"  # checked against the registry in tests


def _spectrum(run_dir: Path, analysis, dtype: str | None, summary: dict, out: Path) -> list:
    """Dense spectrum at the last analyzed step: spectrum.npz, outliers in ``summary``, figures."""
    import numpy as np
    import torch

    from landscope.config import build_problems, load_config
    from landscope.curvature import DEFAULT_MAX_PARAMS, hessian_eigh
    from landscope.plotting import plot_eigenvector_by_layer, plot_spectrum
    from landscope.runs import open_run
    from landscope.spectra import count_outliers

    run = open_run(run_dir)
    cfg = load_config(run.config)
    cfg = cfg.model_copy(update={"dtype": dtype or "float64"})
    problem, _ = build_problems(cfg)
    if problem.num_params > DEFAULT_MAX_PARAMS:
        _fail(
            f"--spectrum needs the dense Hessian: p = {problem.num_params:,} > {DEFAULT_MAX_PARAMS:,}; "
            "the top eigenvalues are in subspace.npz (Lanczos)"
        )
    recorded = run.steps("params")
    step = int(recorded[recorded <= int(analysis.steps[-1])][-1])
    theta = torch.as_tensor(run.read("params", steps=[step])[0]).to(problem.device, problem.dtype)
    lam, vec = hessian_eigh(problem, theta)
    lam_np = lam.cpu().numpy()
    np.savez(out / "spectrum.npz", eigenvalues=lam_np, top_eigenvector=vec[:, 0].cpu().numpy())
    k = analysis.k
    summary["spectrum"] = {
        "step": step,
        "outliers": count_outliers(lam_np, max_outliers=2 * k),
        "outlier_rule": f"count_outliers(method='largest_gap', max_outliers={2 * k}, min_ratio=2)",
        "top": lam_np[: 2 * k].tolist(),
        "negative": int((lam_np < 0).sum()),
        "most_negative": float(lam_np.min()),
    }
    return [
        ("fig4_spectrum.png", plot_spectrum(lam_np, k=k)),
        (
            "fig6_top_eigenvector.png",
            plot_eigenvector_by_layer(vec[:, 0].cpu().numpy(), problem.layout),
        ),
    ]


def register_reproduce(app: typer.Typer) -> None:
    from landscope.reproduce import REPRODUCTIONS

    names = "; ".join(f"{n}: {d}" for n, (_, d) in REPRODUCTIONS.items())

    @app.command(help=f"Reproduce a paper's experiment on offline data. NAME is one of -- {names}.")
    def reproduce(
        name: Annotated[str, typer.Argument(help=f"one of: {_REPRODUCTION_NAMES}")],
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="output folder (default: reproductions/NAME)"),
        ] = None,
        quick: Annotated[
            bool, typer.Option(help="a shortened run that finishes in minutes on a CPU")
        ] = False,
        progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    ) -> None:
        if name not in REPRODUCTIONS:
            _fail(f"unknown reproduction {name!r}; allowed: {', '.join(REPRODUCTIONS)}")
        function, _ = REPRODUCTIONS[name]
        out = out or Path("reproductions") / (name + ("-quick" if quick else ""))
        function(out, quick=quick, progress=progress)
        typer.echo((out / "report.md").read_text())
        typer.echo(f"written: {out / 'report.md'}, {out / 'report.html'}, {out / 'results.json'}")
