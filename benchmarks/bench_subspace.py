"""Cost of the Gur-Ari et al. measurements on the digits FC 2x100 net (p = 17,610), in units of
one full-dataset gradient, and an end-to-end training run with the online trackers.

    python benchmarks/bench_subspace.py [--device cpu|cuda] [--out benchmarks/results]

Measures, after a short SGD warm-up (so the spectrum has its outliers):
- one full-dataset gradient (the unit);
- measure_gradient_overlap (eq. 3; 1 gradient + 1 HVP + 1 control HVP);
- measure_top_subspace with k = 10, next 10 (20 eigenpairs), cold and warm-started from the
  eigenvectors 10 SGD steps earlier: seconds, Hessian-vector products;
- a 200-step training run with top_subspace every 10 steps and gradient_overlap every step on the
  device (checks that the trackers run there), with its steps/s and final f_top.
Writes ``subspace_<device>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

import landscope
from landscope.config import build_problems, load_config
from landscope.reproduce import config_path
from landscope.subspace import measure_gradient_overlap, measure_top_subspace, read_tracked

CONFIG = config_path("gurari/fc_digits")  # shipped with landscope.reproduce


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, device: str, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument(
        "--mixture",
        action="store_true",
        help="a 10-class Gaussian mixture in 64 dimensions instead of digits (no scikit-learn)",
    )
    args = ap.parse_args()
    device = args.device
    cfg = load_config(CONFIG).model_dump()
    if args.mixture:
        cfg["data"] = {
            "name": "gaussian_mixture",
            "options": {"k": 10, "d": 64, "sigma": 0.5, "n_per_class": 150},
        }
    cfg.update(
        device=device, record={"params": {"every": 10}, "eval": {"every": 50}, "flush_every": 50}
    )
    cfg["training"] = {"batch_size": 64, "steps": 60}
    with tempfile.TemporaryDirectory() as tmp:
        landscope.train(cfg, Path(tmp) / "warm", progress=False)
        run = landscope.open_run(Path(tmp) / "warm")
        problem, _ = build_problems(load_config(cfg))
        th50 = torch.as_tensor(run.read("params", steps=[50])[0]).to(problem.device, problem.dtype)
        th60 = torch.as_tensor(run.read("params", steps=[60])[0]).to(problem.device, problem.dtype)

        grad_s = _time(lambda: problem.loss_and_gradient(th60), device)
        ov_s = _time(lambda: measure_gradient_overlap(problem, th60, random_vectors=1), device)
        prev = measure_top_subspace(problem, th50, 10, random_vectors=0)
        cold = measure_top_subspace(problem, th60, 10, random_vectors=4)
        warm = measure_top_subspace(
            problem, th60, 10, random_vectors=4, warm_start=prev.eigenvectors
        )
        cold_s = _time(lambda: measure_top_subspace(problem, th60, 10, random_vectors=4), device, 3)
        warm_s = _time(
            lambda: measure_top_subspace(
                problem, th60, 10, random_vectors=4, warm_start=prev.eigenvectors
            ),
            device,
            3,
        )
        # end to end on the device
        e2e = dict(cfg)
        e2e["training"] = {"batch_size": 64, "steps": 200}
        e2e["analyses"] = [
            {"name": "top_subspace", "every": 10, "options": {"k": 10, "store_eigenvectors": 5}},
            {"name": "gradient_overlap", "every": 1},
        ]
        t0 = time.perf_counter()
        landscope.train(e2e, Path(tmp) / "e2e", progress=False)
        e2e_s = time.perf_counter() - t0
        a = read_tracked(Path(tmp) / "e2e")

    results = {
        "device": torch.cuda.get_device_name()
        if device.startswith("cuda")
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "gradient_s": grad_s,
        "gradient_overlap_s": ov_s,
        "gradient_overlap_in_gradients": ov_s / grad_s,
        "top20_cold": {"s": cold_s, "hvps": cold.num_matvecs, "in_gradients": cold_s / grad_s},
        "top20_warm": {"s": warm_s, "hvps": warm.num_matvecs, "in_gradients": warm_s / grad_s},
        "fraction_cold_vs_warm": abs(cold.fraction - warm.fraction),
        "e2e_200_steps_s": e2e_s,
        "e2e_final_f_top": float(a["fraction"][-1]),
        "e2e_mean_overlap_last_100": a.mean_over_last("overlap", 100).value,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "cuda" if device.startswith("cuda") else "cpu"
    (out / f"subspace_{tag}.json").write_text(json.dumps(results, indent=1))
    data = "10-class Gaussian mixture (d = 64)" if args.mixture else "digits"
    lines = [
        f"# Top-subspace measurement cost, {data}, FC 2x100 (p = 17,610), {results['device']}",
        "",
        f"torch {results['torch']}, {results['threads']} threads; median of repeats; unit: one "
        f"full-dataset gradient = {grad_s * 1e3:.2f} ms.",
        "",
        "| measurement | seconds | Hessian-vector products | in gradients |",
        "|---|---|---|---|",
        f"| overlap(g, Hg) + 1 control (eq. 3) | {ov_s:.4f} | 2 | {ov_s / grad_s:.1f} |",
        f"| top 20 eigenpairs + controls, cold | {cold_s:.3f} | {cold.num_matvecs} | {cold_s / grad_s:.1f} |",
        f"| same, warm start from 10 steps earlier | {warm_s:.3f} | {warm.num_matvecs} | {warm_s / grad_s:.1f} |",
        "",
        f"|f_top(cold) - f_top(warm)| = {results['fraction_cold_vs_warm']:.1e}.  End to end: 200 SGD "
        f"steps with top_subspace every 10 and gradient_overlap every step took {e2e_s:.1f} s; final "
        f"f_top {results['e2e_final_f_top']:.3f}, mean overlap(g, Hg) over the last 100 steps "
        f"{results['e2e_mean_overlap_last_100']:.3f}.",
    ]
    (out / f"subspace_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
