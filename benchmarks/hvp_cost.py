"""Cost of a Hessian-vector product against one gradient (issue "Curvature engine", item 1).

Setup (the issue's): the digits 64-100-100-10 ReLU MLP on the full set (1,797 samples, one
chunk), cross-entropy, CPU with 2 threads (``--threads``), float32 and float64.  Targets: one
Hessian-vector product <= 2x one gradient; <= 1x one gradient per vector in a block of 16.

The unit is a plain-torch gradient, ``torch.autograd.grad(cross_entropy(model(x), y), params)``
on the module itself, timed in the same interleaved (round-robin) loop as every variant (see
``_common.py``: landscope's own ``loss_and_gradient`` slowed 2.8-4.3x in that loop, a plain
gradient did not, so it is reported beside the unit, not used as one).  Reported, per dtype and
block size k: time per vector, min and median over the repeats, and the ratios to the unit
(ratio of minima, ratio of medians), for

- ``HessianOperator`` as shipped: the structured backend (the default for this MLP: the chain
  rule written out per layer, ``landscope.curvature._structured``) and the autograd backend
  with ``cache`` on/off (keep the double-backward graph between products) x ``block``
  loop/vmap (how a block of k vectors goes through the graph);
- the raw alternatives the operator was chosen among, on the same loss: forward-over-reverse
  ``vmap(jvp(grad(f)))``, reverse-over-reverse ``vmap(vjp(grad(f)))``, and double backward
  (loop / ``is_grads_batched``), all without a cached graph;
- landscope's ``Problem.loss_and_gradient`` (to show how it fares in the loop).

The machine load (``os.getloadavg()``) and the thread counts are recorded at the start and end.

Run:  python benchmarks/hvp_cost.py [--device cuda] [--threads 2] [--quick]
Writes benchmarks/results/hvp_cost.json (one entry per device/dtype/threads; reruns replace) and
hvp_cost.md (the CPU entries as tables).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
from _common import interleaved, load_note, machine, plain_gradient, ratio, summary
from torch import nn
from torch.func import grad, jvp, vjp, vmap

from landscope import Problem
from landscope.curvature import HessianOperator

RESULTS = Path(__file__).parent / "results"


def _digits(
    device: torch.device, dtype: torch.dtype, npz: Path | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    if npz is not None:  # a machine without scikit-learn: arrays saved from load_digits()
        import numpy as np

        arrays = np.load(npz)
        data, target = arrays["data"], arrays["target"]
    else:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        data, target = bunch.data, bunch.target
    x = torch.tensor(data / 16.0, dtype=dtype, device=device)
    y = torch.tensor(target, dtype=torch.long, device=device)
    return x, y


def _mlp(seed: int, device: torch.device, dtype: torch.dtype) -> nn.Module:
    torch.manual_seed(seed)  # a benchmark script, not library code
    model = nn.Sequential(
        nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10)
    )
    return model.to(device=device, dtype=dtype)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _raw_variants(problem: Problem, theta: torch.Tensor) -> dict:
    x, y = problem.data.x, problem.data.y
    f = problem.loss_function(x, y)

    def fwd_over_rev(V):
        g = grad(f)
        return vmap(lambda v: jvp(g, (theta,), (v,))[1])(V.T).T

    def rev_over_rev(V):
        _, fn = vjp(grad(f), theta)
        return vmap(lambda v: fn(v)[0])(V.T).T

    def double_backward_loop(V):
        t = theta.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(t), t, create_graph=True)
        return torch.stack([torch.autograd.grad(g, t, v, retain_graph=True)[0] for v in V.T], 1)

    def double_backward_batched(V):
        t = theta.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(f(t), t, create_graph=True)
        return torch.autograd.grad(g, t, V.T.contiguous(), is_grads_batched=True)[0].T

    # Forward-over-reverse with the linearization traced once (torch.func.linearize, make_fx):
    # the cached counterpart of fwd_over_rev.
    _, linear = torch.func.linearize(grad(f), theta)

    def fwd_over_rev_linearized(V):
        return vmap(linear)(V.T).T

    return {
        "raw fwd-over-rev linearize (cached) vmap": fwd_over_rev_linearized,
        "raw fwd-over-rev vmap": fwd_over_rev,
        "raw rev-over-rev vmap": rev_over_rev,
        "raw double-backward loop": double_backward_loop,
        "raw double-backward is_grads_batched": double_backward_batched,
    }


def bench(
    device: torch.device, dtype: torch.dtype, ks: list[int], repeats: int, npz: Path | None = None
) -> dict:
    x, y = _digits(device, dtype, npz)
    model = _mlp(0, device, dtype)
    problem = Problem(model, "cross_entropy", (x, y), chunk_size=None)
    theta = problem.theta_from_model()
    p = problem.num_params
    unit = plain_gradient(model, x, y)

    variants = {
        "plain torch gradient": lambda V: unit(),
        "landscope loss_and_gradient": lambda V: problem.loss_and_gradient(theta),
    }
    op = HessianOperator(problem, theta)
    assert op.backend == "structured", op.backend_reason
    variants["HessianOperator structured"] = op.matmat
    for cache in (True, False):
        for block in ("loop", "vmap"):
            op = HessianOperator(problem, theta, cache=cache, block=block, backend="autograd")
            variants[f"HessianOperator autograd cache={cache} block={block}"] = op.matmat
    variants.update(_raw_variants(problem, theta))
    not_products = ("plain torch gradient", "landscope loss_and_gradient")

    gen = torch.Generator().manual_seed(0)
    rows = {}
    for k in ks:
        V = torch.randn(p, k, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)
        fns = {name: (lambda fn=fn, V=V: fn(V)) for name, fn in variants.items()}
        fns["plain torch gradient"]()  # warm-up (and graph caches) before the reference
        ref = variants["HessianOperator autograd cache=False block=loop"](V)
        errors = {
            name: float((fn(V) - ref).norm() / ref.norm())
            for name, fn in variants.items()
            if name not in not_products
        }
        times = interleaved(fns, repeats, sync=lambda: _sync(device))
        grad = summary(times["plain torch gradient"])
        ours_grad = summary(times["landscope loss_and_gradient"])
        per_vector = {
            name: summary(ts, per=k) for name, ts in times.items() if name not in not_products
        }
        rows[k] = {
            "gradient_ms": grad,
            "landscope_gradient_ms": ours_grad,
            "landscope_gradient_over_gradient": ratio(ours_grad, grad),
            "per_vector_ms": per_vector,
            "per_vector_over_gradient": {name: ratio(t, grad) for name, t in per_vector.items()},
            "relative_difference_to_reference": errors,
        }
        print(
            f"{device.type} {str(dtype)[6:]} k={k:3d}: plain gradient {grad['min_ms']:.2f} ms "
            f"(median {grad['median_ms']:.2f}); landscope's gradient "
            f"{rows[k]['landscope_gradient_over_gradient']['min']:.2f}x / "
            f"{rows[k]['landscope_gradient_over_gradient']['median']:.2f}x",
            flush=True,
        )
        for name, r in rows[k]["per_vector_over_gradient"].items():
            print(
                f"    {name:45s} {r['min']:6.2f}x (min)  {r['median']:6.2f}x (median) per vector",
                flush=True,
            )
    return {"num_params": p, "num_samples": problem.num_samples, "by_block_size": rows}


def block_sweep(
    device: torch.device, dtype: torch.dtype, repeats: int, npz: Path | None = None
) -> dict:
    """Where vmap over a block beats a loop through the cached graph: per-vector ms (min and
    median) of the cached autograd HessianOperator for subsets of n samples and blocks of k
    vectors (k = 256: the dense path), loop and vmap interleaved."""
    x, y = _digits(device, dtype, npz)
    model = _mlp(0, device, dtype)
    out = {}
    gen = torch.Generator().manual_seed(0)
    for n in (64, 256, 1797):
        problem = Problem(model, "cross_entropy", (x[:n], y[:n]), chunk_size=None)
        theta = problem.theta_from_model()
        for k in (16, 256):
            V = torch.randn(problem.num_params, k, generator=gen, dtype=torch.float64)
            V = V.to(device=device, dtype=dtype)
            ops = {
                block: HessianOperator(problem, theta, cache=True, block=block, backend="autograd")
                for block in ("loop", "vmap")
            }
            times = interleaved(
                {b: (lambda o=o, V=V: o @ V) for b, o in ops.items()},
                repeats,
                lambda: _sync(device),
            )
            row = {b: summary(ts, per=k) for b, ts in times.items()}
            out[f"n={n} k={k}"] = row
            print(
                f"  sweep n={n:4d} k={k:3d}: "
                + "  ".join(f"{b} {v['min_ms']:.3f} ms/vector" for b, v in row.items()),
                flush=True,
            )
    return out


def markdown(entries: list[dict]) -> str:
    lines = [
        "# Cost of Hessian-vector products in plain-torch gradients (digits 64-100-100-10 MLP)",
        "",
        "Per vector, as a multiple of one full-batch gradient computed with plain torch "
        "(`torch.autograd.grad` of the module's loss), timed in the same interleaved loop; "
        "min / median over the repeats (ratio of minima / ratio of medians). "
        "Generated by `python benchmarks/hvp_cost.py`.",
        "",
    ]
    for e in entries:
        ks = list(e["by_block_size"])
        first = e["by_block_size"][ks[0]]
        lines += [
            f"## {e['device_name']}, {e['dtype']}, {e['threads']} threads",
            "",
            f"{e['repeats']} interleaved repeats. Plain gradient "
            + ", ".join(
                f"{e['by_block_size'][k]['gradient_ms']['min_ms']:.2f} ms (k={k} loop)" for k in ks
            )
            + ". "
            + e.get("load_note", ""),
            "",
            "| variant | " + " | ".join(f"k = {k}" for k in ks) + " |",
            "| --- | " + " | ".join("---:" for _ in ks) + " |",
        ]
        lines.append(
            "| landscope loss_and_gradient (whole, not per vector) | "
            + " | ".join(
                "{min:.2f}x / {median:.2f}x".format(
                    **e["by_block_size"][k]["landscope_gradient_over_gradient"]
                )
                for k in ks
            )
            + " |"
        )
        for name in first["per_vector_over_gradient"]:
            lines.append(
                f"| {name} | "
                + " | ".join(
                    "{min:.2f}x / {median:.2f}x".format(
                        **e["by_block_size"][k]["per_vector_over_gradient"][name]
                    )
                    for k in ks
                )
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, k in (1, 16)")
    parser.add_argument("--out", type=Path, default=RESULTS / "hvp_cost.json")
    parser.add_argument(
        "--digits-npz",
        type=Path,
        default=None,
        help="digits arrays (data, target) if scikit-learn is missing",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ks = [1, 16] if args.quick else [1, 4, 16, 64]
    repeats = 7 if args.quick else 21
    label = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()} cpu"
    )
    before = machine()
    entries, new = [], []
    if args.out.exists():
        # Entries measured against another unit (landscope's own gradient, before issue 11) are
        # not comparable: dropped.
        entries = [e for e in json.loads(args.out.read_text()).get("runs", []) if "unit" in e]
    for dtype in (torch.float32, torch.float64):
        result = bench(device, dtype, ks, repeats, args.digits_npz)
        if not args.quick:
            result["block_sweep_per_vector_ms"] = block_sweep(device, dtype, 5, args.digits_npz)
        entry = {
            "device": device.type,
            "device_name": label,
            "threads": args.threads,
            "dtype": str(dtype)[6:],
            "torch": torch.__version__,
            "setup": "digits 64-100-100-10 ReLU MLP, full set (1,797 samples) in one chunk, cross-entropy",
            "targets": {"k=1": "<= 2x gradient", "k=16": "<= 1x gradient per vector"},
            "unit": "plain torch.autograd.grad of cross_entropy(model(x), y) w.r.t. the "
            "module's parameters, timed in the same interleaved loop",
            "repeats": repeats,
            "quick": args.quick,
            **result,
        }
        entries = [
            e
            for e in entries
            if (e["device"], e["dtype"], e["threads"])
            != (entry["device"], entry["dtype"], entry["threads"])
        ]
        entries.append(entry)
        new.append(entry)
    after = machine()
    for e in new:
        e.update(machine_before=before, machine_after=after, load_note=load_note(before, after))
    print(load_note(before, after), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "hvp_cost", "runs": entries}, indent=1))
    args.out.with_suffix(".md").write_text(markdown(entries))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
