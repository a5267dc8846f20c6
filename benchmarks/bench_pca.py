"""Trajectory PCA (Haink eq. 3.3-3.5): ``TrajectoryPCA`` beside ``sklearn.decomposition.PCA`` on
the same matrices, exact (T x T Gram matrix / full SVD) and randomized, with time and peak memory.

Cases:

* ``large``: T = 2,000 snapshots of a P = 100,000-parameter layer (a drift along one direction plus
  a random walk, float32, 800 MB), written column-major to a file.  ``TrajectoryPCA`` reads it in
  column blocks of 24 MB (as float64) from the file (as it streams a run store); scikit-learn needs the whole
  matrix in memory (loaded for it, load time not counted).  Each method runs once in its own
  subprocess, which reports its time and its peak resident memory (``ru_maxrss``); the unit
  beside them is one plain pass reading the file and forming X_b X_b^T in torch (what the exact
  method's first pass costs).  No P x P matrix is ever formed (it would be 80 GB in float64).
* ``medium``: T = 500, P = 20,000, in memory, timed interleaved (min / median of repeats) beside
  the plain-torch unit: the same Gram-matrix PCA written in plain torch with the whole matrix in
  memory (``Xc @ Xc.T``, ``torch.linalg.eigh``, components ``Xc.T @ u / sqrt(lambda)``), so the
  ratio is the cost of streaming and of the estimator around it; ``torch.linalg.svd`` beside.

Accuracy: the top-20 variances of each method against the exact ones (relative error) and the
components' |overlap| with the exact ones.

    python benchmarks/bench_pca.py [--quick]

writes ``benchmarks/results/pca.json`` and ``pca.md``.  ``--quick``: T = 400, P = 20,000 for the
large case and fewer repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, load_note, machine, summary

RESULTS = Path(__file__).resolve().parent / "results"
K = 20


def make_trajectory(T: int, P: int, seed: int = 0, block: int = 10_000):
    """Yield column blocks (T, b) float32 of a drift + random walk trajectory."""
    gen = np.random.default_rng(seed)
    for c0 in range(0, P, block):
        b = min(block, P - c0)
        drift = np.outer(np.arange(T), gen.normal(size=b)) * 2e-3
        walk = np.cumsum(gen.normal(size=(T, b)), axis=0) * 1e-3
        yield (drift + walk + gen.normal(size=b) * 0.05).astype(np.float32)


class ColumnFile:
    """A (T, P) float32 matrix stored column-major in a file; ``X[:, c0:c1]`` reads the bytes of
    those columns only (no memory map: its pages would count as resident memory)."""

    def __init__(self, path: str, T: int, P: int):
        self.path, self.shape, self.ndim, self.dtype = path, (T, P), 2, np.dtype(np.float32)

    def __getitem__(self, key):
        rows, cols = key
        c0, c1, _ = cols.indices(self.shape[1])
        T = self.shape[0]
        with open(self.path, "rb") as f:
            f.seek(4 * T * c0)
            data = np.fromfile(f, dtype=np.float32, count=T * (c1 - c0))
        return data.reshape(c1 - c0, T).T[rows]


def write_file(path: str, T: int, P: int) -> None:
    with open(path, "wb") as f:
        for block in make_trajectory(T, P):
            np.asfortranarray(block).T.tofile(f)  # column-major: each column's T values


# --- one method per subprocess -----------------------------------------------------------------
def _peak_rss() -> int:
    """This process' peak resident memory in bytes: VmHWM of /proc/self/status (reset at exec;
    ``ru_maxrss`` is not: it keeps the parent's size at the fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def limit_threads(n: int) -> dict:
    """The same number of threads for torch and for every BLAS / OpenMP pool numpy, scipy and
    scikit-learn load (threadpoolctl), so that no method gets more cores than another; returns
    the threads each side ended up with."""
    import sklearn.decomposition  # noqa: F401  (load its pools before limiting them)
    from threadpoolctl import threadpool_info, threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(limits=n)
    pools = threadpool_info()
    return {
        "torch_threads": torch.get_num_threads(),
        "blas_threads": max((p["num_threads"] for p in pools), default=0),
    }


