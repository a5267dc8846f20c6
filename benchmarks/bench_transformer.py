"""Top-10 Hessian eigenpairs of a tiny GPT-2: landscope against hessian-eigenthings and curvlinops.

Issue 16, item 5.  The model is ``transformers.GPT2LMHeadModel`` built from a ``GPT2Config``
(2 layers, embedding 16, 2 heads, 32 tokens, 16 positions: p = 7,360, the issue's model; random
weights from a seeded generator, nothing downloaded), on 64 sequences of 16 tokens of the
offline ``markov_sequences`` chain (32 tokens, order 2), loss: next-token cross-entropy over every
position, averaged over tokens (the Hugging Face ``labels = input_ids`` convention), full batch,
float32, 2 threads.  Every method runs in the same process on the same model and data; we report
wall time, Hessian-vector products and the largest relative error of the top 10 eigenvalues
against a float64 reference (two independent float64 matrix-free solves at machine precision:
landscope's Lanczos at tol 1e-12 and SciPy ``eigsh`` with tol 0 on the float64 operator, which
must agree to 1e-9).

The model is taken as it comes: landscope gets the Hugging Face model and a dict batch
(``{"input_ids": ...}``) and reads ``.logits`` itself; the peers get a loss function written for
them.  curvlinops' Hessian products (torch.func.jvp of torch.func.grad) inherit a torch.func
error in the second derivatives of ``F.layer_norm`` (torch 2.13): its eigenvalues are off by
about 1%; the row with the model's LayerNorms written out in tensor operations shows the cause.
Each peer is first run as a user would (the model's default ``"sdpa"`` attention, fused
kernels): on CPU the double backward fails there (recorded); then inside
``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)``, which the benchmark sets for them (landscope
chooses it itself, and says so in ``backend_reason``).

Run:  python benchmarks/bench_transformer.py [--quick] [--threads 2]
Writes benchmarks/results/transformer.json and transformer.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _common import load_note, machine
from bench_hessian_eigs import Counter, K, rel_error, timed, version
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from landscope import Problem
from landscope.curvature import HessianOperator, top_eigenpairs
from landscope.data import load_dataset

RESULTS = Path(__file__).parent / "results"
VOCAB, CONTEXT, EMBED, LAYERS, HEADS = 32, 16, 16, 2, 2


def gpt2() -> nn.Module:
    import transformers

    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=CONTEXT,
        n_embd=EMBED,
        n_layer=LAYERS,
        n_head=HEADS,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # GPT-2's initialization (normal, std 0.02), from a seeded generator
        for name, p in model.named_parameters():
            if name.endswith(".weight") and p.ndim == 2:
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    return model


def tokens(num: int) -> torch.Tensor:
    ds = load_dataset(
        "markov_sequences",
        seed=0,
        test_fraction=0.2,
        vocab=VOCAB,
        order=2,
        branching=4,
        length=CONTEXT,
        num_sequences=int(num / 0.8),
    )
    return ds.train.x[:num]


def lm_loss(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy, mean over all positions (written for the peers)."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))


class Logits(nn.Module):
    """ids -> logits, the plain-tensor model the peers take (same parameters, same names)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, use_cache=False).logits


# --- methods ---------------------------------------------------------------------------------
def landscope_method(problem: Problem, theta: torch.Tensor, **kwargs) -> Callable[[], dict]:
    def run() -> dict:
        op = HessianOperator(problem, theta)  # inside the timing: graph included
        res = top_eigenpairs(op, K, **kwargs)
        return {
            "eigenvalues": res.eigenvalues.tolist(),
            "hvps": res.num_matvecs,
            "converged": int(res.converged.sum()),
            "backend_reason": op.backend_reason,
        }

    return run


def landscope_scipy(problem: Problem, theta: torch.Tensor, tol: float) -> Callable[[], dict]:
    import scipy.sparse.linalg as sla

    def run() -> dict:
        op = HessianOperator(problem, theta)
        v0 = np.random.default_rng(0).standard_normal(op.shape[0])
        vals = sla.eigsh(op.to_scipy(), K, which="LA", tol=tol, v0=v0)[0]
        return {"eigenvalues": sorted(vals.tolist(), reverse=True), "hvps": op.num_matvecs}

    return run


