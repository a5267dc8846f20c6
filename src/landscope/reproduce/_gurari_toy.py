"""``landscope reproduce gurari-toy``: the softmax-regression toy model of Gur-Ari, Roberts & Dyer
(2018) sec. 3 / App. E, simulated by full-batch gradient descent and compared with the exact
gradient flow (:func:`landscope.subspace.two_class_flow`) and with the paper's statements.

Cases (the paper's footnote 13: d = 1000, k = 2, 5, 10, sigma = 0 or 0.02, random unit means):
1. k = 2, sigma = 0, orthonormal means, no bias: simulated Hessian rank, top eigenvalues and f_top
   against the closed form; eigenvalue x eta t at late times (1, not the 1/2 that eq. 9's
   prefactor suggests).
2. k = 2, sigma = 0.02, random means, with and without bias: top-2 eigenvalues, bulk size, f_top;
   with bias, the gradient's weight on the smaller top eigenvalue.
3. k = 5 and 10, sigma = 0.02, random means, with and without bias: outlier counts (k without
   bias; k - 1 large + one smaller, carrying the gradient, with bias).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from landscope.reproduce._report import Report

__all__ = ["TOY_PLAN", "toy"]

#: d, learning rate, recorded steps per variant.  The paper states d = 1000 but no learning rate
#: or training length; eta = 0.1 here.  Quick uses d = 100 (p = 200 .. 1,010) so that dense
#: Hessians stay cheap.
TOY_PLAN = {
    "full": {
        "d": 1000,
        "lr": 0.1,
        "steps": [0, 10, 30, 100, 300, 1000, 3000, 10000],
        "multi_k": (5, 10),
    },
    "quick": {"d": 100, "lr": 0.1, "steps": [0, 10, 30, 100, 300, 1000, 3000], "multi_k": (5, 10)},
}


def _smaller_top_weight(sim, k: int) -> np.ndarray:
    """c^2 of the gradient on the k-th eigenvector (the smallest of the top k)."""
    return sim.weights[:, k - 1].numpy()


def toy(out: str | Path, *, quick: bool = False, progress: bool = True) -> dict:
    from landscope.plotting import save_figure
    from landscope.plotting._landscape import _figure
    from landscope.subspace import simulate_toy, two_class_flow

    out = Path(out)
    plan = TOY_PLAN["quick" if quick else "full"]
    d, lr, steps = plan["d"], plan["lr"], plan["steps"]
    t0 = time.perf_counter()
    results: dict = {"plan": plan, "quick": quick}

    # 1. exact case
    sim = simulate_toy(
        steps=steps,
        k=2,
        d=d,
        sigma=0.0,
        bias=False,
        lr=lr,
        means="orthonormal",
        num_eigenvalues=3,
        seed=0,
    )
    flow = two_class_flow(sim.theta[0], sim.means, lr, steps)
    ev_sim = sim.eigenvalues[:, :2].numpy()
    ev_flow = flow.sorted_eigenvalues().numpy()
    t = np.asarray(steps, dtype=float)
    rel = np.abs(ev_sim - ev_flow) / ev_flow
    late = ev_sim[-1] * lr * t[-1]
    results["exact"] = {
        "steps": steps,
        "simulated_top2": ev_sim.tolist(),
        "flow_top2": ev_flow.tolist(),
        "max_relative_difference_gd_vs_flow": float(rel.max()),
        "third_over_first_max": float((sim.eigenvalues[:, 2] / sim.eigenvalues[:, 0]).abs().max()),
        "f_top_min": float(sim.top_fraction.min()),
        "eigenvalue_times_eta_t_last": late.tolist(),
    }
    # 2. sigma = 0.02, k = 2, with / without bias
    noisy = {}
    for bias in (False, True):
        s = simulate_toy(
            steps=steps, k=2, d=d, sigma=0.02, bias=bias, lr=lr, seed=0, num_eigenvalues=6
        )
        ev = s.eigenvalues.numpy()
        noisy["bias" if bias else "no_bias"] = {
            "top2_last": ev[-1, :2].tolist(),
            "third_over_second_last": float(ev[-1, 2] / ev[-1, 1]),
            "f_top_last": float(s.top_fraction[-1]),
            "weight_on_smaller_top_last": float(_smaller_top_weight(s, 2)[-1]),
            "weight_on_smaller_top": _smaller_top_weight(s, 2).tolist(),
        }
        if bias:
            sim_bias = s
    results["k2_sigma0.02"] = noisy
    # 3. k > 2
    multi = {}
    for k in plan["multi_k"]:
        for bias in (False, True):
            s = simulate_toy(
                steps=[steps[-2], steps[-1]],
                k=k,
                d=d,
                sigma=0.02,
                bias=bias,
                lr=lr,
                seed=0,
                num_eigenvalues=min(4 * k, k * d),
            )
            ev = s.eigenvalues[-1].numpy()
            multi[f"k{k}_{'bias' if bias else 'no_bias'}"] = {
                "outliers": int(s.outliers[-1]),
                "top_k_plus_2": ev[: k + 2].tolist(),
                "ratio_k_over_k_plus_1": float(ev[k - 1] / ev[k]),
                "ratio_km1_over_k": float(ev[k - 2] / ev[k - 1]),
                "f_top_last": float(s.top_fraction[-1]),
                "weight_on_kth": float(s.weights[-1, k - 1]),
            }
    results["multi_class"] = multi
    results["seconds"] = time.perf_counter() - t0

    # figures
    fig = _figure(figsize=(10, 3.4))
    ax1, ax2, ax3 = fig.subplots(1, 3)
    tt = np.maximum(t, 1)
    for i, c in enumerate(("C0", "C1")):
        ax1.plot(tt, ev_sim[:, i] * lr * tt, "o", color=c, ms=4, label=f"GD lambda_{i + 1}")
        ax1.plot(
            tt, ev_flow[:, i] * lr * tt, "-", color=c, lw=1, label=f"exact flow lambda_{i + 1}"
        )
    ax1.axhline(1.0, color="0.4", ls=":", lw=1, label="1 (our eq. 18 reading)")
    ax1.axhline(0.5, color="C3", ls="--", lw=1, label="1/2 (eq. 9 prefactor)")
    ax1.set_xscale("log")
    ax1.set_xlabel("step t")
    ax1.set_ylabel("eigenvalue x eta t")
    ax1.set_title("k=2, sigma=0: top eigenvalues", fontsize=9)
    ax1.legend(fontsize=6)
    ax2.plot(tt, sim.top_fraction.numpy(), "o-", ms=3, label="sigma=0, f_top")
    ax2.plot(
        tt, _smaller_top_weight(sim_bias, 2), "s-", ms=3, label="bias: c^2 on smaller top eigvec"
    )
    ax2.set_xscale("log")
    ax2.set_ylim(-0.02, 1.05)
    ax2.set_xlabel("step t")
    ax2.set_title("gradient in the top subspace", fontsize=9)
    ax2.legend(fontsize=6)
    for j, (key, row) in enumerate(multi.items()):
        ax3.semilogy(
            np.arange(1, len(row["top_k_plus_2"]) + 1),
            row["top_k_plus_2"],
            "o-",
            ms=3,
            color=f"C{j}",
            label=f"{key}: {row['outliers']} outliers",
        )
    ax3.set_xlabel("i")
    ax3.set_ylabel("lambda_i (last step)")
    ax3.set_title("k classes: top eigenvalues", fontsize=9)
    ax3.legend(fontsize=6)
    save_figure(fig, out / "toy_model.png")

    r = Report(
        "Gur-Ari, Roberts & Dyer (2018) sec. 3 / App. E: the Gaussian-mixture toy model", out
    )
    r.text(
        f"Softmax regression on a k-class Gaussian mixture in d = {d} dimensions (paper: d = 1000"
        f"{'; --quick uses d = 100' if quick else ''}), full-batch gradient descent in float64 with "
        f"eta = {lr} (the paper does not state its eta), dense Hessians.  The closed form is the "
        "exact gradient flow of eq. 13 (Wright omega), which contains eq. 15-18 as its late-time "
        "limit.  Two corrections to the paper's formulas, checked against autograd in the tests: "
        "the top eigenvalues are 1/(eta t) (eq. 9's prefactor 1/(2 eta t) multiplies a matrix "
        "whose eigenvalue is 2), and the late-time gradient is (mu_2 - mu_1)/(2 eta t), a factor 4 "
        "below eq. 8/17."
    )
    ex, nb, b = results["exact"], noisy["no_bias"], noisy["bias"]
    rows = [
        [
            "k=2, sigma=0: Hessian rank (max lambda_3/lambda_1)",
            "2",
            f"{ex['third_over_first_max']:.1e}",
        ],
        ["k=2, sigma=0: f_top (min over steps)", "1", f"{ex['f_top_min']:.12f}"],
        [
            "k=2, sigma=0: GD vs exact flow, top-2 eigenvalues (max rel. diff.)",
            "-",
            f"{ex['max_relative_difference_gd_vs_flow']:.1e}",
        ],
        [
            f"k=2, sigma=0: lambda x eta t at t={steps[-1]}",
            "1/2 (eq. 9 as printed)",
            ", ".join(f"{v:.4f}" for v in ex["eigenvalue_times_eta_t_last"]),
        ],
        [
            "k=2, sigma=0.02: lambda_3/lambda_2 at the end (bulk suppressed)",
            "small",
            f"{nb['third_over_second_last']:.1e}",
        ],
        ["k=2, sigma=0.02: f_top at the end", "~1", f"{nb['f_top_last']:.4f}"],
        [
            "k=2, sigma=0.02, bias: c^2 on the smaller top eigenvector",
            "~1 (aligns with it)",
            f"{b['weight_on_smaller_top_last']:.4f}",
        ],
    ]
    for key, row in multi.items():
        k = int(key[1:].split("_")[0])
        expect = f"{k}" if "no_bias" in key else f"{k - 1} large + 1 smaller"
        rows.append(
            [
                f"{key}: outliers (largest log-gap among top 2k)",
                expect,
                f"{row['outliers']} (lambda_{k - 1}/lambda_{k} = {row['ratio_km1_over_k']:.2f}, "
                f"lambda_{k}/lambda_{k + 1} = {row['ratio_k_over_k_plus_1']:.1f}; c^2 on v_{k} = {row['weight_on_kth']:.3f})",
            ]
        )
    r.table(["quantity", "paper", "ours"], rows)
    r.figure(
        out / "toy_model.png",
        "Toy model: eigenvalue x eta t (GD vs exact flow), gradient alignment, k-class outliers",
    )
    r.results = results
    r.save()
    return results
