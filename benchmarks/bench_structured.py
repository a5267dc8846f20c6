"""Structured vs autograd curvature products across MLP sizes (Hessian and GGN, k = 1 and 16,
the dense matrix of the small nets, and layer blocks of the largest).

The structured backend (``landscope.curvature._structured``) writes the chain rule out per
layer; ``backend="auto"`` picks it on CPU for chains of dense layers and elementwise
activations.  This script measures where that pays, on the papers' MLPs with their embedded
data: Fjellstrom's Iris 4-24-14-3 (p = 515), a 64-32-10 digits net (p = 2,410) and Gur-Ari's
64-100-100-10 digits net (p = 17,610); ReLU, cross-entropy, full batch, float64 (the
precision the dense and spectral analyses use) and float32.

Reported: milliseconds per operator application, min and median of interleaved repeats (so load
from other processes hits both backends alike), the ratio autograd / structured (of minima and
of medians), and each backend per vector in plain-torch gradients -- the unit is
``torch.autograd.grad`` of the module's loss on the same data, timed in the same round-robin loop
(see ``_common.py``); the two backends' products are checked to agree (relative difference
printed).  The machine load is recorded at the start and the end.

Run:  python benchmarks/bench_structured.py [--threads 2] [--quick]
Writes benchmarks/results/structured.json and structured.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from _common import interleaved, load_note, machine, plain_gradient, ratio, summary
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


def _timed(ops: dict, unit, repeats: int, V: torch.Tensor | None, k: int) -> dict:
    """Both backends and the plain-torch gradient in one interleaved loop: per backend min /
    median ms of one application, the ratio autograd / structured, and per vector in
    gradients (min / median).  ``V`` None: the dense matrix."""
    fns = {"gradient": unit}
    for b, o in ops.items():
        fns[b] = (lambda o=o: o.to_dense()) if V is None else (lambda o=o, V=V: o @ V)
    ms = {name: summary(ts) for name, ts in interleaved(fns, repeats).items()}
    per_vector = {b: summary_div(ms[b], k) for b in ops}
    return {
        **ms,
        "ratio": ratio(ms["autograd"], ms["structured"]),
        "in_gradients_per_vector": {b: ratio(t, ms["gradient"]) for b, t in per_vector.items()},
    }


def summary_div(s: dict, k: int) -> dict:
    return {key: value / k for key, value in s.items()}


def run(dtype: torch.dtype, repeats: int) -> list[dict]:
    rows = []
    gen = torch.Generator().manual_seed(0)
    for label, (data, widths) in NETS.items():
        X, y = _data(data, dtype)
        model = _mlp(widths, dtype)
        problem = Problem(model, "cross_entropy", (X, y), chunk_size=None)
        theta = problem.theta_from_model()
        unit = plain_gradient(model, X, y)
        p = problem.num_params
        for Op in (HessianOperator, GGNOperator):
            ops = {b: Op(problem, theta, backend=b) for b in ("autograd", "structured")}
            row = {"net": label, "p": p, "n": problem.num_samples, "operator": Op.__name__}
            for k in (1, 16):
                V = torch.randn(p, k, generator=gen, dtype=torch.float64).to(dtype)
                diff = (ops["structured"] @ V - ops["autograd"] @ V).norm() / (
                    ops["autograd"] @ V
                ).norm()
                row[f"k={k}"] = _timed(ops, unit, repeats, V, k)
                row[f"k={k}"]["relative_difference"] = float(diff)
            if p <= 3000:
                row["dense_ms"] = _timed(ops, unit, max(1, repeats // 5), None, p)
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
                row = {
                    "net": label,
                    "p": ops["autograd"].shape[0],
                    "operator": f"HessianOperator, layer {layer!r} block",
                    "k=16": _timed(ops, unit, repeats, V, 16),
                }
                diff = (ops["structured"] @ V - ops["autograd"] @ V).norm() / (
                    ops["autograd"] @ V
                ).norm()
                row["k=16"]["relative_difference"] = float(diff)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def _cells(t: dict, dense: bool = False) -> str:
    a, s, r = t["autograd"], t["structured"], t["ratio"]
    scale, fmt = (1e-3, ".3f") if dense else (1.0, ".2f")
    g = t["in_gradients_per_vector"]["structured"]
    return (
        f"{a['min_ms'] * scale:{fmt}} / {s['min_ms'] * scale:{fmt}} | "
        f"{r['min']:.2f}x / {r['median']:.2f}x"
        + ("" if dense else f" | {g['min']:.2f} / {g['median']:.2f}")
    )


def markdown(result: dict) -> str:
    s = result["setting"]
    lines = [
        "# Structured vs autograd curvature products (MLPs, cross-entropy, full batch)",
        "",
        f"CPU, {s['threads']} threads, torch {s['torch']}, {s['machine']}; {s['repeats']} "
        "interleaved repeats (the dense matrix: a fifth as many). Times: milliseconds per "
        "application of the operator to a block of k vectors, min over the repeats (dense: "
        "seconds for the whole matrix). Ratio = autograd / structured, of minima / of medians. "
        "Structured in gradients = structured time per vector over one plain-torch gradient "
        "(`torch.autograd.grad` of the module's loss, timed in the same loop), min / median. "
        "Generated by `python benchmarks/bench_structured.py`.",
        "",
        load_note(s["machine_before"], s["machine_after"]),
        "",
    ]
    for dtype, rows in result["runs"].items():
        lines += [
            f"## {dtype}",
            "",
            "| net | p | operator | k = 1 autograd / structured (ms) | ratio | structured in gradients "
            "| k = 16 autograd / structured (ms) | ratio | structured per vector in gradients "
            "| dense matrix (s) | ratio |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            k1 = f"{_cells(r['k=1'])} | " if "k=1" in r else "| | | "
            dense = f"{_cells(r['dense_ms'], dense=True)} |" if "dense_ms" in r else " | |"
            lines.append(
                f"| {r['net']} | {r['p']} | {r['operator']} | {k1}{_cells(r['k=16'])} | {dense}"
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
    before = machine()
    runs = {str(dt)[6:]: run(dt, repeats) for dt in (torch.float64, torch.float32)}
    after = machine()
    result = {
        "setting": {
            "threads": args.threads,
            "torch": torch.__version__,
            "machine": before["machine"],
            "repeats": repeats,
            "quick": args.quick,
            "unit": "plain torch.autograd.grad of cross_entropy(model(X), y), same interleaved loop",
            "machine_before": before,
            "machine_after": after,
        },
        "runs": runs,
    }
    print(load_note(before, after), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "structured.json").write_text(json.dumps(result, indent=1))
    (args.out / "structured.md").write_text(markdown(result))
    print(f"wrote {args.out / 'structured.md'}")


if __name__ == "__main__":
    main()