def eigenthings_method(model: nn.Module, ids: torch.Tensor, math: bool, **kw) -> Callable:
    import hessian_eigenthings as he

    def run() -> dict:
        m = Logits(copy.deepcopy(model))
        op = he.HessianOperator(m, [ids], lambda mod, batch: lm_loss(mod(batch), batch))
        counter = Counter()
        op.matvec = counter.wrap(op.matvec)
        ctx = sdpa_kernel(SDPBackend.MATH) if math else contextlib.nullcontext()
        with ctx:
            res = he.lanczos(op, k=K, which="LA", seed=0, **kw)
        return {"eigenvalues": res.eigenvalues.tolist(), "hvps": counter.n}

    return run


class ShiftedLogits(nn.Module):
    """ids -> the logits that predict tokens 1..T-1, flattened to (N (T-1), V): the
    (output, target) form curvlinops' ``nn.CrossEntropyLoss`` takes."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        logits = self.model(input_ids=ids, use_cache=False).logits
        return logits[:, :-1].reshape(-1, VOCAB)


class WrittenLayerNorm(nn.Module):
    """nn.LayerNorm in plain tensor operations (same parameters): torch.func's derivatives of
    F.layer_norm are wrong in their mixed input/weight second-order terms (torch 2.13;
    tests/test_transformers.py shows it against finite differences), and curvlinops' Hessian
    products are torch.func.jvp of torch.func.grad."""

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        self.eps, self.weight, self.bias = ln.eps, ln.weight, ln.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)
        var = (x - mu).square().mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias


def written_out(model: nn.Module) -> nn.Module:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.LayerNorm):
                setattr(parent, name, WrittenLayerNorm(child))
    return model


def curvlinops_method(
    model: nn.Module, ids: torch.Tensor, math: bool, unfused_norm: bool = False
) -> Callable[[], dict]:
    import scipy.sparse.linalg as sla
    from curvlinops import HessianLinearOperator

    def run() -> dict:
        inner = copy.deepcopy(model)
        m = ShiftedLogits(written_out(inner) if unfused_norm else inner)
        params = [p for p in m.parameters() if p.requires_grad]
        targets = ids[:, 1:].reshape(-1)
        ctx = sdpa_kernel(SDPBackend.MATH) if math else contextlib.nullcontext()
        with ctx:
            H = HessianLinearOperator(
                m, nn.CrossEntropyLoss(), params, [(ids, targets)], check_deterministic=False
            )
            counter = Counter()
            H._matmat = counter.wrap(H._matmat, columns=lambda M: M[0].shape[-1])
            v0 = np.random.default_rng(0).standard_normal(H.shape[0])
            vals = sla.eigsh(H.to_scipy(), K, which="LA", v0=v0)[0]
        return {"eigenvalues": sorted(vals.tolist(), reverse=True), "hvps": counter.n}

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, no eigsh reference")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (full mode)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    before = machine()
    repeats = 1 if args.quick else args.repeats
    model = gpt2()
    ids = tokens(64)
    data = {"input_ids": ids}
    problem = Problem(model, "next_token_cross_entropy", data, chunk_size=None)
    theta = problem.theta_from_model()
    p = problem.num_params
    params = [q for q in model.parameters() if q.requires_grad]

    def unit():  # plain torch: one full-batch gradient of the same loss
        return torch.autograd.grad(
            lm_loss(model(input_ids=ids, use_cache=False).logits, ids), params
        )

    print(f"p = {p}, N = {ids.shape[0]} sequences of {CONTEXT}, threads {args.threads}", flush=True)
    assert abs(float(problem.loss(theta)) - float(lm_loss(Logits(model)(ids), ids))) < 1e-5

    # --- float64 reference ---------------------------------------------------------------------
    problem64 = Problem(
        model, "next_token_cross_entropy", data, chunk_size=None, dtype=torch.float64
    )
    theta64 = problem64.theta_from_model()
    t0 = time.perf_counter()
    ref_res = top_eigenpairs(
        HessianOperator(problem64, theta64), K + 2, tol=1e-12, block_size=K + 2
    )
    ref = ref_res.eigenvalues[:K].double()
    reference = {
        "method": "landscope top_eigenpairs, float64, tol 1e-12, block 12",
        "eigenvalues": ref.tolist(),
        "max_rel_residual": float(ref_res.relative_residuals.max()),
        "seconds": time.perf_counter() - t0,
    }
    if not args.quick:
        import scipy.sparse.linalg as sla

        op64 = HessianOperator(problem64, theta64)
        v0 = np.random.default_rng(1).standard_normal(p)
        ev = np.sort(sla.eigsh(op64.to_scipy(), K, which="LA", tol=0, v0=v0)[0])[::-1]
        reference["eigsh_float64_max_rel_diff"] = rel_error(ev, ref)
        assert reference["eigsh_float64_max_rel_diff"] < 1e-9, reference
    print("reference", [f"{v:.6g}" for v in ref.tolist()], flush=True)

    methods: dict[str, Callable[[], dict]] = {
        "landscope (tol 1e-6)": landscope_method(problem, theta, tol=1e-6),
        "landscope (tol 1e-4)": landscope_method(problem, theta, tol=1e-4),
        "landscope block 10 (tol 1e-6)": landscope_method(problem, theta, tol=1e-6, block_size=K),
        "landscope operator + scipy eigsh (tol 1e-6)": landscope_scipy(problem, theta, 1e-6),
    }
    peers = {
        "hessian-eigenthings": version("hessian-eigenthings"),
        "curvlinops-for-pytorch": version("curvlinops-for-pytorch"),
        "transformers": version("transformers"),
    }
    failures = {}
    if peers["hessian-eigenthings"]:
        for math in (False, True):
            tag = ", math kernel set by the caller" if math else ", as it comes"
            methods[f"hessian-eigenthings (default: 20 steps){tag}"] = eigenthings_method(
                model, ids, math
            )
        methods[
            "hessian-eigenthings (60 reorthogonalized steps), math kernel set by the caller"
        ] = eigenthings_method(model, ids, True, max_iter=60, reorthogonalize=True)
    if peers["curvlinops-for-pytorch"]:
        for math in (False, True):
            tag = ", math kernel set by the caller" if math else ", as it comes"
            methods[f"curvlinops + scipy eigsh{tag}"] = curvlinops_method(model, ids, math)
        methods["curvlinops + scipy eigsh, math kernel, LayerNorm written out by the caller"] = (
            curvlinops_method(model, ids, True, unfused_norm=True)
        )

    rows = []
    for name, fn in methods.items():
        try:
            out = timed(fn, repeats, unit)
        except Exception as exc:  # a peer that cannot run here: recorded, not hidden
            failures[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            print(f"{name:70s} FAILED {failures[name]}", flush=True)
            continue
        out["rel_error"] = rel_error(out["eigenvalues"], ref)
        out["method"] = name
        rows.append(out)
        print(
            f"{name:70s} {out['seconds']:7.3f} s {out['hvps']:5d} HVPs error {out['rel_error']:.1e}",
            flush=True,
        )

    after = machine()
    result = {
        "setting": {
            "model": f"transformers.GPT2LMHeadModel(GPT2Config(vocab {VOCAB}, positions {CONTEXT}, "
            f"embd {EMBED}, layers {LAYERS}, heads {HEADS})), random weights (seed 0)",
            "p": p,
            "data": f"{ids.shape[0]} markov_sequences of {CONTEXT} tokens (vocab {VOCAB}, order 2)",
            "loss": "next-token cross-entropy, mean over tokens, full batch",
            "dtype": "float32",
            "threads": args.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "peers": peers,
        "reference": reference,
        "rows": rows,
        "failures": failures,
        "machine_before": before,
        "machine_after": after,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "transformer.json").write_text(json.dumps(result, indent=1))
    lines = [
        "# Top-10 Hessian eigenpairs of a tiny GPT-2 (benchmarks/bench_transformer.py)",
        "",
        f"{result['setting']['model']}, p = {p}; {result['setting']['data']}; "
        f"{result['setting']['loss']}; float32, {args.threads} threads, torch {torch.__version__}, "
        f"transformers {peers['transformers']}.  {load_note(before, after)}",
        "",
        "Error: largest relative error of the top-10 eigenvalues against the float64 reference "
        f"({reference['method']}"
        + (
            f"; SciPy eigsh float64 agrees to {reference['eigsh_float64_max_rel_diff']:.1e}"
            if "eigsh_float64_max_rel_diff" in reference
            else ""
        )
        + ").  Seconds: median of the repeats (min in parentheses); x grad: ratio of minima / "
        "of medians to one plain-torch full-batch gradient timed in the same loop.",
        "",
        "| method | seconds | x grad | Hessian-vector products | rel. error |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        g = r["in_gradients"]
        lines.append(
            f"| {r['method']} | {r['seconds']:.3f} ({r['seconds_min']:.3f}) | "
            f"{g['min']:.0f} / {g['median']:.0f} | {r['hvps']} | {r['rel_error']:.1e} |"
        )
    for name, why in failures.items():
        lines.append(f"| {name} | fails: {why} | | | |")
    reason = next((r.get("backend_reason") for r in rows if r.get("backend_reason")), None)
    lines += ["", f"landscope's backend_reason: {reason}", ""]
    (args.out / "transformer.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
