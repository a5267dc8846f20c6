"""``landscope interpolate / project / surface RUN_DIR``: Goodfellow, Vinyals & Saxe (2015) on a
recorded run (the loss along lines and planes, the trajectory's projection), writing arrays
(.npz), JSON and PNG figures to ``--out``.  The root app calls :func:`register`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

PLANES = ("alpha-beta", "alpha-beta-plane", "random", "filter", "alpha-random", "pca")


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _grid(text: str, name: str):
    """``"start:stop:num"`` -> numpy linspace."""
    import numpy as np

    try:
        start, stop, num = text.split(":")
        start, stop, num = float(start), float(stop), int(num)
    except ValueError:
        _fail(f"--{name} must be START:STOP:NUM (e.g. -0.5:1.5:41), got {text!r}")
    if num < 1:
        _fail(f"--{name}: NUM must be positive, got {num}")
    return np.linspace(start, stop, num)


class _Loaded:
    """A recorded run: its problems (rebuilt from the config) and trajectory."""

    def __init__(self, run_dir: Path, dtype: str | None):
        from landscope.config import build_problems, load_config
        from landscope.runs import open_run

        try:
            self.run = open_run(run_dir)
        except (FileNotFoundError, ValueError) as exc:
            _fail(str(exc))
        cfg = load_config(self.run.config)
        if dtype is not None:
            if dtype not in ("float32", "float64"):
                _fail(f"--dtype must be float32 or float64, got {dtype!r}")
            cfg = cfg.model_copy(update={"dtype": dtype})
        self.train, self.test = build_problems(cfg)
        self.steps = self.run.steps("params")
        if len(self.steps) < 2:
            _fail(f"run {run_dir} recorded fewer than two parameter vectors")

    def theta(self, step: int):
        import torch

        if step not in set(self.steps.tolist()):
            _fail(
                f"step {step} was not recorded; recorded params steps {self.steps[0]}..{self.steps[-1]}"
            )
        p = self.train
        return torch.as_tensor(self.run.read("params", steps=[step])[0]).to(p.device, p.dtype)

    def trajectory(self, every: int, last: int):
        import torch

        steps = [int(s) for s in self.steps if s <= last][::every]
        if steps[-1] != last:
            steps.append(last)
        p = self.train
        return steps, torch.as_tensor(self.run.read("params", steps=steps)).to(p.device, p.dtype)

    def series(self, name: str, steps: list[int]):
        """A recorded scalar series at ``steps`` (NaN where not recorded), or None."""
        import numpy as np

        if name not in self.run.series():
            return None
        have = self.run.steps(name)
        values = np.asarray(self.run.read(name), dtype=np.float64).reshape(-1)
        lookup = dict(zip(have.tolist(), values.tolist(), strict=True))
        return np.array([lookup.get(s, np.nan) for s in steps])


def _write(out: Path, name: str, result, figure) -> list[str]:
    npz, js = result.save(out / name)
    written = [str(npz), str(js)]
    if figure is not None:
        from landscope.plotting import save_figure

        written.append(str(save_figure(figure, out / f"{name}.png")))
    return written


def register(app: typer.Typer) -> None:
    @app.command()
    def interpolate(
        run_dir: Annotated[Path, typer.Argument(help="a recorded run folder")],
        out: Annotated[Path, typer.Option("--out", "-o", help="folder for .npz, .json and .png")],
        alphas: Annotated[
            str, typer.Option(help="START:STOP:NUM of the line coordinate")
        ] = "-0.5:1.5:41",
        start: Annotated[
            str,
            typer.Option(
                "--from", help="'init' (step 0), 'random' (a random point), or a step number"
            ),
        ] = "init",
        end: Annotated[
            int | None, typer.Option("--to", help="the solution's step (default: the last)")
        ] = None,
        other_run: Annotated[
            Path | None,
            typer.Option(help="interpolate from this run's solution instead (two seeds, Fig. 5)"),
        ] = None,
        random_scale: Annotated[
            float, typer.Option(help="norm of the random point / norm of the solution")
        ] = 1.0,
        zoom: Annotated[
            bool, typer.Option(help="also the high-resolution tilings of Fig. 4")
        ] = False,
        subset: Annotated[
            int | None, typer.Option(help="evaluate on a seeded subset of this many samples")
        ] = None,
        seed: Annotated[int, typer.Option(help="seed of the subset and the random point")] = 0,
        bn: Annotated[
            str, typer.Option(help="BatchNorm: freeze (running stats) or recompute (per point)")
        ] = "freeze",
        batch_points: Annotated[str, typer.Option(help="points per vmap batch, or auto")] = "auto",
        dtype: Annotated[
            str | None, typer.Option(help="float32 or float64 (default: the run's)")
        ] = None,
        logy: Annotated[bool, typer.Option(help="log-scale loss axis")] = False,
        progress: Annotated[bool, typer.Option(help="progress bar")] = True,
    ) -> None:
        """Loss and accuracy along the line J((1 - a) theta_0 + a theta_1) (Goodfellow et al.
        sec. 2-3): init -> solution by default, or --from random / --other-run RUN2."""
        from landscope.landscape import Evaluation, high_resolution_interpolations, random_point
        from landscope.landscape import interpolate as run_interpolation
        from landscope.plotting import plot_interpolation

        loaded = _Loaded(run_dir, dtype)
        last = int(loaded.steps[-1]) if end is None else end
        theta_b = loaded.theta(last)
        label = "init -> solution"
        if other_run is not None:
            other = _Loaded(other_run, dtype)
            if other.train.num_params != loaded.train.num_params:
                _fail(
                    f"{other_run} has {other.train.num_params} parameters, {run_dir} has {loaded.train.num_params}"
                )
            theta_a, label = other.theta(int(other.steps[-1])), "solution -> solution"
        elif start == "init":
            theta_a = loaded.theta(int(loaded.steps[0]))
        elif start == "random":
            theta_a, label = (
                random_point(theta_b, seed=seed, scale=random_scale),
                "random -> solution",
            )
        else:
            try:
                theta_a, label = loaded.theta(int(start)), f"step {start} -> solution"
            except ValueError:
                _fail(f"--from must be init, random or a step number, got {start!r}")
        try:
            evaluation = Evaluation(
                subset=subset,
                seed=seed,
                bn=bn,
                batch_points=batch_points if batch_points == "auto" else int(batch_points),
                progress=progress,
            )
        except ValueError as exc:
            _fail(str(exc))
        kw = dict(test_problem=loaded.test, evaluation=evaluation)
        out.mkdir(parents=True, exist_ok=True)
        try:
            result = run_interpolation(
                loaded.train, theta_a, theta_b, _grid(alphas, "alphas"), label=label, **kw
            )
        except (TypeError, ValueError) as exc:
            _fail(str(exc))
        result.meta.update(
            {
                "run": str(run_dir),
                "to_step": last,
                "from": start if other_run is None else str(other_run),
            }
        )
        written = _write(out, "interpolation", result, plot_interpolation(result, logy=logy))
        summary = {
            "label": label,
            "distance": result.meta["distance"],
            "seconds": result.meta["seconds"],
        }
        if zoom:
            tiles = high_resolution_interpolations(loaded.train, theta_a, theta_b, **kw)
            for name, res in tiles.items():
                written += _write(
                    out,
                    f"interpolation_{name}",
                    res,
                    plot_interpolation(
                        res,
                        splits=("train",),
                        title=f"alpha in [{res.alphas[0]}, {res.alphas[-1]}]",
                    ),
                )
        (out / "interpolation_summary.json").write_text(json.dumps(summary, indent=2))
        typer.echo("\n".join(["wrote:", *written]))

    @app.command()
    def project(
        run_dir: Annotated[Path, typer.Argument(help="a recorded run folder")],
        out: Annotated[Path, typer.Option("--out", "-o", help="folder for .npz, .json and .png")],
        solution: Annotated[
            int | None, typer.Option(help="step of the solution theta_f (default: the last)")
        ] = None,
        every: Annotated[int, typer.Option(help="use every k-th recorded step")] = 1,
        seed: Annotated[int, typer.Option(help="seed of the random-walk control")] = 0,
    ) -> None:
        """The trajectory projected on the init -> solution line: alpha(t), beta(t) and
        beta(t) / ||theta(t)|| (Goodfellow et al. App. B, Fig. 11-13), with the random-walk
        control of Fig. 11 (same dimension and step norms)."""
        from landscope.plotting import plot_trajectory_projection
        from landscope.trajectory import project_trajectory, random_walk_control

        if every < 1:
            _fail(f"--every must be positive, got {every}")
        loaded = _Loaded(run_dir, None)
        last = int(loaded.steps[-1])
        steps, traj = loaded.trajectory(every, last)
        theta_f = loaded.theta(last if solution is None else solution)
        values = {}
        loss = loaded.series("train_loss", steps)
        if loss is not None:
            values["train_loss"] = loss
        proj = project_trajectory(traj, traj[0], theta_f, steps=steps, values=values)
        control = random_walk_control(
            traj, seed=seed, solution_step=steps.index(last if solution is None else solution)
        )
        out.mkdir(parents=True, exist_ok=True)
        written = _write(
            out, "projection", proj, plot_trajectory_projection(proj, controls=[control])
        )
        written += _write(out, "projection_random_walk", control, None)
        typer.echo(f"max beta / ||theta||: {float(max(proj.residual_ratio[1:])):.3f}")
        typer.echo("\n".join(["wrote:", *written]))

    @app.command()
    def surface(
        run_dir: Annotated[Path, typer.Argument(help="a recorded run folder")],
        out: Annotated[
            Path,
            typer.Option("--out", "-o", help="folder for .npz, .json, .png and the resumable grid"),
        ],
        plane: Annotated[str, typer.Option(help=f"one of {', '.join(PLANES)}")] = "alpha-beta",
        alphas: Annotated[str | None, typer.Option(help="START:STOP:NUM of the first axis")] = None,
        betas: Annotated[str | None, typer.Option(help="START:STOP:NUM of the second axis")] = None,
        solution: Annotated[
            int | None, typer.Option(help="step of the solution (default: the last)")
        ] = None,
        every: Annotated[
            int, typer.Option(help="use every k-th recorded step of the trajectory")
        ] = 1,
        subset: Annotated[
            int | None, typer.Option(help="evaluate on a seeded subset of this many samples")
        ] = None,
        seed: Annotated[int, typer.Option(help="seed of random directions and the subset")] = 0,
        one_dim: Annotated[
            str,
            typer.Option(
                help="filter normalization of 1-D tensors: zero, weights, normalize, keep"
            ),
        ] = "zero",
        bn: Annotated[
            str, typer.Option(help="BatchNorm: freeze (running stats) or recompute (per point)")
        ] = "freeze",
        batch_points: Annotated[str, typer.Option(help="points per vmap batch, or auto")] = "auto",
        dtype: Annotated[
            str | None, typer.Option(help="float32 or float64 (default: the run's)")
        ] = None,
        metric: Annotated[
            str, typer.Option(help="value drawn: train_loss, test_loss, train_accuracy, ...")
        ] = "train_loss",
        log: Annotated[bool, typer.Option(help="draw log10 of the values")] = True,
        overwrite: Annotated[
            bool, typer.Option(help="restart the grid instead of resuming it")
        ] = False,
        progress: Annotated[bool, typer.Option(help="progress bar with remaining time")] = True,
    ) -> None:
        """The loss on a 2-D grid with the trajectory drawn on it (Goodfellow et al. App. C, D;
        Li et al. 2018).  Planes: alpha-beta (the paper's App. C surface), alpha-beta-plane (a
        true plane), random (Fig. 21), filter (filter-normalized random, Li et al.),
        alpha-random (Fig. 22), pca (top-2 principal directions of the trajectory).  The grid
        is resumable: rerunning the same command continues an interrupted one."""
        from landscope import landscape as L
        from landscope.plotting import plot_surface

        if plane not in PLANES:
            _fail(f"--plane must be one of {', '.join(PLANES)}, got {plane!r}")
        if every < 1:
            _fail(f"--every must be positive, got {every}")
        loaded = _Loaded(run_dir, dtype)
        last = int(loaded.steps[-1]) if solution is None else solution
        steps, traj = loaded.trajectory(every, last)
        theta_i, theta_f = traj[0], loaded.theta(last)
        layout = loaded.train.layout
        if plane == "alpha-beta":
            spec = L.alpha_beta_surface(theta_i, theta_f, traj)
        elif plane == "alpha-beta-plane":
            spec = L.alpha_beta_plane(theta_i, theta_f, traj)
        elif plane == "alpha-random":
            spec = L.alpha_random_plane(theta_i, theta_f, seed=seed)
        elif plane == "random":
            dist = float((theta_f - theta_i).double().norm())
            spec = L.random_plane(theta_f, seed=seed, norm=dist)
        elif plane == "filter":
            spec = L.random_plane(
                theta_f, seed=seed, layout=layout, normalization="filter", one_dim=one_dim
            )
        else:
            spec = L.pca_plane(traj, origin=theta_f)
        out.mkdir(parents=True, exist_ok=True)
        try:
            result = L.evaluate_surface(
                loaded.train,
                spec,
                None if alphas is None else _grid(alphas, "alphas"),
                None if betas is None else _grid(betas, "betas"),
                test_problem=loaded.test,
                trajectory=traj,
                evaluation=L.Evaluation(
                    subset=subset,
                    seed=seed,
                    bn=bn,
                    batch_points=batch_points if batch_points == "auto" else int(batch_points),
                    progress=progress,
                ),
                store=out / f"grid_{plane}",
                overwrite=overwrite,
            )
        except (TypeError, ValueError, KeyError) as exc:
            _fail(str(exc))
        result.meta.update({"run": str(run_dir), "plane": plane, "trajectory_steps": steps})
        name = f"surface_{plane}"
        written = _write(out, name, result, plot_surface(result, metric=metric, log=log))
        typer.echo(
            f"{result.alphas.size} x {result.betas.size} points, {result.meta['seconds']:.1f} s"
            + (
                f" ({1e3 * result.meta['seconds_per_point']:.2f} ms/point)"
                if result.meta.get("seconds_per_point")
                else ""
            )
        )
        typer.echo("\n".join(["wrote:", *written]))
