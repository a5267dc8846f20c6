"""Structured vs autograd curvature products across MLP sizes (Hessian and GGN, k = 1 and 16,
the dense matrix of the small nets, and layer blocks of the largest).

The structured backend (``landscope.curvature._structured``) writes the chain rule out per
layer; ``backend="auto"`` picks it on CPU for chains of dense layers and elementwise
activations.  This script measures where that pays, on the papers' MLPs with their embedded
data: Fjellstrom's Iris 4-24-14-3 (p = 515), a 64-32-10 digits net (p = 2,410) and Gur-Ari's
64-100-100-10 digits net (p = 17,610); ReLU, cross-entropy, full batch, float64 (the
precision the dense and spectral analyses use) and float32.

Reported: milliseconds per operator application (median of interleaved repeats, so load from
other processes hits both backends alike) and the ratio autograd / structured; the two
backends' products are checked to agree (relative difference printed).

Run:  python benchmarks/bench_structured.py [--threads 2] [--quick]
Writes benchmarks/results/structured.json and structured.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from landscope import Problem
from landscope.curvature import GGNOperator, HessianOperator

RESULTS = Path(__file__).parent / "results"


def _data(name: str, dtype: torch.dtype):
    from sklearn.datasets import load_digits, load_iris

    X, y = (load_iris if name == "iris" else load_digits)(return_X_y=True)
    X = X / (16.0 if name != "iris" else 1.0)
    return torch.tensor(X, dtype=dtype), torch.tensor(y)


def _mlp(widths: list[int], dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(0)  # a benchmark script: the layers' default initialization
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).to(dtype)


NETS = {
    "iris 4-24-14-3": ("iris", [4, 24, 14, 3]),
    "digits 64-32-10": ("digits", [64, 32, 10]),
    "digits 64-100-100-10": ("digits", [64, 100, 100, 10]),
}


def _interleaved(fns: dict, repeats: int) -> dict[str, float]:
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def run(dtype: torch.dtype, repeats: int) -> list[dict]:
    rows = []
    gen = torch.Generator().manual_seed(0)
    for label, (data, widths) in NETS.items():
        X, y = _data(data, dtype)
        problem = Problem(_mlp(widths, dtype), "cross_entropy", (X, y), chunk_size=None)
        theta = problem.theta_from_model()
        p = problem.num_params
        for Op in (HessianOperator, GGNOperator):
            ops = {b: Op(problem, theta, backend=b) for b in ("autograd", "structured")}
            row = {"net": label, "p": p, "n": problem.num_samples, "operator": Op.__name__}
            for k in (1, 16):
                V = torch.randn(p, k, generator=gen, dtype=torch.float64).to(dtype)
                diff = (ops["structured"] @ V - ops["autograd"] @ V).norm() / (
                    ops["autograd"] @ V
                ).norm()
                ms = _interleaved({b: (lambda o=o, V=V: o @ V) for b, o in ops.items()}, repeats)
                row[f"k={k}"] = {**ms, "ratio": ms["autograd"] / ms["structured"]}
                row[f"k={k}"]["relative_difference"] = float(diff)
            if p <= 3000:
                dense = _interleaved(
                    {b: (lambda o=o: o.to_dense()) for b, o in ops.items()}, max(1, repeats // 5)
                )
                row["dense_ms"] = {**dense, "ratio": dense["autograd"] / dense["structured"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
        if p > 3000:
            # A layer's block of the Hessian (Haink sec. 7.5): the structured products skip
            # the other layers' work; autograd differentiates through the whole network.
            for layer in problem.layout.layers:
                ops = {
                    b: HessianOperator(problem, theta, params=layer, backend=b)
                    for b in ("autograd", "structured")
                }
                V = torch.randn(ops["autograd"].shape[0], 16, generator=gen, dtype=torch.float64)
                V = V.to(dtype)
                ms = _interleaved({b: (lambda o=o, V=V: o @ V) for b, o in ops.items()}, repeats)
                row = {
                    "net": label,
                    "p": ops["autograd"].shape[0],
                    "operator": f"HessianOperator, layer {layer!r} block",
                    "k=16": {**ms, "ratio": ms["autograd"] / ms["structured"]},
                }
                diff = (ops["structured"] @ V - ops["autograd"] @ V).norm() / (
                    ops["autograd"] @ V
                ).norm()
                row["k=16"]["relative_difference"] = float(diff)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def markdown(result: dict) -> str:
    s = result["setting"]
    lines = [
        "# Structured vs autograd curvature products (MLPs, cross-entropy, full batch)",
        "",
        f"CPU, {s['threads']} threads, torch {s['torch']}, {s['machine']}; median of "
        f"{s['repeats']} interleaved repeats; milliseconds per application of the operator "
        "to a block of k vectors (dense: the whole matrix). Ratio = autograd / structured. "
        "Generated by `python benchmarks/bench_structured.py`.",
        "",
    ]
    for dtype, rows in result["runs"].items():
        lines += [
            f"## {dtype}",
            "",
            "| net | p | operator | k = 1 autograd / structured | ratio | k = 16 autograd / structured | ratio | dense matrix (s) | ratio |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            k16 = r["k=16"]
            k1 = r.get("k=1")
            if k1 is None:
                lines.append(
                    f"| {r['net']} | {r['p']} | {r['operator']} | | | {k16['autograd']:.2f} / "
                    f"{k16['structured']:.2f} | {k16['ratio']:.2f}x | | |"
                )
                continue
            dense = r.get("dense_ms")
            dense_cells = (
                f"{dense['autograd'] / 1e3:.3f} / {dense['structured'] / 1e3:.3f} | {dense['ratio']:.1f}x"
                if dense
                else "| "
            )
            lines.append(
                f"| {r['net']} | {r['p']} | {r['operator']} | {k1['autograd']:.2f} / {k1['structured']:.2f} | "
                f"{k1['ratio']:.2f}x | {k16['autograd']:.2f} / {k16['structured']:.2f} | {k16['ratio']:.2f}x | {dense_cells} |"
            )
        worst = max(
            max(r.get("k=1", r["k=16"])["relative_difference"], r["k=16"]["relative_difference"])
            for r in rows
        )
        lines += [
            "",
            f"Largest relative difference between the backends' products: {worst:.1e}.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 5 if args.quick else 21
    result = {
        "setting": {
            "threads": args.threads,
            "torch": torch.__version__,
            "machine": f"{platform.machine()} {platform.processor()}".strip(),
            "repeats": repeats,
        },
        "runs": {str(dt)[6:]: run(dt, repeats) for dt in (torch.float64, torch.float32)},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "structured.json").write_text(json.dumps(result, indent=1))
    (args.out / "structured.md").write_text(markdown(result))
    print(f"wrote {args.out / 'structured.md'}")


if __name__ == "__main__":
    main()
