"""What every benchmark shares: the plain-torch unit, interleaved timing, min / median, machine load.

Ratios in these benchmarks are "time of ours / time of a plain-torch unit", with the unit timed in
the same interleaved (round-robin) loop as what it divides, so that load from other processes and
allocator or cache effects of the neighbours hit both alike.  The unit is never a landscope code
path: it is a plain ``torch.autograd.grad`` of the model's loss on the same data (or a plain
forward pass, or a matmul, where that is the natural unit).  Why: ``Problem.loss_and_gradient``
measured 2.8-4.3x slower (median) when interleaved with block Hessian products, while a plain
gradient did not, so dividing by our own gradient made the ratios move (issue 11, item 10).

Each timed call follows an untimed call of the same function (``settle``): otherwise whatever
ran just before (a block product's allocations, a solve that evicted the caches) lands on the
first call, and the unit, being cheap, suffers most.  Both the minimum and the median of the
repeats are reported.  The minimum is the best estimate of
the cost on an idle machine (noise only adds time); the median shows what a loaded machine gives.
A ratio of minima and a ratio of medians that disagree say that the load was uneven.

Every results file records the machine load (``os.getloadavg()`` before and after, threads, CPU
count): on the shared 2-core development machine other jobs often run, and a load above the
number of cores means the figures are upper bounds.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn


def plain_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Callable = nn.functional.cross_entropy
) -> Callable[[], object]:
    """The unit: one full-batch gradient with plain torch, ``torch.autograd.grad`` of
    ``loss(model(x), y)`` with respect to the module's parameters (no landscope code)."""
    params = [p for p in model.parameters() if p.requires_grad]

    def run():
        return torch.autograd.grad(loss(model(x), y), params)

    return run


def interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    sync: Callable[[], None] = lambda: None,
    warmup: int = 1,
    settle: bool = True,
) -> dict[str, list[float]]:
    """Seconds of each function over ``repeats`` round-robin rounds (after ``warmup`` rounds):
    in every round each function runs once, timed, in the given order.

    With ``settle`` each timed call follows an untimed call of the same function, so that what
    ran before it (a large block product's allocations, evicted caches) does not land on its
    time: a cheap gradient right after a multi-second eigensolve measured 20x its steady cost.
    Every function is then measured in its steady state, and load from other processes still
    hits all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if settle:
                fn()
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


def summary(seconds: list[float], per: float = 1.0) -> dict[str, float]:
    """``{"min_ms", "median_ms"}`` of a list of seconds, divided by ``per`` (e.g. vectors)."""
    return {
        "min_ms": 1e3 * min(seconds) / per,
        "median_ms": 1e3 * statistics.median(seconds) / per,
    }


def ratio(ours: dict[str, float], unit: dict[str, float]) -> dict[str, float]:
    """``{"min", "median"}``: ratio of minima and ratio of medians of two :func:`summary` dicts."""
    return {
        "min": ours["min_ms"] / unit["min_ms"],
        "median": ours["median_ms"] / unit["median_ms"],
    }


def machine() -> dict:
    """Where and under which load a benchmark runs (call at the start and at the end)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "loadavg_1_5_15min": [round(v, 2) for v in load],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor()}".strip(),
    }


def load_note(before: dict, after: dict) -> str:
    """One line for the Markdown results: the load seen, and whether it exceeded the cores."""
    lb, la = before["loadavg_1_5_15min"][0], after["loadavg_1_5_15min"][0]
    cores = before["cpu_count"] or 1
    busy = max(lb, la) > cores
    return (
        f"Machine load (1-min average) {lb:.2f} at the start, {la:.2f} at the end, on "
        f"{cores} CPUs with {before['torch_threads']} torch threads"
        + (
            " -- more runnable jobs than cores: treat the times as upper bounds; the ratios "
            "of minima are the better estimate."
            if busy
            else "."
        )
    )


#: The two small nets of the recording benchmarks (the Fjellstrom Iris net and the Gur-Ari FC net
#: on digits), as run-config pieces; each benchmark sets its own ``training.steps``.
RECORDING_NETS: dict[str, dict] = {
    "iris 4-24-14-3": {
        "data": {"name": "iris", "options": {"test_fraction": 0.2}},
        "model": {"name": "mlp", "options": {"widths": [24, 14]}},
        "training": {"batch_size": 20},
        "optimizer": {"name": "sgd", "lr": 0.01},
    },
    "digits 64-100-100-10": {
        "data": {"name": "digits"},
        "model": {"name": "mlp", "options": {"widths": [100, 100]}},
        "training": {"batch_size": 64},
        "optimizer": {"name": "sgd", "lr": 0.1},
    },
}


def recording_cases(steps: dict[str, int], **training) -> dict[str, dict]:
    """Copies of :data:`RECORDING_NETS` with ``training.steps`` from ``steps`` (by case name)
    and any other ``training`` fields."""
    import copy

    cases = copy.deepcopy(RECORDING_NETS)
    for name, case in cases.items():
        case["training"].update(steps=steps[name], **training)
    return cases
