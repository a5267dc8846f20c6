"""Cost of a 2-D loss surface: time per grid point against the compute floor and loss-landscapes.

Issue "Loss along lines and planes" (Goodfellow, Vinyals & Saxe 2015): a 51 x 51 surface of the
digits 64-100-100-10 ReLU MLP on the full set (1,797 samples), float32, 2 threads.  Reported:

- the floor: one forward pass (+ loss) of the full set with the plain module, measured in the
  same run; the target is <= 1.3x the floor per grid point;
- landscope point by point (``batch_points=1``) and batched over points with ``torch.func.vmap``
  (``batch_points="auto"``, memory-bounded);
- the ``loss-landscapes`` package (``random_plane``, filter-normalized, the issue measured
  2.2 s / 0.85 ms per point), and a check of its grid: a metric that returns the coordinates
  of the point it is evaluated at shows where each cell really is;
- where batching points pays: a small model with many points (and a GPU when one is there).

Run:  python benchmarks/bench_surface.py [--quick] [--device cuda]
Writes benchmarks/results/surface.json and surface.md (``--tag`` appends a suffix).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _common import load_note, machine
from torch import nn

from landscope import Problem
from landscope.landscape import Evaluation, random_direction, surface

RESULTS = Path(__file__).parent / "results"


def _digits(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.data / 16.0, dtype=torch.float32, device=device)
    y = torch.tensor(bunch.target, dtype=torch.long, device=device)
    return x, y


def _mlp(widths: list[int], seed: int, device: torch.device) -> nn.Module:
    torch.manual_seed(seed)  # a benchmark script, not library code
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1]).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _floor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, reps: int) -> float:
    """Median seconds of one forward pass + loss of the whole set with the plain module."""
    times = []
    with torch.no_grad():
        for _ in range(3):
            nn.functional.cross_entropy(model(x), y)
        for _ in range(reps):
            _sync(x.device)
            t0 = time.perf_counter()
            nn.functional.cross_entropy(model(x), y).item()
            _sync(x.device)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _time(fn, repeats: int, device: torch.device) -> list[float]:
    out = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t0)
    return out


def _plane(problem: Problem, seed: int = 0):
    theta = problem.theta_from_model()
    d1 = random_direction(
        theta, seed=seed, layout=problem.layout, normalization="filter", one_dim="normalize"
    )
    d2 = random_direction(
        theta, seed=seed + 1, layout=problem.layout, normalization="filter", one_dim="normalize"
    )
    return theta, d1, d2


VARIANTS = {
    "landscope point by point, loss": dict(batch_points=1, accuracy=False),
    "landscope point by point, loss + accuracy": dict(batch_points=1, accuracy=True),
    "landscope auto, loss": dict(batch_points="auto", accuracy=False),
    "landscope auto, loss + accuracy": dict(batch_points="auto", accuracy=True),
}


def bench_landscope(
    model, x, y, steps: int, repeats: int, floor_reps: int, memory_mb: float | None, extra=None
) -> dict:
    """Each variant and the floor are timed in turn, ``repeats`` rounds (round robin, so slow
    phases of a shared machine hit all of them alike); the best round counts."""
    device = x.device
    problem = Problem(model, "cross_entropy", (x, y), chunk_size=None)
    theta, d1, d2 = _plane(problem)
    grid = np.linspace(-1.0, 1.0, steps)
    out: dict = {
        "num_points": steps * steps,
        "num_params": problem.num_params,
        "num_samples": problem.num_samples,
    }
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    floors, grids, batch = [], {}, {}
    extra = extra or {}
    extra_times: dict[str, list[float]] = {k: [] for k in extra}
    for _ in range(repeats):
        floors.append(_floor(model, x, y, floor_reps))
        for label, fn in extra.items():
            extra_times[label] += _time(fn, 1, device)
        for label, kw in VARIANTS.items():
            res = []
            times[label] += _time(
                lambda kw=kw, res=res: res.append(
                    surface(
                        problem,
                        theta,
                        d1,
                        d2,
                        grid,
                        grid,
                        evaluation=Evaluation(memory_mb=memory_mb, **kw),
                    )
                ),
                1,
                device,
            )
            grids[label], batch[label] = res[-1]["train_loss"], res[-1].meta["batch_points"]
    floors.append(_floor(model, x, y, floor_reps))
    out["floor_ms"] = 1e3 * min(floors)
    out["floor_ms_median"] = 1e3 * statistics.median(floors)
    out["floor_ms_each"] = [1e3 * f for f in floors]
    # correctness of landscope's grid: cell (i, j) is theta + a_i d1 + b_j d2, checked against
    # Problem.loss there (point by point: exactly; batched: to float32 rounding)
    g = np.random.default_rng(0)
    cells = [(0, 0), (steps - 1, steps - 1), (steps // 2, steps // 2)] + [
        tuple(c) for c in g.integers(0, steps, (20, 2))
    ]
    refs = [
        (i, j, problem.loss(theta + float(grid[i]) * d1 + float(grid[j]) * d2).item())
        for i, j in cells
    ]
    for label in VARIANTS:
        worst = max(abs(grids[label][i, j] - ref) / abs(ref) for i, j, ref in refs)
        out[label] = {
            "seconds": times[label],
            "best_ms_per_point": 1e3 * min(times[label]) / steps**2,
            "median_ms_per_point": 1e3 * statistics.median(times[label]) / steps**2,
            "batch_points": batch[label],
            "max_rel_error_vs_problem_loss": worst,
        }
    for label, t in extra_times.items():
        out[label] = {
            "seconds": t,
            "best_ms_per_point": 1e3 * min(t) / steps**2,
            "median_ms_per_point": 1e3 * statistics.median(t) / steps**2,
        }
    return out


def loss_landscapes_run(model, x, y, steps: int):
    """A callable running loss-landscapes' filter-normalized ``random_plane`` (or ``None``)."""
    try:
        import loss_landscapes
        import loss_landscapes.metrics
    except ImportError:
        return None
    metric = loss_landscapes.metrics.Loss(nn.functional.cross_entropy, x, y)
    return lambda: loss_landscapes.random_plane(
        model, metric, distance=1, steps=steps, normalization="filter", deepcopy_model=True
    )


