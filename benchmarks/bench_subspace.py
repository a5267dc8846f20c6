"""Cost of the Gur-Ari et al. measurements on the digits FC 2x100 net (p = 17,610), in units of
one full-dataset gradient, and an end-to-end training run with the online trackers.

    python benchmarks/bench_subspace.py [--device cpu|cuda] [--out benchmarks/results]

Measures, after a short SGD warm-up (so the spectrum has its outliers), each timed in one
round-robin loop with the unit (so load from other processes hits all alike), min and median:
- one full-dataset gradient with plain torch (the unit: ``torch.autograd.grad`` of the
  cross-entropy of a copy of the model at the same parameters; see ``_common.py``), and
  landscope's ``loss_and_gradient`` beside it;
- measure_gradient_overlap (eq. 3; 1 gradient + 1 HVP + 1 control HVP);
- measure_top_subspace with k = 10, next 10 (20 eigenpairs), cold and warm-started from the
  eigenvectors 10 SGD steps earlier: seconds, Hessian-vector products;
- a 200-step training run with top_subspace every 10 steps and gradient_overlap every step on the
  device (checks that the trackers run there), with its steps/s and final f_top.
Writes ``subspace_<device>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import torch
from _common import interleaved, load_note, machine, plain_gradient, ratio, summary

import landscope
from landscope.config import build_problems, load_config
from landscope.reproduce import config_path
from landscope.subspace import measure_gradient_overlap, measure_top_subspace, read_tracked

CONFIG = config_path("gurari/fc_digits")  # shipped with landscope.reproduce


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument(
        "--mixture",
        action="store_true",
        help="a 10-class Gaussian mixture in 64 dimensions instead of digits (no scikit-learn)",
    )
    ap.add_argument("--quick", action="store_true", help="fewer repeats, 50 end-to-end steps")
    args = ap.parse_args()
    device = args.device
    before = machine()
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

        prev = measure_top_subspace(problem, th50, 10, random_vectors=0)
        cold = measure_top_subspace(problem, th60, 10, random_vectors=4)
        warm = measure_top_subspace(
            problem, th60, 10, random_vectors=4, warm_start=prev.eigenvectors
        )
        model = copy.deepcopy(problem.model)
        torch.nn.utils.vector_to_parameters(th60, model.parameters())
        x, y = problem.data.x, problem.data.y
        times = interleaved(
            {
                "gradient": plain_gradient(model, x, y),
                "landscope_gradient": lambda: problem.loss_and_gradient(th60),
                "overlap": lambda: measure_gradient_overlap(problem, th60, random_vectors=1),
                "top20_cold": lambda: measure_top_subspace(problem, th60, 10, random_vectors=4),
                "top20_warm": lambda: measure_top_subspace(
                    problem, th60, 10, random_vectors=4, warm_start=prev.eigenvectors
                ),
            },
            3 if args.quick else 7,
            lambda: _sync(device),
        )
        ms = {name: summary(ts) for name, ts in times.items()}
        in_grads = {name: ratio(t, ms["gradient"]) for name, t in ms.items()}
        # end to end on the device
        e2e = dict(cfg)
        e2e_steps = 50 if args.quick else 200
        e2e["training"] = {"batch_size": 64, "steps": e2e_steps}
        e2e["analyses"] = [
            {"name": "top_subspace", "every": 10, "options": {"k": 10, "store_eigenvectors": 5}},
            {"name": "gradient_overlap", "every": 1},
        ]
        t0 = time.perf_counter()
        landscope.train(e2e, Path(tmp) / "e2e", progress=False)
        e2e_s = time.perf_counter() - t0
        a = read_tracked(Path(tmp) / "e2e")

    after = machine()
    results = {
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else before["machine"],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "unit": "plain torch.autograd.grad of cross_entropy(model(x), y), same interleaved loop",
        "ms": ms,
        "in_gradients": in_grads,
        "hvps": {"overlap": 2, "top20_cold": cold.num_matvecs, "top20_warm": warm.num_matvecs},
        "fraction_cold_vs_warm": abs(cold.fraction - warm.fraction),
        "e2e_steps": e2e_steps,
        "e2e_s": e2e_s,
        "e2e_final_f_top": float(a["fraction"][-1]),
        "e2e_mean_overlap_last_100": a.mean_over_last("overlap", min(100, e2e_steps)).value,
        "machine_before": before,
        "machine_after": after,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "cuda" if device.startswith("cuda") else "cpu"
    (out / f"subspace_{tag}.json").write_text(json.dumps(results, indent=1))
    data = "10-class Gaussian mixture (d = 64)" if args.mixture else "digits"
    g = ms["gradient"]

    def row(label: str, name: str, hvps) -> str:
        t, r = ms[name], in_grads[name]
        return (
            f"| {label} | {t['min_ms'] / 1e3:.4f} / {t['median_ms'] / 1e3:.4f} | {hvps} | "
            f"{r['min']:.1f} / {r['median']:.1f} |"
        )

    lines = [
        f"# Top-subspace measurement cost, {data}, FC 2x100 (p = 17,610), {results['device']}",
        "",
        f"torch {results['torch']}, {results['threads']} threads; min / median of "
        f"{len(times['gradient'])} interleaved repeats; unit: one full-dataset gradient with "
        f"plain torch, {g['min_ms']:.2f} ms (min; median {g['median_ms']:.2f} ms), timed in the "
        "same loop. " + load_note(before, after),
        "",
        "| measurement | seconds (min / median) | Hessian-vector products | in gradients (min / median) |",
        "|---|---|---|---|",
        row("landscope loss_and_gradient", "landscope_gradient", 0),
        row("overlap(g, Hg) + 1 control (eq. 3)", "overlap", 2),
        row("top 20 eigenpairs + controls, cold", "top20_cold", cold.num_matvecs),
        row("same, warm start from 10 steps earlier", "top20_warm", warm.num_matvecs),
        "",
        f"|f_top(cold) - f_top(warm)| = {results['fraction_cold_vs_warm']:.1e}.  End to end: "
        f"{e2e_steps} SGD steps with top_subspace every 10 and gradient_overlap every step took "
        f"{e2e_s:.1f} s; final f_top {results['e2e_final_f_top']:.3f}, mean overlap(g, Hg) over "
        f"the last {min(100, e2e_steps)} steps {results['e2e_mean_overlap_last_100']:.3f}.",
    ]
    (out / f"subspace_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
