"""Micro-benchmark of the trajectory store: append rate, flush cost, recording overhead.

For the two nets of the issue's recording benchmark, the Iris net 4-24-14-3 (p = 515) and the
digits net 64-100-100-10 (p = 17,610), float32:

1. appends/s of one parameter row (a CPU torch tensor and a numpy array);
2. cost of one flush of a full 256-row chunk (written in the calling thread, and the time the
   caller waits when the background thread writes it);
3. a plain SGD loop on random data (batch 20 / 64) with and without recording what the training
   loop records every step (params, updates, batch indices, batch loss, lr), flushing every
   256 steps: steps/s and overhead;
4. the choice of compression: ratio and speed of Blosc (lz4 / zstd, byte shuffle) on a real
   256-row params chunk of that loop, against the time it saves writing;
5. the writer's direct chunk write against zarr's ``__setitem__`` for the same chunk.

Run:  python benchmarks/bench_store_append.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from landscope.runs import TrajectoryWriter

NETS = {"iris 4-24-14-3": ([4, 24, 14, 3], 20), "digits 64-100-100-10": ([64, 100, 100, 10], 64)}
CHUNK = 256


def _mlp(widths: list[int]) -> nn.Module:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def _timeit(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_append(p: int, tmp: Path, n: int) -> dict:
    """Cost of one append (copy into the chunk buffer; no chunk is full, so nothing is written),
    and the sustained rate with 256-row chunks written as they fill (then bound by the disk)."""
    rows = torch.randn(n, p)
    rows_np = rows.numpy()
    out = {}
    for kind, source in (("torch", rows), ("numpy", rows_np)):
        for label, chunk_rows in (("buffer only", n + 1), ("sustained", CHUNK)):
            folder = tmp / f"append-{kind}-{p}"
            with TrajectoryWriter.create(folder, meta={}) as w:
                w.add_series("params", shape=(p,), dtype="float32", chunk_rows=chunk_rows)
                w.append("params", 0, source[0])  # warm-up
                t0 = time.perf_counter()
                for t in range(1, n):
                    w.append("params", t, source[t])
                if label == "sustained":
                    w.sync()
                dt = time.perf_counter() - t0
            out[f"us_per_append_{kind} ({label})"] = 1e6 * dt / (n - 1)
            if label == "sustained":
                out[f"MiB_per_s_{kind} ({label})"] = (n - 1) * 4 * p / dt / 2**20
            shutil.rmtree(folder)
    return out


def bench_flush(p: int, tmp: Path, repeats: int) -> dict:
    row = torch.randn(p)
    out = {}
    for background in (False, True):
        folder = tmp / f"flush-{background}-{p}"
        w = TrajectoryWriter.create(folder, meta={}, background=background)
        w.add_series("params", shape=(p,), dtype="float32", chunk_rows=CHUNK)
        step = 0
        waits = []
        for _ in range(repeats):
            for _ in range(CHUNK - 1):  # the last append of the chunk would hand it off itself
                w.append("params", step, row)
                step += 1
            t0 = time.perf_counter()
            w.append("params", step, row)
            step += 1
            w.flush()
            waits.append(time.perf_counter() - t0)
            w.sync()
        w.close()
        shutil.rmtree(folder)
        out["flush_ms_" + ("background_caller_wait" if background else "inline")] = (
            1e3 * statistics.median(waits)
        )
    return out


def bench_loop(
    widths: list[int], batch: int, tmp: Path, steps: int, repeats: int
) -> tuple[dict, np.ndarray]:
    torch.manual_seed(0)  # benchmark script, not library code
    model = _mlp(widths)
    params = list(model.parameters())
    p = sum(q.numel() for q in params)
    x = torch.randn(4096, widths[0])
    y = torch.randint(0, widths[-1], (4096,))
    batches = [torch.randint(0, 4096, (batch,)) for _ in range(steps)]
    last_chunk: list[np.ndarray] = []

    def run(record: bool) -> tuple[float, float]:
        """Seconds of (setting up the writer, the training loop + the final close)."""
        folder = tmp / "loop"
        if folder.exists():
            shutil.rmtree(folder)
        w = None
        t_setup = time.perf_counter()
        if record:
            w = TrajectoryWriter.create(folder, meta={})
            w.add_series("params", shape=(p,), dtype="float32", chunk_rows=CHUNK)
            w.add_series("updates", shape=(p,), dtype="float32", chunk_rows=CHUNK)
            w.add_series("batch_indices", shape=(batch,), dtype="int64", chunk_rows=CHUNK)
            w.add_series("batch_loss", shape=(), dtype="float64", chunk_rows=CHUNK)
            w.add_series("lr", shape=(), dtype="float64", chunk_rows=CHUNK)
        t0 = time.perf_counter()
        theta = torch.cat([q.detach().reshape(-1) for q in params])
        for t, idx in enumerate(batches):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                update = -0.05 * torch.cat([g.reshape(-1) for g in grads])
                if w is not None:
                    w.append("params", t, theta)
                    w.append("batch_indices", t, idx)
                    w.append("batch_loss", t, loss)
                    w.append("lr", t, 0.05)
                    w.append("updates", t, update)
                theta = theta + update
                torch.nn.utils.vector_to_parameters(theta, params)
                if w is not None and (t + 1) % CHUNK == 0:
                    w.flush()
        if w is not None:
            w.close()  # waits for the last writes
        t1 = time.perf_counter()
        if w is not None and not last_chunk:
            from landscope.runs import open_run

            last_chunk.append(open_run(folder).read("params", start=0, stop=CHUNK))
        return t0 - t_setup, t1 - t0

    run(False)  # warm-up
    plain, recorded, setup = [], [], []
    for _ in range(repeats):  # interleaved so machine noise hits both alike
        plain.append(run(False)[1])
        s_, r_ = run(True)
        setup.append(s_)
        recorded.append(r_)
    # On a shared machine the median carries other processes' noise; the minimum is the
    # cost of the code itself.  Both are reported.
    med_a, med_b = statistics.median(plain), statistics.median(recorded)
    min_a, min_b = min(plain), min(recorded)
    result = {
        "p": p,
        "steps": steps,
        "ms_per_step_without": 1e3 * min_a / steps,
        "ms_per_step_recording": 1e3 * min_b / steps,
        "overhead_percent_min": 100 * (min_b / min_a - 1),
        "overhead_percent_median": 100 * (med_b / med_a - 1),
        "setup_ms": 1e3 * statistics.median(setup),
    }
    return result, last_chunk[0]


def bench_compression(chunk: np.ndarray, tmp: Path, repeats: int) -> list[dict]:
    import numcodecs

    raw = np.ascontiguousarray(chunk)
    file = tmp / "chunk.bin"

    def write(data) -> None:
        with open(file, "wb") as f:
            f.write(data)

    write_s = _timeit(lambda: write(raw), repeats)
    rows = [{"codec": "none", "ratio": 1.0, "encode_ms": 0.0, "write_ms": 1e3 * write_s}]
    for cname in ("lz4", "zstd"):
        codec = numcodecs.Blosc(
            cname=cname, clevel=1 if cname == "zstd" else 5, shuffle=numcodecs.Blosc.SHUFFLE
        )
        encoded = codec.encode(raw)
        enc_s = _timeit(lambda codec=codec: codec.encode(raw), repeats)
        w_s = _timeit(lambda encoded=encoded: write(encoded), repeats)
        rows.append(
            {
                "codec": f"blosc-{cname}",
                "ratio": raw.nbytes / len(encoded),
                "encode_ms": 1e3 * enc_s,
                "write_ms": 1e3 * w_s,
            }
        )
    return rows


def bench_zarr_setitem(chunk: np.ndarray, tmp: Path, repeats: int) -> dict:
    import zarr

    from landscope.runs import _format as fmt

    folder = tmp / "zarr-setitem"
    kw = {"zarr_format": 2} if int(zarr.__version__.split(".")[0]) >= 3 else {}
    arr = zarr.create(
        (CHUNK, chunk.shape[1]),
        chunks=chunk.shape,
        dtype=chunk.dtype,
        compressor=None,
        store=str(folder),
        overwrite=True,
        **kw,
    )

    def setitem() -> None:
        arr[:] = chunk

    def direct() -> None:
        fmt.write_atomic(folder / "0.0", chunk)

    return {
        "zarr_setitem_ms": 1e3 * _timeit(setitem, repeats),
        "direct_atomic_write_ms": 1e3 * _timeit(direct, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    args = parser.parse_args()
    torch.set_num_threads(2)
    repeats = 3 if args.quick else 7
    steps = 768 if args.quick else 2048
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        for name, (widths, batch) in NETS.items():
            loop, chunk = bench_loop(widths, batch, tmp, steps, repeats)
            p = loop["p"]
            print(f"== {name}: p = {p}, one row = {4 * p / 1024:.1f} KiB (float32)")
            for k, v in bench_append(p, tmp, 8 * CHUNK).items():
                print(f"  {k}: {v:,.2f}")
            for k, v in bench_flush(p, tmp, repeats).items():
                print(f"  {k} (256 rows, {CHUNK * 4 * p / 2**20:.2f} MiB): {v:.2f}")
            print(
                f"  SGD loop, batch {batch}, recording params+updates+batch+loss+lr every step, "
                f"flush every {CHUNK}: {loop['ms_per_step_without']:.3f} ms/step without, "
                f"{loop['ms_per_step_recording']:.3f} ms/step with (fastest of {repeats}); overhead "
                f"{loop['overhead_percent_min']:.1f}% (fastest), {loop['overhead_percent_median']:.1f}% (median); "
                f"creating the writer and its 5 series: {loop['setup_ms']:.1f} ms once"
            )
            for row in bench_compression(chunk, tmp, repeats):
                print(
                    f"  {row['codec']:>11}: ratio {row['ratio']:.3f}, encode {row['encode_ms']:.2f} ms, write {row['write_ms']:.2f} ms"
                )
            for k, v in bench_zarr_setitem(chunk, tmp, repeats).items():
                print(f"  {k}: {v:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