def check_loss_landscapes_grid(steps: int = 51) -> dict:
    """Where does loss-landscapes really evaluate?  A metric that returns the coordinates of the
    model it is called with, on ``planar_interpolation`` whose docstring promises the grid
    ``start + dir_one * i + dir_two * j`` for i, j in range(steps)."""
    try:
        import loss_landscapes
        from loss_landscapes.metrics.metric import Metric
    except ImportError:
        return {"available": False}
    torch.manual_seed(0)
    start = nn.Linear(3, 2).double()
    end_one, end_two = copy.deepcopy(start), copy.deepcopy(start)
    with torch.no_grad():
        for p in end_one.parameters():
            p.add_(torch.randn_like(p))
        for p in end_two.parameters():
            p.add_(torch.randn_like(p))
    flat = lambda m: torch.cat([p.detach().reshape(-1) for p in m.parameters()])  # noqa: E731
    t0, e1, e2 = flat(start), flat(end_one), flat(end_two)
    d1, d2 = (e1 - t0) / steps, (e2 - t0) / steps
    basis = torch.stack([d1, d2])
    gram = basis @ basis.T

    class Coordinates(Metric):
        def __call__(self, model_wrapper):
            theta = torch.cat(
                [p.detach().reshape(-1) for p in model_wrapper.modules[0].parameters()]
            )
            return torch.linalg.solve(gram, basis @ (theta - t0)).numpy()

    before = flat(start).clone()
    grid = np.array(
        loss_landscapes.planar_interpolation(start, end_one, end_two, Coordinates(), steps=steps)
    )
    mutated = not torch.equal(before, flat(start))  # deepcopy_model defaults to False
    ii, jj = np.meshgrid(np.arange(steps), np.arange(steps), indexing="ij")
    expected = np.stack([ii, jj], axis=-1).astype(float)
    wrong = np.abs(grid - expected).max(axis=-1) > 1e-6
    second = np.round(grid[..., 1]).astype(int)
    # random_plane: is the centre (the model itself) ever evaluated?
    centre_model = nn.Linear(3, 2).double()
    centre = flat(centre_model).clone()
    seen = []

    class Record(Metric):
        def __call__(self, model_wrapper):
            theta = torch.cat(
                [p.detach().reshape(-1) for p in model_wrapper.modules[0].parameters()]
            )
            seen.append(float((theta - centre).norm()))
            return 0.0

    loss_landscapes.random_plane(
        centre_model, Record(), distance=1, steps=steps, normalization=None, deepcopy_model=True
    )
    return {
        "available": True,
        "steps": steps,
        "cells_not_where_documented": int(wrong.sum()),
        "fraction_wrong": float(wrong.mean()),
        "even_columns_second_index_range": [int(second[0].min()), int(second[0].max())],
        "odd_columns_second_index_range": [int(second[1].min()), int(second[1].max())],
        "second_index_0_evaluated_in_even_columns": bool((second[0::2] == 0).any()),
        "user_model_mutated_by_default": bool(mutated),
        "random_plane_min_distance_to_centre": min(seen),
        "random_plane_centre_evaluated": min(seen) < 1e-9,
    }