def _worker(method: str, path: str, T: int, P: int, out: str) -> None:
    threads = limit_threads(int(os.environ.get("BENCH_THREADS", "2")))
    from landscope.trajectory import TrajectoryPCA

    t0 = time.perf_counter()
    if method.startswith("landscope"):
        X = ColumnFile(path, T, P)
        if method.endswith("in_memory"):  # the same matrix as scikit-learn gets, load not timed
            X = np.ascontiguousarray(X[:, 0:P])
            t0 = time.perf_counter()
        kind = next((m for m in ("randomized", "krylov") if m in method), "exact")
        pca = TrajectoryPCA(K, method=kind, random_state=0).fit_matrix(X)
        variances, comps = pca.explained_variance_, pca.components_
        seconds = time.perf_counter() - t0
        extra = {"passes": pca.passes_, "n_iter": getattr(pca, "n_iter_", None)}
    elif method == "unit_one_pass":
        X = ColumnFile(path, T, P)
        G = torch.zeros(T, T, dtype=torch.float64)
        step = max(1, (24 * 2**20) // (8 * T))  # TrajectoryPCA's default block
        for c0 in range(0, P, step):
            b = torch.from_numpy(np.asarray(X[:, c0 : c0 + step], np.float64))
            b -= b.mean(0)
            G.addmm_(b, b.T)
        seconds = time.perf_counter() - t0
        variances, comps, extra = None, None, {}
    else:
        from sklearn.decomposition import PCA

        X = np.ascontiguousarray(ColumnFile(path, T, P)[:, 0:P])
        t0 = time.perf_counter()  # load time not counted
        solver = "randomized" if method.endswith("randomized") else "full"
        pca = PCA(K, svd_solver=solver, random_state=0).fit(X)
        seconds = time.perf_counter() - t0
        # sklearn divides by T - 1; ours (eq. 3.3) by T
        variances = pca.explained_variance_ * (T - 1) / T
        comps, extra = pca.components_.astype(np.float64), {}
    extra = {**extra, **threads}
    rss = _peak_rss()
    np.savez(
        out,
        seconds=seconds,
        peak_rss=rss,
        variances=np.zeros(0) if variances is None else variances,
        components=np.zeros((0, 0)) if comps is None else comps,
        extra=json.dumps(extra),
    )


def run_method(method: str, path: str, T: int, P: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.npz")
        subprocess.run(
            [sys.executable, __file__, "--worker", method, path, str(T), str(P), out], check=True
        )
        with np.load(out) as z:
            return {k: z[k] for k in z.files}


def accuracy(ref: dict, got: dict) -> dict:
    rel = np.abs(got["variances"] - ref["variances"]) / ref["variances"]
    overlaps = np.abs(np.sum(got["components"] * ref["components"], axis=1))
    return {
        "max_rel_variance_error": float(rel.max()),
        "min_component_overlap": float(overlaps.min()),
    }


METHODS = (
    "unit_one_pass",
    "landscope_exact",
    "landscope_randomized",
    "landscope_randomized_in_memory",
    "landscope_krylov",
    "landscope_krylov_in_memory",
    "sklearn_full",
    "sklearn_randomized",
)


def large_case(T: int, P: int, only: tuple[str, ...] = METHODS, previous: dict | None = None):
    """Each method in its own process on the same file; methods not in ``only`` are taken from
    ``previous`` (an earlier results file's large case on the same seeded matrix), marked so."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.f32")
        write_file(path, T, P)
        res = {}
        for method in METHODS:
            if method in only or previous is None:
                res[method] = run_method(method, path, T, P)
    ref = res["landscope_exact"]
    rows = {}
    for method in METHODS:
        if method not in res:
            rows[method] = {**previous["methods"][method], "from_previous_run": True}
            continue
        r = res[method]
        row = {"seconds": float(r["seconds"]), "peak_rss_mb": float(r["peak_rss"]) / 2**20}
        row.update(json.loads(str(r["extra"])))
        if r["variances"].size:
            row.update(accuracy(ref, r))
        rows[method] = row
    ours = (
        "landscope_exact",
        "landscope_randomized",
        "landscope_randomized_in_memory",
        "landscope_krylov",
        "landscope_krylov_in_memory",
    )
    for method in ours:
        twin = "sklearn_full" if method.endswith("exact") else "sklearn_randomized"
        rows[method]["time_vs_sklearn"] = rows[method]["seconds"] / rows[twin]["seconds"]
        rows[method]["time_vs_unit"] = rows[method]["seconds"] / rows["unit_one_pass"]["seconds"]
    return {"T": T, "P": P, "matrix_mb": 4 * T * P / 2**20, "methods": rows}


def medium_case(T: int, P: int, repeats: int) -> dict:
    from sklearn.decomposition import PCA

    from landscope.trajectory import TrajectoryPCA

    X = np.concatenate(list(make_trajectory(T, P, seed=1)), axis=1).astype(np.float64)
    Xt = torch.from_numpy(X)

    def unit():  # the textbook Gram-matrix PCA in plain torch, the whole matrix in memory
        xc = Xt - Xt.mean(0)
        evals, evecs = torch.linalg.eigh(xc @ xc.T)
        u = evecs[:, -K:]
        return evals[-K:] / T, (xc.T @ u) / evals[-K:].clamp_min(1e-300).sqrt()

    def torch_svd():
        xc = Xt - Xt.mean(0)
        return torch.linalg.svd(xc, full_matrices=False)

    fns = {
        "unit_torch_gram": unit,
        "torch_svd": torch_svd,
        "landscope_exact": lambda: TrajectoryPCA(K).fit_matrix(X),
        "landscope_randomized": lambda: TrajectoryPCA(K, method="randomized").fit_matrix(X),
        "landscope_krylov": lambda: TrajectoryPCA(K, method="krylov").fit_matrix(X),
        "sklearn_full": lambda: PCA(K, svd_solver="full").fit(X),
        "sklearn_randomized": lambda: PCA(K, svd_solver="randomized", random_state=0).fit(X),
    }
    times = interleaved(fns, repeats)
    rows = {name: summary(t) for name, t in times.items()}
    for name in fns:
        rows[name]["vs_unit"] = {
            "min": rows[name]["min_ms"] / rows["unit_torch_gram"]["min_ms"],
            "median": rows[name]["median_ms"] / rows["unit_torch_gram"]["median_ms"],
        }
    for ours, twin in (
        ("landscope_exact", "sklearn_full"),
        ("landscope_randomized", "sklearn_randomized"),
        ("landscope_krylov", "sklearn_randomized"),
    ):
        rows[ours]["vs_sklearn"] = {
            "min": rows[ours]["min_ms"] / rows[twin]["min_ms"],
            "median": rows[ours]["median_ms"] / rows[twin]["median_ms"],
        }
    exact = TrajectoryPCA(K).fit_matrix(X)
    ref = {"variances": exact.explained_variance_, "components": exact.components_}
    for name, fit in (
        ("landscope_randomized", TrajectoryPCA(K, method="randomized").fit_matrix(X)),
        ("landscope_krylov", TrajectoryPCA(K, method="krylov").fit_matrix(X)),
        ("sklearn_full", PCA(K, svd_solver="full").fit(X)),
        ("sklearn_randomized", PCA(K, svd_solver="randomized", random_state=0).fit(X)),
    ):
        if hasattr(fit, "explained_variance_ratio_") and name.startswith("sklearn"):
            got = {
                "variances": fit.explained_variance_ * (T - 1) / T,
                "components": fit.components_,
            }
        else:
            got = {"variances": fit.explained_variance_, "components": fit.components_}
        rows[name].update(accuracy(ref, got))
    return {"T": T, "P": P, "repeats": repeats, "methods": rows, "machine": machine()}


def markdown(result: dict) -> str:
    lines = ["# Trajectory PCA: landscope vs scikit-learn", ""]
    lines.append(load_note(result["machine_before"], result["machine_after"]))
    lg = result["large"]
    lines += [
        "",
        f"## {lg['T']} snapshots x {lg['P']:,} parameters ({lg['matrix_mb']:.0f} MB float32), "
        f"top {K} components",
        "",
        "TrajectoryPCA streams the matrix from a file in column blocks of 24 MB as float64 (the "
        "``_in_memory`` row: from the same in-memory array scikit-learn gets); scikit-learn holds "
        "it in memory (load not timed).  One run each, in its own process; peak memory is the "
        "process' maximum resident set (VmHWM; the Python interpreter with torch imported is "
        "~300 MB).  Rows marked * are from the previous run of the same seeded matrix.  "
        "Threads: torch / BLAS pools of the method's process (threadpoolctl); '?' where the run "
        "predates that record (those ran numpy's OpenBLAS at its default, 2 threads here).  "
        "Randomized methods: the same power iterations (scikit-learn's 'auto' rule, which "
        "TrajectoryPCA's n_iter='auto' follows) and 10 oversamples; landscope_krylov: randomized "
        "block Krylov, 4 blocks of 30 vectors (n_iter='auto'), 5 passes.",
        "",
        "| method | seconds | threads | x sklearn (same kind) | x one read+Gram pass | "
        "peak memory (MB) | max rel. variance error | min abs(overlap) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in lg["methods"].items():
        star = "*" if r.get("from_previous_run") else ""
        threads = f"{r.get('torch_threads', '?')} / {r.get('blas_threads', '?')}"
        lines.append(
            f"| {name}{star} | {r['seconds']:.2f} | {threads} | "
            f"{r.get('time_vs_sklearn', float('nan')):.2f} | "
            f"{r.get('time_vs_unit', float('nan')):.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r.get('max_rel_variance_error', float('nan')):.2g} | "
            f"{r.get('min_component_overlap', float('nan')):.6f} |"
        )
    md = result["medium"]
    lines += [
        "",
        f"## {md['T']} x {md['P']:,} in memory (float64), interleaved, {md['repeats']} repeats",
        "",
        *(
            [
                "(From the previous run of this benchmark"
                + (
                    f": {md['machine']['torch_threads']} torch threads, load "
                    f"{md['machine']['loadavg_1_5_15min'][0]:.2f} at its end.)"
                    if "machine" in md
                    else ": 2 torch threads, load 7-9.)"
                ),
                "",
            ]
            if md.get("from_previous_run")
            else []
        ),
        "Unit: the same PCA in plain torch with the matrix in memory (Xc Xc^T, "
        "torch.linalg.eigh, components Xc^T u / sqrt(lambda)); torch.linalg.svd of Xc beside it.",
        "",
        "| method | min ms | median ms | x plain-torch Gram PCA (min / median) | x sklearn same kind "
        "(min / median) | max rel. variance error | min abs(overlap) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in md["methods"].items():
        vs = r.get("vs_sklearn")
        lines.append(
            f"| {name} | {r['min_ms']:.1f} | {r['median_ms']:.1f} | {r['vs_unit']['min']:.2f} / "
            f"{r['vs_unit']['median']:.2f} | "
            + (f"{vs['min']:.2f} / {vs['median']:.2f}" if vs else "-")
            + f" | {r.get('max_rel_variance_error', float('nan')):.2g} | "
            f"{r.get('min_component_overlap', float('nan')):.6f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, method, path, T, P, out = sys.argv
        _worker(method, path, int(T), int(P), out)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--only",
        default=",".join(METHODS),
        help="large case: run these methods, take the others from the existing results file",
    )
    parser.add_argument(
        "--keep-medium", action="store_true", help="take the medium case from the results file"
    )
    args = parser.parse_args()
    limit_threads(args.threads)
    os.environ["BENCH_THREADS"] = str(args.threads)
    before = machine()
    RESULTS.mkdir(exist_ok=True)
    stem = "pca_quick" if args.quick else "pca"
    file = RESULTS / f"{stem}.json"
    old = json.loads(file.read_text()) if file.exists() else {}
    only = tuple(m for m in args.only.split(",") if m)
    unknown = sorted(set(only) - set(METHODS))
    if unknown:
        parser.error(f"--only: unknown methods {unknown}; methods are {list(METHODS)}")
    T, P = (400, 20_000) if args.quick else (2000, 100_000)
    large = large_case(T, P, only, old.get("large") if set(only) != set(METHODS) else None)
    partial = {**old, "machine_before": before, "large": large, "quick": args.quick}
    file.write_text(json.dumps(partial, indent=1))  # the long part, kept
    if args.keep_medium and "medium" in old:
        medium = {**old["medium"], "from_previous_run": True}
    else:
        medium = medium_case(200, 5_000, 3) if args.quick else medium_case(500, 20_000, 5)
    result = {
        "machine_before": before,
        "large": large,
        "medium": medium,
        "machine_after": machine(),
        "quick": args.quick,
    }
    file.write_text(json.dumps(result, indent=1))
    (RESULTS / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
