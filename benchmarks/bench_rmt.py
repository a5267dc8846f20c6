"""Marchenko-Pastur fits of 1000 x 500 weight matrices: landscope's ``MarchenkoPastur`` beside
WeightWatcher's ``analyze(mp_fit=True)`` on the same matrices (Haink ch. 4, eq. 4.2).

Matrices (all 1000 x 500, float32 as a layer would hold them):

* ``gaussian``: entries N(0, 0.3^2): no outliers; true bulk edge N sigma^2 (1 + 1/sqrt(Q))^2.
* ``gaussian + 3 spikes``: plus sqrt(N) sum_k d_k a_k b_k^T with d_k = (3, 2.5, 2) x the BBP
  threshold sigma Q^(-1/4): exactly 3 outliers, at the BBP positions.
* ``trained layer``: the 1000 x 500 weight of a 64-500-1000-10 ReLU MLP (Glorot uniform) after
  SGD on the 8x8 digits (seeded; ``--quick``: fewer steps).

Reported per matrix: the bulk edge lambda_+ in units of the eigenvalues of W^T W (squared
singular values; WeightWatcher's ``bulk_max``; ours ``N * bulk_edges_[1]``), the outlier count
(WeightWatcher's ``num_spikes``; ours with the Tracy-Widom 1 % and the plain-edge criterion),
sigma, and the time of a fit (min / median of interleaved repeats; the SVD alone,
``torch.linalg.svdvals`` in float64, is the unit beside them).  WeightWatcher's ``analyze`` also
fits a power law to every matrix (its default ``fit='PL'``), which is part of its time.

    python benchmarks/bench_rmt.py [--quick]

writes ``benchmarks/results/rmt.json`` and ``rmt.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, load_note, machine, summary

from landscope.spectra import MarchenkoPastur

RESULTS = Path(__file__).resolve().parent / "results"
N, M, SIGMA = 1000, 500, 0.3


def gaussian(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return SIGMA * torch.randn(N, M, generator=g, dtype=torch.float64)


def spiked(seed: int = 0) -> tuple[torch.Tensor, list[float]]:
    g = torch.Generator().manual_seed(seed + 1)
    c = M / N
    d = [f * SIGMA * c**0.25 for f in (3.0, 2.5, 2.0)]
    a = torch.linalg.qr(torch.randn(N, 3, generator=g, dtype=torch.float64))[0]
    b = torch.linalg.qr(torch.randn(M, 3, generator=g, dtype=torch.float64))[0]
    W = gaussian(seed) + math.sqrt(N) * (a * torch.tensor(d, dtype=torch.float64)) @ b.T
    bbp = [N * (x**2 + SIGMA**2) * (x**2 + c * SIGMA**2) / x**2 for x in d]  # in sv^2 units
    return W, bbp


def trained(steps: int, seed: int = 0) -> tuple[torch.Tensor, dict]:
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)  # script, not library: the model's init
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, M),
        torch.nn.ReLU(),
        torch.nn.Linear(M, N),
        torch.nn.ReLU(),
        torch.nn.Linear(N, 10),
    )
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (32,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    with torch.no_grad():
        acc = float((net(x).argmax(1) == y).float().mean())
    return net[2].weight.detach().to(torch.float64).clone(), {"steps": steps, "train_acc": acc}


def ww_fit(W: torch.Tensor):
    """WeightWatcher's MP fit of one dense layer holding W (float32, as a layer would)."""
    import weightwatcher as ww

    lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=False)
    lin.weight.data = W.to(torch.float32).clone()
    model = torch.nn.Sequential(lin)
    logging.disable(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        df = ww.WeightWatcher(model=model).analyze(mp_fit=True, randomize=False, plot=False)
    row = df.iloc[0]
    return {
        "bulk_edge_sv2": float(row["bulk_max"]),
        "n_outliers": int(row["num_spikes"]),
        "sigma_mp_ww_units": float(row["sigma_mp"]),
    }


def ours(W: torch.Tensor, criterion: str = "tracy_widom"):
    mp = MarchenkoPastur(criterion).fit(W.to(torch.float32))
    return mp, {
        "bulk_edge_sv2": float(N * mp.bulk_edges_[1]),
        "threshold_sv2": float(N * mp.threshold_),
        "n_outliers": mp.n_outliers_,
        "sigma": mp.sigma_,
        "bulk_ks": mp.bulk_ks_,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and training steps")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    before = machine()
    try:
        import weightwatcher  # noqa: F401

        have_ww = True
    except ImportError:
        have_ww = False
    W_spiked, bbp = spiked()
    W_trained, train_info = trained(300 if args.quick else 3000)
    cases = {
        "gaussian": (
            gaussian(),
            {"true_outliers": 0, "true_edge_sv2": N * SIGMA**2 * (1 + math.sqrt(M / N)) ** 2},
        ),
        "gaussian + 3 spikes": (W_spiked, {"true_outliers": 3, "bbp_positions_sv2": bbp}),
        "trained layer": (W_trained, train_info),
    }
    rows = {}
    for name, (W, truth) in cases.items():
        W32 = W.to(torch.float32)
        _, tw = ours(W)
        _, edge = ours(W, "edge")
        entry = {"truth": truth, "landscope_tracy_widom": tw, "landscope_edge": edge}
        fns = {
            "svdvals (float64)": lambda W=W32: torch.linalg.svdvals(W.to(torch.float64)),
            "landscope MarchenkoPastur": lambda W=W32: MarchenkoPastur().fit(W),
        }
        if have_ww:
            entry["weightwatcher"] = ww_fit(W)
            fns["weightwatcher analyze(mp_fit)"] = lambda W=W: ww_fit(W)
        times = interleaved(fns, repeats, warmup=1, settle=False)
        entry["time_ms"] = {k: summary(v) for k, v in times.items()}
        sv = torch.linalg.svdvals(W).numpy()
        entry["top_sv2"] = (sv[:5] ** 2).tolist()
        rows[name] = entry
        print(name, json.dumps(entry, default=float)[:600])
    after = machine()
    out = {
        "benchmark": "rmt",
        "shape": [N, M],
        "quick": args.quick,
        "weightwatcher": have_ww and __import__("weightwatcher").__version__,
        "cases": rows,
        "machine_before": before,
        "machine_after": after,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rmt.json").write_text(json.dumps(out, indent=1, default=float))
    lines = [
        "# Marchenko-Pastur fit of 1000 x 500 matrices: landscope vs WeightWatcher",
        "",
        f"WeightWatcher {out['weightwatcher']}; {load_note(before, after)}",
        "Bulk edge and spikes in units of the eigenvalues of W^T W (squared singular values).",
        "",
        "| matrix | truth | bulk edge ours / WW | outliers ours TW 1% / ours edge / WW | "
        "time ms min/median: svdvals, ours, WW |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for name, e in rows.items():
        t = e["truth"]
        truth = (
            f"edge {t['true_edge_sv2']:.1f}, 0 outliers"
            if "true_edge_sv2" in t
            else f"3 spikes at {', '.join(f'{v:.0f}' for v in t['bbp_positions_sv2'])}"
            if "bbp_positions_sv2" in t
            else f"{t['steps']} SGD steps, train acc {t['train_acc']:.3f}"
        )
        ww = e.get("weightwatcher", {})
        tm = e["time_ms"]

        def fmt(k, tm=tm):
            return f"{tm[k]['min_ms']:.0f}/{tm[k]['median_ms']:.0f}" if k in tm else "-"

        lines.append(
            f"| {name} | {truth} | {e['landscope_tracy_widom']['bulk_edge_sv2']:.1f} / "
            f"{ww.get('bulk_edge_sv2', float('nan')):.1f} | "
            f"{e['landscope_tracy_widom']['n_outliers']} / {e['landscope_edge']['n_outliers']} / "
            f"{ww.get('n_outliers', '-')} | {fmt('svdvals (float64)')}, "
            f"{fmt('landscope MarchenkoPastur')}, {fmt('weightwatcher analyze(mp_fit)')} |"
        )
    lines += [
        "",
        "Top squared singular values per matrix: "
        + "; ".join(f"{k}: {', '.join(f'{v:.0f}' for v in e['top_sv2'])}" for k, e in rows.items()),
    ]
    (RESULTS / "rmt.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