def bench_small_model(
    device: torch.device, steps: int, repeats: int, memory_mb: float | None
) -> dict:
    """Where batching over points pays: a small model, many points."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(150, 4, generator=g).to(device)
    y = torch.randint(0, 3, (150,), generator=g).to(device)
    model = _mlp([4, 24, 14, 3], 0, device)
    problem = Problem(model, "cross_entropy", (x, y), chunk_size=None)
    theta, d1, d2 = _plane(problem)
    grid = np.linspace(-1, 1, steps)
    out: dict = {
        "model": "4-24-14-3 MLP, 150 samples",
        "num_points": steps * steps,
        "num_params": problem.num_params,
    }
    out["floor_ms"] = 1e3 * _floor(model, x, y, 200)
    for label, bp in (("batch_points=1", 1), ("vmap (auto)", "auto")):
        res = []
        times = _time(
            lambda bp=bp, res=res: res.append(
                surface(
                    problem,
                    theta,
                    d1,
                    d2,
                    grid,
                    grid,
                    evaluation=Evaluation(batch_points=bp, memory_mb=memory_mb),
                )
            ),
            repeats,
            device,
        )
        out[label] = {
            "seconds": times,
            "best_ms_per_point": 1e3 * min(times) / steps**2,
            "batch_points": res[-1].meta["batch_points"],
        }
    out["speedup_vmap_over_pointwise"] = (
        out["batch_points=1"]["best_ms_per_point"] / out["vmap (auto)"]["best_ms_per_point"]
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tag", default="", help="suffix of the result files")
    parser.add_argument(
        "--memory-mb",
        type=float,
        default=None,
        help="memory bound of batched evaluation (default: landscope's)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    before = machine()
    device = torch.device(args.device)
    repeats = 1 if args.quick else 3
    floor_reps = 20 if args.quick else 100
    steps = 51

    x, y = _digits(device)
    model = _mlp([64, 100, 100, 10], 0, device)
    report: dict = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": str(device)
            + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""),
        },
        "case": "digits 64-100-100-10 ReLU MLP, full set 1,797 samples, float32, 51 x 51 grid",
        "memory_mb": args.memory_mb,
    }
    ll_label = "loss-landscapes random_plane (loss)"
    extra = {}
    if device.type == "cpu":
        run_ll = loss_landscapes_run(model, x, y, steps)
        if run_ll is not None:
            extra[ll_label] = run_ll
        report["loss_landscapes_grid_check"] = check_loss_landscapes_grid(steps)
    report["digits"] = d = bench_landscope(
        model, x, y, steps, repeats, floor_reps, args.memory_mb, extra
    )
    report["small_model"] = sm = bench_small_model(device, 101, repeats, args.memory_mb)

    floor = d["floor_ms"]
    loss_only = [k for k in VARIANTS if k.endswith(", loss")]
    best_label = min(loss_only, key=lambda k: d[k]["best_ms_per_point"])
    best = d[best_label]["best_ms_per_point"]
    summary = {
        "floor_ms_per_forward": floor,
        "landscope_best_loss_only": best_label,
        "landscope_best_ms_per_point": best,
        "landscope_over_floor": best / floor,
        **{f"{k} / floor": d[k]["best_ms_per_point"] / floor for k in VARIANTS},
        **{
            f"{k} / floor (medians)": d[k]["median_ms_per_point"] / d["floor_ms_median"]
            for k in VARIANTS
        },
        "small_model_vmap_speedup": sm["speedup_vmap_over_pointwise"],
    }
    if ll_label in d:
        ll = d[ll_label]["best_ms_per_point"]
        summary["loss_landscapes_ms_per_point"] = ll
        summary["loss_landscapes_over_floor"] = ll / floor
        summary["landscope_speedup_over_loss_landscapes"] = ll / best
    report["summary"] = summary
    report["machine_before"], report["machine_after"] = before, machine()

    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"surface{args.tag}"
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))
    m = report["machine"]
    lines = [
        f"# 2-D loss surface: {report['case']}",
        "",
        f"Machine: {m['device']}, {m['processor'] or m['platform']}, torch {m['torch']}, {m['threads']} threads. "
        f"Best of {repeats} round-robin rounds per row; floor = one forward pass + loss of the full set "
        "with the plain module (best round of the median of "
        f"{floor_reps}). x floor: best / best floor and median / median floor. "
        + load_note(report["machine_before"], report["machine_after"]),
        "",
        "| method | batch | ms / point (best / median) | x floor (best / median) |",
        "| --- | ---: | ---: | ---: |",
        f"| floor (one forward of 1,797 samples + loss) | | {floor:.3f} / {d['floor_ms_median']:.3f} | 1.00 |",
    ]
    for label in [*VARIANTS, *extra]:
        ms, med = d[label]["best_ms_per_point"], d[label]["median_ms_per_point"]
        lines.append(
            f"| {label} | {d[label].get('batch_points', '')} | {ms:.3f} / {med:.3f} | "
            f"{ms / floor:.2f} / {med / d['floor_ms_median']:.2f} |"
        )
    lines += [
        "",
        f"Small model ({sm['model']}, {sm['num_points']} points, floor {sm['floor_ms']:.3f} ms): "
        f"point by point {sm['batch_points=1']['best_ms_per_point']:.4f} ms/point, vmap (batch "
        f"{sm['vmap (auto)']['batch_points']}) {sm['vmap (auto)']['best_ms_per_point']:.4f} ms/point: "
        f"**{sm['speedup_vmap_over_pointwise']:.1f}x** from batching points.",
    ]
    chk = report.get("loss_landscapes_grid_check")
    if chk and chk.get("available"):
        lines += [
            "",
            "loss-landscapes grid check (`planar_interpolation`, a metric returning the evaluated point's coordinates):",
            f"{chk['cells_not_where_documented']} of {chk['steps'] ** 2} cells ({100 * chk['fraction_wrong']:.0f}%) are not at "
            f"`start + i dir_one + j dir_two`; even columns hold j = {chk['even_columns_second_index_range']}, odd columns "
            f"j = {chk['odd_columns_second_index_range']} (alternate columns shifted by one step; j = 0 never evaluated in even "
            f"columns: {not chk['second_index_0_evaluated_in_even_columns']}). `random_plane` evaluates the centre (the model "
            f"itself): {chk['random_plane_centre_evaluated']} (closest point at distance {chk['random_plane_min_distance_to_centre']:.3g}). "
            f"Default `deepcopy_model=False` leaves the user's model moved: {chk['user_model_mutated_by_default']}.",
        ]
    errs = ", ".join(f"{k}: {d[k]['max_rel_error_vs_problem_loss']:.1e}" for k in VARIANTS)
    lines += [
        "",
        f"landscope grid check, max relative error vs `Problem.loss` at 23 cells: {errs}.",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
