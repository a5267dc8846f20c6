"""Top-10 Hessian eigenpairs: landscope against PyHessian, hessian-eigenthings, curvlinops + eigsh.

Issue "Curvature engine": the 64-100-100-10 MLP (ReLU, biases; p = 17,610) on sklearn digits
(X / 16, all 1,797 samples, full batch, cross-entropy, float32, 2 threads) after 200 SGD steps
(lr 0.1, batch 64, seed 0).  Every method runs in the same process on the same model and data;
we report wall time, Hessian-vector products and the largest relative eigenvalue error of the
top 10 against a float64 reference.  Also: one gradient, one Hessian-vector product (single and
per vector in a block of 16), and warm-started tracking after one more SGD step.

Reference: no dense Hessian (2.5 GB and an O(p^3) eigh); instead two independent float64
matrix-free solves at machine-precision tolerance -- landscope's solver at tol 1e-12 and SciPy
``eigsh`` (ARPACK, tol 0) on the float64 operator -- which must agree to 1e-10 (recorded).

Run:  python benchmarks/bench_hessian_eigs.py [--quick] [--threads 2]
Writes benchmarks/results/hessian_eigs.json and hessian_eigs.md.  Peers that are not installed
(``pip install -c constraints.txt -e .[bench]``) are skipped and recorded as such.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.metadata
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _common import interleaved, load_note, machine, plain_gradient, ratio, summary
from torch import nn

from landscope import Problem
from landscope.curvature import HessianOperator, top_eigenpairs

RESULTS = Path(__file__).parent / "results"
K = 10


# --- the setting -------------------------------------------------------------------------------
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y, dtype=torch.long)


def trained_mlp(
    X: torch.Tensor, y: torch.Tensor, steps: int = 200
) -> tuple[nn.Module, torch.Generator]:
    """64-100-100-10 ReLU MLP after ``steps`` SGD steps (lr 0.1, batch 64, seed 0); also returns
    the batch sampler's generator so the caller can draw the next step's batch."""
    torch.manual_seed(0)  # a script, not library code: the model's default initialization
    model = nn.Sequential(
        nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, X.shape[0], (64,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
    return model, gen


def rel_error(values, ref: torch.Tensor) -> float:
    v = torch.tensor(np.array(values, dtype=np.float64)).sort(descending=True).values[:K]
    return float(((v - ref[:K]).abs() / ref[:K].abs()).max())


def timed(
    fn: Callable[[], dict],
    repeats: int,
    unit: Callable[[], object],
    sync: Callable[[], None] = lambda: None,
) -> dict:
    """Run ``fn`` ``repeats`` times, each right after the plain-torch unit (a gradient: one
    untimed call, so that the previous solve's allocations do not land on it, then three timed
    ones); keep the last result, with min and median wall time, and both in units (ratio of
    minima / of medians)."""
    times, units, out = [], [], {}
    for _ in range(repeats):
        unit()
        for _ in range(3):
            sync()
            t0 = time.perf_counter()
            unit()
            sync()
            units.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t1)
    out["seconds"] = statistics.median(times)
    out["seconds_min"] = min(times)
    out["in_gradients"] = {
        "min": min(times) / min(units),
        "median": statistics.median(times) / statistics.median(units),
    }
    return out


class Counter:
    """Counts Hessian-vector products of a peer by wrapping the function that computes them."""

    def __init__(self) -> None:
        self.n = 0

    def wrap(self, f: Callable, columns: Callable[..., int] = lambda *a, **k: 1) -> Callable:
        def g(*args, **kwargs):
            self.n += columns(*args, **kwargs)
            return f(*args, **kwargs)

        return g


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


# --- methods -------------------------------------------------------------------------------------
def landscope_method(
    problem: Problem, theta: torch.Tensor, backend: str = "auto", **kwargs
) -> Callable[[], dict]:
    def run() -> dict:
        # built inside the timing: includes the graph (or the structured forward/backward pass)
        op = HessianOperator(problem, theta, backend=backend)
        res = top_eigenpairs(op, K, **kwargs)
        return {
            "eigenvalues": res.eigenvalues.tolist(),
            "hvps": res.num_matvecs,
            "converged": int(res.converged.sum()),
            "max_rel_residual": float(res.relative_residuals.max()),
        }

    return run


def landscope_scipy(
    problem: Problem, theta: torch.Tensor, solver: str, tol: float
) -> Callable[[], dict]:
    import scipy.sparse.linalg as sla

    def run() -> dict:
        op = HessianOperator(problem, theta)
        A = op.to_scipy()
        rng = np.random.default_rng(0)
        if solver == "eigsh":
            vals = sla.eigsh(A, K, which="LA", tol=tol, v0=rng.standard_normal(op.shape[0]))[0]
        else:
            X0 = rng.standard_normal((op.shape[0], K))
            vals = sla.lobpcg(A, X0, largest=True, tol=tol, maxiter=200)[0]
        return {"eigenvalues": sorted(vals.tolist(), reverse=True), "hvps": op.num_matvecs}

    return run


def pyhessian_method(model: nn.Module, X, y, tol: float, max_iter: int = 100) -> Callable[[], dict]:
    ph = importlib.import_module(
        "pyhessian.hessian"
    )  # the module (the package re-exports a class of that name)

    def run() -> dict:
        m = copy.deepcopy(model)  # PyHessian calls model.eval() and writes .grad
        counter = Counter()
        original = ph.hessian_vector_product
        ph.hessian_vector_product = counter.wrap(original)
        try:
            torch.manual_seed(0)  # PyHessian draws its start vectors from the global RNG
            H = ph.hessian(m, nn.CrossEntropyLoss(), data=(X, y), cuda=False)
            vals, _ = H.eigenvalues(maxIter=max_iter, tol=tol, top_n=K)
        finally:
            ph.hessian_vector_product = original
        return {"eigenvalues": sorted(vals, reverse=True), "hvps": counter.n}

    return run


def eigenthings_method(model: nn.Module, X, y, **kwargs) -> Callable[[], dict]:
    import hessian_eigenthings as he

    def run() -> dict:
        m = copy.deepcopy(model)
        op = he.HessianOperator(m, [(X, y)], he.supervised_loss(nn.CrossEntropyLoss()))
        counter = Counter()
        op.matvec = counter.wrap(op.matvec)
        res = he.lanczos(op, k=K, which="LA", seed=0, **kwargs)
        return {"eigenvalues": res.eigenvalues.tolist(), "hvps": counter.n}

    return run


def curvlinops_method(model: nn.Module, X, y) -> Callable[[], dict]:
    import scipy.sparse.linalg as sla
    from curvlinops import HessianLinearOperator

    def run() -> dict:
        m = copy.deepcopy(model)
        params = [p for p in m.parameters() if p.requires_grad]
        H = HessianLinearOperator(
            m, nn.CrossEntropyLoss(), params, [(X, y)], check_deterministic=False
        )
        counter = Counter()
        H._matmat = counter.wrap(H._matmat, columns=lambda M: M[0].shape[-1])
        A = H.to_scipy()
        v0 = np.random.default_rng(0).standard_normal(A.shape[0])
        vals = sla.eigsh(A, K, which="LA", v0=v0)[0]  # SciPy's default tol: machine precision
        return {"eigenvalues": sorted(vals.tolist(), reverse=True), "hvps": counter.n}

    return run


# --- main ------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, skip the slowest checks")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu (the issue's setting, with peers) or cuda (landscope only)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    before = machine()
    repeats = 1 if args.quick else 3
    on_cuda = args.device.startswith("cuda")
    stem = "hessian_eigs" if not on_cuda else "hessian_eigs_cuda"

    X, y = digits()
    model, gen = trained_mlp(X, y)
    if on_cuda:
        model, X, y = model.to(args.device), X.to(args.device), y.to(args.device)
    problem = Problem(model, "cross_entropy", (X, y), chunk_size=None)
    theta = problem.theta_from_model()
    p = problem.num_params
    sync = torch.cuda.synchronize if on_cuda else (lambda: None)
    print(
        f"p = {p}, N = {X.shape[0]}, threads = {torch.get_num_threads()}, device {args.device}",
        flush=True,
    )

    # --- float64 reference ----------------------------------------------------------------------
    problem64 = Problem(model, "cross_entropy", (X, y), chunk_size=None, dtype=torch.float64)
    theta64 = problem64.theta_from_model()
    t0 = time.perf_counter()
    ref_res = top_eigenpairs(
        HessianOperator(problem64, theta64), K + 2, tol=1e-12, block_size=K + 2
    )
    ref = ref_res.eigenvalues[:K].double().cpu()
    reference = {
        "method": "landscope top_eigenpairs, float64, tol 1e-12, block 12",
        "eigenvalues": ref.tolist(),
        "next_two": ref_res.eigenvalues[K:].tolist(),
        "max_rel_residual": float(ref_res.relative_residuals.max()),
        "seconds": time.perf_counter() - t0,
    }
    if not args.quick:
        import scipy.sparse.linalg as sla

        op64 = HessianOperator(problem64, theta64)
        v0 = np.random.default_rng(1).standard_normal(p)
        ev = np.sort(sla.eigsh(op64.to_scipy(), K, which="LA", tol=0, v0=v0)[0])[::-1]
        reference["eigsh_float64_max_rel_diff"] = rel_error(ev, ref)
        assert reference["eigsh_float64_max_rel_diff"] < 1e-10, reference
    print("reference", [f"{v:.6g}" for v in ref.tolist()], flush=True)

    # --- cost of one product, in plain-torch gradients (one interleaved loop) -----------------
    n_rep = 7 if args.quick else 21
    g = torch.Generator().manual_seed(0)
    v1 = torch.randn(p, 1, generator=g).to(args.device)
    V16 = torch.randn(p, 16, generator=g).to(args.device)
    op = HessianOperator(problem, theta)
    op_autograd = HessianOperator(problem, theta, backend="autograd")
    unit = plain_gradient(model, X, y)
    times = interleaved(
        {
            "gradient": unit,
            "landscope_gradient": lambda: problem.gradient(theta),
            "hvp_single": lambda: op @ v1,
            "hvp_block16": lambda: op @ V16,
            "hvp_single_uncached": lambda: HessianOperator(problem, theta, cache=False) @ v1,
            "autograd_hvp_single": lambda: op_autograd @ v1,
            "autograd_hvp_block16": lambda: op_autograd @ V16,
        },
        n_rep,
        sync,
    )
    per = {"hvp_block16": 16, "autograd_hvp_block16": 16}
    ms = {name: summary(ts, per=per.get(name, 1)) for name, ts in times.items()}
    costs = {
        "backend": op.backend,
        "unit": "plain torch.autograd.grad of cross_entropy(model(X), y), same interleaved loop",
        "repeats": n_rep,
        "ms": ms,  # per vector for the blocks; min and median
        "over_gradient": {name: ratio(t, ms["gradient"]) for name, t in ms.items()},
    }
    print(json.dumps(costs, indent=1), flush=True)

    # --- the methods ---------------------------------------------------------------------------------
    methods: dict[str, Callable[[], dict]] = {
        "landscope (tol 1e-6)": landscope_method(problem, theta, tol=1e-6),
        "landscope (tol 1e-4)": landscope_method(problem, theta, tol=1e-4),
        "landscope, autograd backend (tol 1e-6)": landscope_method(
            problem, theta, backend="autograd", tol=1e-6
        ),
        "landscope block 10 (tol 1e-6)": landscope_method(problem, theta, tol=1e-6, block_size=K),
        "landscope operator + scipy eigsh (tol 1e-6)": landscope_scipy(
            problem, theta, "eigsh", 1e-6
        ),
    }
    if not args.quick:
        methods["landscope operator + scipy lobpcg (tol 1e-6)"] = landscope_scipy(
            problem, theta, "lobpcg", 1e-6
        )
    if on_cuda:
        methods["landscope block 5 (tol 1e-6)"] = landscope_method(
            problem, theta, tol=1e-6, block_size=5
        )
        methods["landscope block 1 (tol 1e-6)"] = landscope_method(
            problem, theta, tol=1e-6, block_size=1
        )
    peers = {}
    # Peers are compared in the CPU setting only.
    peer_version = (lambda dist: None) if on_cuda else version
    if peer_version("pyhessian"):
        methods["PyHessian (default tol 1e-3)"] = pyhessian_method(model, X, y, tol=1e-3)
        methods["PyHessian (tol 1e-6)"] = pyhessian_method(model, X, y, tol=1e-6, max_iter=1000)
    peers["pyhessian"] = peer_version("pyhessian")
    if peer_version("hessian-eigenthings"):
        methods["hessian-eigenthings (default: 20 steps)"] = eigenthings_method(model, X, y)
        methods["hessian-eigenthings (60 reorthogonalized steps)"] = eigenthings_method(
            model, X, y, max_iter=60, reorthogonalize=True
        )
    peers["hessian-eigenthings"] = peer_version("hessian-eigenthings")
    if peer_version("curvlinops-for-pytorch"):
        methods["curvlinops + scipy eigsh"] = curvlinops_method(model, X, y)
    peers["curvlinops-for-pytorch"] = peer_version("curvlinops-for-pytorch")

    rows = []
    for name, fn in methods.items():
        out = timed(fn, repeats, unit, sync)
        out["rel_error"] = rel_error(out["eigenvalues"], ref)
        out["method"] = name
        rows.append(out)
        print(
            f"{name:50s} {out['seconds']:7.3f} s  {out['hvps']:5d} HVPs  error {out['rel_error']:.1e}",
            flush=True,
        )

    # --- warm-started tracking after one more SGD step -----------------------------------------------
    idx = torch.randint(0, X.shape[0], (64,), generator=gen)  # the 201st step's batch
    theta1 = theta - 0.1 * problem.gradient(theta, idx.to(theta.device))
    prev = top_eigenpairs(HessianOperator(problem, theta), K, tol=1e-6)
    warm_rows = []
    for tol in (1e-4, 1e-6):
        for label, kw in (("cold", {}), ("warm", {"warm_start": prev.eigenvectors})):
            out = timed(landscope_method(problem, theta1, tol=tol, **kw), repeats, unit, sync)
            out.update(method=f"{label} (tol {tol:g})")
            warm_rows.append(out)
    for i in range(0, len(warm_rows), 2):
        warm_rows[i + 1]["fraction_of_cold_hvps"] = warm_rows[i + 1]["hvps"] / warm_rows[i]["hvps"]
    ref1 = (
        top_eigenpairs(
            HessianOperator(
                Problem(model, "cross_entropy", (X, y), chunk_size=None, dtype=torch.float64),
                theta1.double(),
            ),
            K,
            tol=1e-12,
            block_size=K + 2,
        )
        .eigenvalues.double()
        .cpu()
    )
    for r in warm_rows:
        r["rel_error"] = rel_error(r["eigenvalues"], ref1)
        print(
            f"{r['method']:20s} {r['seconds']:.3f} s {r['hvps']} HVPs error {r['rel_error']:.1e}",
            flush=True,
        )
    # Why the saving is small: how far one step moved the top-10 subspace, and the old vectors'
    # relative residuals at the new theta; a warm solve that verifies k vectors explicitly needs
    # at least k products (k / cold of a cold solve).  Smaller steps show where warm starts pay.
    op1 = HessianOperator(problem, theta1)
    old_res = (op1 @ prev.eigenvectors) - prev.eigenvectors * prev.eigenvalues
    drift = {
        "lr": 0.1,
        "old_vectors_rel_residuals": (old_res.norm(dim=0) / prev.eigenvalues.abs()).tolist(),
        "eigenvalues_before": prev.eigenvalues.tolist(),
        "lower_bound_fraction": K / warm_rows[-2]["hvps"],
        "smaller_steps": [],
    }
    for lr in (0.01, 0.001):
        t_lr = theta - lr * problem.gradient(theta, idx.to(theta.device))
        cold = top_eigenpairs(HessianOperator(problem, t_lr), K, tol=1e-6)
        warm = top_eigenpairs(
            HessianOperator(problem, t_lr), K, tol=1e-6, warm_start=prev.eigenvectors
        )
        r_lr = (HessianOperator(problem, t_lr) @ prev.eigenvectors) - (
            prev.eigenvectors * prev.eigenvalues
        )
        drift["smaller_steps"].append(
            {
                "lr": lr,
                "max_old_rel_residual": float((r_lr.norm(dim=0) / prev.eigenvalues.abs()).max()),
                "cold_hvps": cold.num_matvecs,
                "warm_hvps": warm.num_matvecs,
            }
        )
    print(json.dumps(drift, indent=1), flush=True)

    result = {
        "setting": {
            "model": "64-100-100-10 MLP, ReLU, biases (nn.Sequential)",
            "data": "sklearn load_digits, X/16, N = 1797, full batch, cross-entropy",
            "training": "200 SGD steps, lr 0.1, batch 64 (with replacement), seed 0",
            "dtype": "float32",
            "device": args.device if not on_cuda else torch.cuda.get_device_name(),
            "p": p,
            "k": K,
            "threads": torch.get_num_threads(),
            "repeats": repeats,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpu_count": __import__("os").cpu_count(),
            "peers": peers,
            "machine_before": before,
            "machine_after": machine(),
        },
        "reference": reference,
        "costs": costs,
        "methods": rows,
        "warm_start": warm_rows,
        "warm_start_drift": drift,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(f"wrote {args.out / stem}.json and .md")


def _costs_line(c: dict) -> str:
    """One product and a block of 16 in plain-torch gradients (ratio of minima / of medians)."""
    ms, r = c["ms"], c["over_gradient"]

    def cell(name: str) -> str:
        return f"{ms[name]['min_ms']:.2f} ms ({r[name]['min']:.2f}x / {r[name]['median']:.2f}x)"

    return (
        f"Unit: one plain-torch gradient, {ms['gradient']['min_ms']:.2f} ms (min; median "
        f"{ms['gradient']['median_ms']:.2f} ms), timed in the same interleaved loop as the "
        f"products ({c['repeats']} rounds; ratios as min / median). Backend {c['backend']}: one "
        f"Hessian-vector product {cell('hvp_single')}, uncached {cell('hvp_single_uncached')}; "
        f"in a block of 16, per vector {cell('hvp_block16')}. The autograd backend: "
        f"{cell('autograd_hvp_single')} and per vector in a block of 16 "
        f"{cell('autograd_hvp_block16')}. landscope's own gradient: {cell('landscope_gradient')}."
    )


def _seconds(r: dict) -> str:
    return f"{r['seconds_min']:.3f} / {r['seconds']:.3f}"


def _in_gradients(r: dict) -> str:
    return f"{r['in_gradients']['min']:.0f} / {r['in_gradients']['median']:.0f}"


def markdown(result: dict) -> str:
    s, c = result["setting"], result["costs"]
    lines = [
        f"# Top-10 Hessian eigenpairs: digits MLP 64-100-100-10 ({s['device']})",
        "",
        f"p = {s['p']}, {s['dtype']}, {s['threads']} threads, torch {s['torch']}, {s['cpu_count']} CPUs "
        f"({s['machine']}); min / median of {s['repeats']} runs, each right after a plain-torch gradient (the unit). Error: largest relative error of the top 10 "
        "eigenvalues against the float64 reference. Generated by `python benchmarks/bench_hessian_eigs.py`.",
        "",
        _costs_line(c),
        "",
        load_note(s["machine_before"], s["machine_after"]),
        "",
        "| method | seconds (min / median) | in plain gradients (min / median) | Hessian-vector products | max rel. error |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in result["methods"]:
        lines.append(
            f"| {r['method']} | {_seconds(r)} | {_in_gradients(r)} | {r['hvps']} | {r['rel_error']:.1e} |"
        )
    missing = [k for k, v in s["peers"].items() if v is None]
    if not s.get("device", "cpu").startswith("cpu"):
        lines += ["", "Peers are compared in the issue's CPU setting only (hessian_eigs.md)."]
    elif missing:
        lines += ["", f"Not installed, skipped: {', '.join(missing)}."]
    lines += [
        "",
        "## Warm-started tracking after one more SGD step",
        "",
        "| solve | seconds (min / median) | in plain gradients (min / median) | Hessian-vector products | fraction of cold | max rel. error |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["warm_start"]:
        frac = f"{r['fraction_of_cold_hvps']:.2f}" if "fraction_of_cold_hvps" in r else ""
        lines.append(
            f"| {r['method']} | {_seconds(r)} | {_in_gradients(r)} | {r['hvps']} | {frac} | {r['rel_error']:.1e} |"
        )
    d = result.get("warm_start_drift")
    if d:
        res = d["old_vectors_rel_residuals"]
        lines += [
            "",
            f"The step (lr {d['lr']}) moves the top-10 subspace far: the previous eigenvectors' "
            f"relative residuals at the new parameters are {min(res):.2f}-{max(res):.2f}. A warm "
            f"solve that checks 10 vectors by explicit residuals needs at least 10 products, "
            f"{d['lower_bound_fraction']:.2f} of the cold solve's. Smaller steps (same batch):",
            "",
            "| lr | largest old relative residual | cold products | warm products |",
            "| ---: | ---: | ---: | ---: |",
        ]
        for r in d["smaller_steps"]:
            lines.append(
                f"| {r['lr']:g} | {r['max_old_rel_residual']:.1e} | {r['cold_hvps']} | {r['warm_hvps']} |"
            )
    ref = result["reference"]
    lines += [
        "",
        f"Reference: {ref['method']} (max relative residual {ref['max_rel_residual']:.1e}); "
        + (
            f"SciPy eigsh (ARPACK, tol 0) on the float64 operator agrees to {ref['eigsh_float64_max_rel_diff']:.1e}."
            if "eigsh_float64_max_rel_diff" in ref
            else "(--quick: eigsh cross-check skipped)."
        ),
        f"Eigenvalues: {', '.join(f'{v:.6g}' for v in ref['eigenvalues'])}; next: "
        f"{', '.join(f'{v:.6g}' for v in ref['next_two'])}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
