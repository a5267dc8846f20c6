"""Shared pieces of the Goodfellow, Vinyals & Saxe (2015) reproductions: train a run with the
landscope training engine (recording the trajectory), load its problems and trajectory back,
and check the paper's qualitative claims (each script fails loudly when a claim does not hold).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import landscope
from landscope.config import build_problems, load_config

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "runs" / "goodfellow"

# Fully connected networks of sec. 3 (the paper's MNIST nets, here on the 8x8 digits or
# MNIST-1D): two hidden layers of 100 units, Glorot-uniform initialization, plain SGD.
MLP_CONFIG = {
    "dtype": "float32",
    "data": {"name": "digits"},
    "model": {"name": "mlp", "options": {"widths": [100, 100], "activation": "relu"}},
    "init": {"weight": "glorot_uniform", "bias": "zeros"},
    "loss": "cross_entropy",
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
    "training": {"batch_size": 64, "steps": 1500},
    "record": {"params": {"every": 5}, "eval": {"every": 50}, "flush_every": 500},
}
LR = {"relu": 0.05, "sigmoid": 0.5, "tanh": 0.05}


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="short training and coarse grids (< 2 min)")
    p.add_argument("--data", default="digits", choices=["digits", "mnist1d"])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of runs and figures")
    p.add_argument("--retrain", action="store_true", help="train again even if the run exists")
    return p


def mlp_config(activation: str, seed: int, data: str, quick: bool) -> dict:
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in MLP_CONFIG.items()}
    cfg["name"] = f"goodfellow_{data}_{activation}_s{seed}"
    cfg["seed"] = seed
    cfg["data"] = {"name": data}
    cfg["model"] = {"name": "mlp", "options": {"widths": [100, 100], "activation": activation}}
    cfg["optimizer"] = {**MLP_CONFIG["optimizer"], "lr": LR[activation]}
    if quick:
        cfg["training"] = {"batch_size": 64, "steps": 400}
        cfg["record"] = {"params": {"every": 2}, "eval": {"every": 50}, "flush_every": 200}
    return cfg


def trained_run(activation: str, seed: int, args) -> Path:
    """Train (or reuse) the run of an MLP; returns its folder."""
    cfg = mlp_config(activation, seed, args.data, args.quick)
    folder = args.out / ("quick" if args.quick else "full") / cfg["name"]
    if (folder / "summary.json").exists() and not args.retrain:
        return folder
    t0 = time.perf_counter()
    run = landscope.train(cfg, folder, overwrite=True, progress=False)
    final = run.read_json("summary.json").get("final", {})
    print(f"trained {cfg['name']} in {time.perf_counter() - t0:.1f} s: {final}")
    return folder


def train_or_reuse(cfg: dict, args) -> Path:
    """Train ``cfg`` into ``<out>/<quick|full>/<name>`` unless that run is complete (or --retrain)."""
    folder = args.out / ("quick" if args.quick else "full") / cfg["name"]
    if args.retrain or not (folder / "summary.json").exists():
        t0 = time.perf_counter()
        run = landscope.train(cfg, folder, overwrite=True, progress=False)
        final = run.read_json("summary.json").get("final", {})
        print(f"trained {cfg['name']} in {time.perf_counter() - t0:.1f} s: {final}")
    return folder


def thinned_trajectory(run: LoadedRun, points: int = 100) -> torch.Tensor:
    """About ``points`` evenly spaced recorded parameter vectors, always ending at the last."""
    every = max(1, len(run.steps) // points)
    traj = run.trajectory[::every]
    if not bool((traj[-1] == run.theta_f).all()):
        traj = torch.cat([traj, run.theta_f[None]])
    return traj


class LoadedRun:
    """A run's problems (rebuilt from its config: the model object is fresh, theta comes from
    the recorded parameters) and its trajectory."""

    def __init__(self, folder: Path, dtype: str | None = "float64"):
        self.run = landscope.open_run(folder)
        cfg = load_config(self.run.config)
        if dtype is not None:
            cfg = cfg.model_copy(update={"dtype": dtype})
        self.train, self.test = build_problems(cfg)
        self.steps = self.run.steps("params")
        p = self.train
        self.trajectory = torch.as_tensor(self.run.read("params")).to(p.device, p.dtype)
        self.theta_i, self.theta_f = self.trajectory[0], self.trajectory[-1]


def check(condition: bool, claim: str) -> None:
    """Print the paper's claim and whether it held; exit non-zero if it did not."""
    print(("PASS " if condition else "FAIL ") + claim)
    if not condition:
        sys.exit(1)


def interior_minima(
    alphas: np.ndarray, values: np.ndarray, lo: float = 0.0, hi: float = 1.0, rtol: float = 1e-4
):
    """Alphas of strict local minima of ``values`` with ``lo <= alpha <= hi`` (see
    :func:`landscope.landscape.local_minima`; ``rtol`` ignores wiggles below float32 noise)."""
    from landscope.landscape import local_minima

    inside = (alphas >= lo) & (alphas <= hi)
    idx = local_minima(values[inside], rtol=rtol)
    return alphas[inside][idx]


def curvature_near_ends(alphas: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Second differences d2J/da2 of ``values`` on the uniform ``alphas`` grid, split into those
    near the initialization (0 < alpha <= 0.3) and near the solution (0.8 <= alpha <= 1): the
    factored linear model's signature is negative curvature at the first, positive at the second."""
    h = alphas[1] - alphas[0]
    curvature = (values[2:] - 2 * values[1:-1] + values[:-2]) / h**2  # at alphas[1:-1]
    mid = alphas[1:-1]
    return curvature[(mid > 0.0) & (mid <= 0.3)], curvature[(mid >= 0.8) & (mid <= 1.0)]


def figure_path(args, name: str) -> Path:
    path = args.out / ("quick" if args.quick else "full") / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
