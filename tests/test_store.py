"""The trajectory store: exact round trips, chunk-wise reads, crash safety under kill -9,
truncate-and-resume, atomic files, clear errors.

Every comparison is exact (``np.array_equal``): the store copies bits, it computes nothing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from landscope.problem import ParameterLayout
from landscope.runs import Run, RunLockedError, TrajectoryWriter, open_run


def _rows(n: int, p: int, dtype: str, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, p)).astype(dtype)


def _write(
    path: Path, series: dict[str, tuple[np.ndarray, np.ndarray]], *, flush_at=(), **kw
) -> None:
    """Write ``{name: (steps, values)}`` row by row, all series interleaved."""
    with TrajectoryWriter.create(path, meta={"note": "test"}, **kw) as w:
        for name, (_, values) in series.items():
            w.add_series(name, shape=values.shape[1:], dtype=values.dtype, chunk_rows=7)
        n = max(len(s) for s, _ in series.values())
        for i in range(n):
            for name, (steps, values) in series.items():
                if i < len(steps):
                    w.append(name, steps[i], values[i])
            if i in flush_at:
                w.flush()


# --- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_is_exact(tmp_path, dtype, background):
    n, p = 40, 13
    x = _rows(n, p, dtype)
    steps = np.cumsum(np.random.default_rng(1).integers(1, 5, n)) - 1  # gaps, strictly increasing
    scalars = np.random.default_rng(2).standard_normal(n).astype(dtype)
    with TrajectoryWriter.create(tmp_path / "r", meta={"dtype": dtype}, background=background) as w:
        w.add_series("x", shape=(p,), dtype=dtype, chunk_rows=8, column_chunk=5)
        w.add_series("loss", shape=(), dtype=dtype, chunk_rows=6)
        w.add_series("m", shape=(2, 3), dtype="int64", chunk_rows=16)
        for i, t in enumerate(steps):
            # alternate the accepted input types: numpy row, CPU tensor, python float, 0-d tensor
            w.append("x", t, x[i] if i % 2 else torch.from_numpy(x[i]))
            w.append("loss", t, float(scalars[i]) if i % 2 else torch.tensor(scalars[i]))
            w.append("m", t, np.arange(6).reshape(2, 3) * i)
            if i in (3, 9, 10, 30):
                w.flush()
    run = open_run(tmp_path / "r")
    assert run.series() == ["x", "loss", "m"]
    assert run.meta == {"dtype": dtype}
    for name in ("x", "loss", "m"):
        assert run.steps(name).dtype == np.int64
        assert np.array_equal(run.steps(name), steps)
    assert run.read("x").dtype == np.dtype(dtype)
    assert np.array_equal(run.read("x"), x)
    assert run.read("loss").shape == (n,)
    assert np.array_equal(run.read("loss"), scalars)
    assert np.array_equal(
        run.read("m"), np.arange(6).reshape(1, 2, 3) * np.arange(n).reshape(-1, 1, 1)
    )


def test_torch_inputs_are_cast_like_torch(tmp_path):
    g = torch.Generator().manual_seed(0)
    a64 = torch.randn(5, 9, dtype=torch.float64, generator=g)
    b16 = torch.randn(5, 9, generator=g).to(torch.bfloat16)
    with TrajectoryWriter.create(tmp_path / "r", meta={}) as w:
        w.add_series("a", shape=(9,), dtype=torch.float32, chunk_rows=4)
        w.add_series("b", shape=(9,), dtype=torch.bfloat16, chunk_rows=4)  # stored as float32
        w.add_series("idx", shape=(3,), dtype=torch.int64, chunk_rows=4)
        for t in range(5):
            w.append("a", t, a64[t].requires_grad_(True))  # detached inside append
            w.append("b", t, b16[t])
            w.append("idx", t, torch.tensor([t, 2 * t, -1]))
    run = open_run(tmp_path / "r")
    assert np.array_equal(run.read("a"), a64.float().numpy())
    assert run.read("b").dtype == np.float32
    assert np.array_equal(run.read("b"), b16.float().numpy())  # bfloat16 -> float32 is exact
    assert np.array_equal(run.read("idx"), np.array([[t, 2 * t, -1] for t in range(5)]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensors_are_copied_to_the_cpu(tmp_path):
    x = torch.randn(10, 33, device="cuda")
    with TrajectoryWriter.create(tmp_path / "r", meta={}) as w:
        w.add_series("x", shape=(33,), dtype="float32", chunk_rows=4)
        for t in range(10):
            w.append("x", t, x[t])
    assert np.array_equal(open_run(tmp_path / "r").read("x"), x.cpu().numpy())


# --- reading selections -------------------------------------------------------------------------
def _layered_run(tmp_path: Path, n: int = 400, chunk_rows: int = 32, column_chunk: int = 32):
    model = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 8), nn.Linear(8, 3))
    layout = ParameterLayout.from_module(model)  # layers "0" (70), "2" (88), "3" (27): p = 185
    x = _rows(n, layout.num_params, "float32", seed=3)
    steps = 2 * np.arange(n)
    with TrajectoryWriter.create(tmp_path / "r", meta={"layout": layout.to_dicts()}) as w:
        w.add_series(
            "params",
            shape=(layout.num_params,),
            dtype="float32",
            chunk_rows=chunk_rows,
            column_chunk=column_chunk,
        )
        for i, t in enumerate(steps):
            w.append("params", t, x[i])
    return open_run(tmp_path / "r"), layout, x, steps


def test_read_selections_match_numpy_indexing(tmp_path):
    run, layout, x, _ = _layered_run(tmp_path, n=100, chunk_rows=16, column_chunk=50)
    assert run.layout == layout
    assert np.array_equal(run.read("params", start=20, stop=41), x[10:21])  # steps 20..40
    assert np.array_equal(run.read("params", start=21), x[11:])
    assert np.array_equal(run.read("params", stop=1), x[:1])
    assert run.read("params", start=50, stop=50).shape == (0, 185)
    assert np.array_equal(run.read("params", steps=[60, 2, 60, 198]), x[[30, 1, 30, 99]])
    assert np.array_equal(run.read("params", steps=slice(10, 50, 6)), x[5:25:3])  # steps 10, 16, ..
    # steps 0, 4, 8
    assert np.array_equal(run.read("params", steps=slice(None, 9, 4)), x[[0, 2, 4]])
    assert np.array_equal(run.read("params", columns=slice(40, 120)), x[:, 40:120])
    assert np.array_equal(run.read("params", columns=[5, 180, 60, -1]), x[:, [5, 180, 60, -1]])
    mask = np.arange(185) % 7 == 0
    assert np.array_equal(run.read("params", columns=mask), x[:, mask])
    assert np.array_equal(run.read("params", steps=[8, 4], columns=[3, 1]), x[[4, 2]][:, [3, 1]])
    for layer in layout.layers:
        ref = x[40:60, layout.layer_slice(layer)]
        assert np.array_equal(run.read("params", start=80, stop=120, layer=layer), ref)
    with pytest.raises(KeyError, match=r"no record at step\(s\) \[3\]"):
        run.read("params", steps=[2, 3])
    with pytest.raises(ValueError, match="either steps or start/stop"):
        run.read("params", steps=[2], start=0)
    with pytest.raises(ValueError, match="either columns or layer"):
        run.read("params", columns=[1], layer="0")
    with pytest.raises(KeyError, match="no layer 'fc9'"):
        run.read("params", layer="fc9")
    with pytest.raises(KeyError, match=r"no series 'theta'; series are \['params'\]"):
        run.read("theta")


class _OpenedFiles:
    """Record the files opened in this process (audit hook) while active."""

    paths: list[str] | None = None
    installed = False

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if (
            cls.paths is not None
            and event == "open"
            and isinstance(args[0], (str, bytes, os.PathLike))
        ):
            cls.paths.append(os.fsdecode(args[0]))

    def __enter__(self) -> list[str]:
        if not _OpenedFiles.installed:  # audit hooks cannot be removed: install one, gated
            sys.addaudithook(_OpenedFiles.hook)
            _OpenedFiles.installed = True
        _OpenedFiles.paths = []
        return _OpenedFiles.paths

    def __exit__(self, *exc) -> None:
        _OpenedFiles.paths = None


def test_reading_one_layer_over_a_step_range_reads_only_its_chunks(tmp_path):
    # 400 rows (steps 0, 2, ..., 798) of p = 185 in chunks of 32 rows x 32 columns: 13 x 6 = 78
    # value chunk files.  Steps 200..399 are rows 100..199 -> row chunks 3..6; layer "2" is
    # columns 70..157 -> column blocks 2..4.  Exactly those 4 x 3 = 12 files may be opened.
    run, _, x, _ = _layered_run(tmp_path)
    values_dir = tmp_path / "r" / "series" / "params" / "values"
    all_chunks = {f for f in os.listdir(values_dir) if not f.startswith(".")}
    assert len(all_chunks) == 13 * 6
    run.steps("params")  # the step index is read once per refresh; count only the value reads
    with _OpenedFiles() as opened:
        got = run.read("params", start=200, stop=400, layer="2")
    assert np.array_equal(got, x[100:200, 70:158])
    # chunk files are named "<row chunk>.<column block>"; metadata files (.zarray, ...) are not
    chunk_reads = [
        Path(f).name
        for f in opened
        if Path(f).parent == values_dir and re.fullmatch(r"\d+\.\d+", Path(f).name)
    ]
    expected = {f"{i}.{j}" for i in range(3, 7) for j in range(2, 5)}
    assert set(chunk_reads) == expected
    assert len(chunk_reads) == len(expected)  # each needed chunk read once
    # the control: reading everything does open every chunk (the counter sees chunk reads)
    with _OpenedFiles() as opened:
        run.read("params")
    assert {Path(f).name for f in opened if Path(f).parent == values_dir} >= all_chunks


# --- crash safety -------------------------------------------------------------------------------
_CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import torch
    from landscope.runs import TrajectoryWriter

    path, background = sys.argv[1], sys.argv[2] == "1"
    p = 20000
    base = np.sin(np.arange(p))

    def row(t):
        return base * (t + 1)

    if os.path.exists(path):  # resume after the previous kill: go back to a common length
        w = TrajectoryWriter.open_for_resume(path, background=background)
        t = min(w.rows("x"), w.rows("s"))
        w.truncate_after(3 * t - 2)
    else:
        w = TrajectoryWriter.create(path, meta={"p": p}, background=background)
        t = 0
    # 3 rows per flush into 16-row chunks: flushes rewrite partly filled chunks that already
    # hold committed rows (1 MB files, so a kill often lands inside such a rewrite);
    # 3 column blocks of 8192 (the last one padded)
    w.add_series("x", shape=(p,), dtype="float64", chunk_rows=16, column_chunk=8192)
    w.add_series("s", shape=(), dtype="float32", chunk_rows=5)
    while True:
        w.append("x", 3 * t + 1, row(t))
        w.append("s", 3 * t + 1, np.float32(t) / 7)
        t += 1
        if t % 3 == 0:
            w.flush()
            w.save_checkpoint({"rows": t, "theta": torch.from_numpy(row(t - 1))}, step=3 * t)
        if t % 30 == 0:
            w.sync()
            print(t, flush=True)
    """
)


def _row(t, p=20000):
    return np.sin(np.arange(p)) * (t + 1)


def _check_committed_prefix(path: Path, synced: int) -> int:
    run = open_run(path)
    n = run.num_rows("x")
    assert n >= synced  # everything synced before the kill is there
    steps = run.steps("x")
    assert np.all(np.diff(steps) > 0)
    assert np.array_equal(steps, 3 * np.arange(n) + 1)
    assert np.array_equal(run.read("x"), np.stack([_row(t) for t in range(n)]))  # no torn row
    m = run.num_rows("s")
    assert m >= synced
    assert np.array_equal(run.read("s"), np.arange(m, dtype=np.float32) / 7)
    # the checkpoint on disk is whole, and the records before it are committed (ordered writes)
    ckpt = run.load_checkpoint()
    assert ckpt["step"] == 3 * ckpt["rows"]
    assert np.array_equal(ckpt["theta"].numpy(), _row(ckpt["rows"] - 1))
    assert ckpt["rows"] <= min(n, m)
    # every committed chunk has its checksum, and it matches: no false alarm after a kill
    # between a chunk write and the checksum file (checksums cover committed rows only)
    report = run.check(checksums=True)
    assert report.ok and report.unverified == 0, [p.message() for p in report.problems]
    return min(n, m)


@pytest.mark.parametrize("background", [True, False])
def test_kill_9_leaves_a_consistent_committed_prefix(tmp_path, background):
    # Three rounds: run (resuming the previous round's folder), let two synced flushes pass,
    # kill -9 after a random delay (seeded), check every committed row.
    path = tmp_path / "run"
    delays = np.random.default_rng(0).uniform(0.0, 0.05, size=3)
    rows = 0
    for delay in delays:
        proc = subprocess.Popen(
            [sys.executable, "-c", _CRASH_SCRIPT, str(path), "1" if background else "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            printed = [int(proc.stdout.readline()) for _ in range(2)]
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
            proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        assert printed[0] > rows  # the round resumed after the rows committed before
        rows = _check_committed_prefix(path, printed[-1])

    # resuming in this process drops nothing committed and continues after it
    with TrajectoryWriter.open_for_resume(path, background=background) as w:
        ckpt = w.load_checkpoint()
        w.truncate_after(3 * ckpt["rows"] - 1)
        assert w.rows("x") == w.rows("s") == ckpt["rows"]
        for t in range(ckpt["rows"], rows + 20):
            w.append("x", 3 * t + 1, _row(t))
            w.append("s", 3 * t + 1, np.float32(t) / 7)
    run = open_run(path)
    assert np.array_equal(run.steps("x"), 3 * np.arange(rows + 20) + 1)
    assert np.array_equal(
        run.read("x", start=3 * (rows - 5)), np.stack([_row(t) for t in range(rows - 5, rows + 20)])
    )
    assert not list(path.rglob("*.tmp"))  # temporaries of the killed writers were removed


# --- truncate and resume --------------------------------------------------------------------------
@pytest.mark.parametrize("reopen", [True, False])
def test_truncate_after_then_append_equals_uninterrupted(tmp_path, reopen):
    n = 100
    x = _rows(n, 11, "float32")
    steps = 2 * np.arange(n)
    loss = np.linspace(1, 0, n)
    _write(tmp_path / "a", {"x": (steps, x), "loss": (steps, loss)}, flush_at=(13, 50))

    w = TrajectoryWriter.create(tmp_path / "b", meta={"note": "test"})
    w.add_series("x", shape=(11,), dtype="float32", chunk_rows=7)
    w.add_series("loss", shape=(), dtype="float64", chunk_rows=7)
    for i in range(70):  # "crashes" after 70 rows, checkpointed at step 90 (row 45)
        w.append("x", steps[i], x[i])
        w.append("loss", steps[i], loss[i])
    if reopen:
        w.close()
        w = TrajectoryWriter.open_for_resume(tmp_path / "b")
    w.truncate_after(90)
    assert w.rows("x") == 46 and w.last_step("x") == 90
    partial = open_run(tmp_path / "b")
    assert partial.num_rows("x") == 46  # the shorter length is committed before truncate returns
    chunk_files = sorted(os.listdir(tmp_path / "b" / "series" / "x" / "values"))
    assert chunk_files == [".zarray", ".zattrs", *(f"{i}.0" for i in range(7))]  # rows 46..69 gone
    for i in range(46, n):
        w.append("x", steps[i], x[i])
        w.append("loss", steps[i], loss[i])
    w.close()

    a, b = open_run(tmp_path / "a"), open_run(tmp_path / "b")
    for name in ("x", "loss"):
        assert np.array_equal(a.steps(name), b.steps(name))
        assert np.array_equal(a.read(name), b.read(name))
    assert np.array_equal(b.read("x"), x)


def test_truncate_before_the_first_step_empties_every_series(tmp_path):
    with TrajectoryWriter.create(tmp_path / "r", meta={}) as w:
        w.add_series("x", shape=(3,), dtype="float64", chunk_rows=4)
        for t in range(10):
            w.append("x", t, np.full(3, t))
        w.truncate_after(-1)
        assert w.rows("x") == 0 and w.last_step("x") is None
        w.append("x", 0, np.ones(3))
    run = open_run(tmp_path / "r")
    assert np.array_equal(run.read("x"), np.ones((1, 3)))


def test_open_for_resume_continues_the_partial_chunk(tmp_path):
    x = _rows(30, 4, "float64")
    with TrajectoryWriter.create(tmp_path / "r", meta={}) as w:
        w.add_series("x", shape=(4,), dtype="float64", chunk_rows=8)
        for t in range(13):  # 13 rows: the second chunk is partly filled
            w.append("x", t, x[t])
    with TrajectoryWriter.open_for_resume(tmp_path / "r") as w:
        w.add_series("x", shape=(4,), dtype="float64")  # idempotent
        assert w.rows("x") == 13 and w.last_step("x") == 12
        with pytest.raises(ValueError, match="steps must increase strictly"):
            w.append("x", 12, x[12])
        for t in range(13, 30):
            w.append("x", t, x[t])
    assert np.array_equal(open_run(tmp_path / "r").read("x"), x)


# --- a reader beside a running writer -------------------------------------------------------------
def test_reader_sees_only_committed_rows_and_refreshes(tmp_path):
    w = TrajectoryWriter.create(tmp_path / "r", meta={})
    w.add_series("x", shape=(5,), dtype="float64", chunk_rows=4)
    w.sync()
    run = open_run(tmp_path / "r")
    assert run.num_rows("x") == 0 and run.read("x").shape == (0, 5)
    for t in range(10):
        w.append("x", t, np.full(5, t))
    w.sync()
    for t in range(10, 15):  # appended, never flushed: invisible
        w.append("x", t, np.full(5, t))
    assert run.num_rows("x") == 0  # a Run reads committed.json on open and on refresh only
    run.refresh()
    assert np.array_equal(run.steps("x"), np.arange(10))
    assert np.array_equal(run.read("x", start=8), np.full((2, 5), [[8.0], [9.0]]))
    w.close()
    assert np.array_equal(run.refresh().steps("x"), np.arange(15))
    assert np.array_equal(
        run.read("x", start=8), np.repeat(np.arange(8.0, 15.0)[:, None], 5, axis=1)
    )


# --- atomic files ---------------------------------------------------------------------------------
def test_json_and_checkpoint_round_trip(tmp_path):
    with TrajectoryWriter.create(tmp_path / "r", meta={}) as w:
        w.write_json(
            "summary.json", {"loss": np.float32(0.5), "steps": np.arange(3), "path": tmp_path}
        )
        state = {"theta": torch.arange(4.0), "rng": torch.get_rng_state(), "opt": {"lr": 0.1}}
        w.save_checkpoint(state, step=7)
        state["theta"] += 1  # serialised at the call: later changes do not leak in
        ckpt = w.load_checkpoint()
    assert (
        ckpt["step"] == 7
        and torch.equal(ckpt["theta"], torch.arange(4.0))
        and ckpt["opt"] == {"lr": 0.1}
    )
    run = open_run(tmp_path / "r")
    assert run.read_json("summary") == {"loss": 0.5, "steps": [0, 1, 2], "path": str(tmp_path)}
    assert run.summary()["summary"] == run.read_json("summary.json")
    assert torch.equal(run.load_checkpoint()["theta"], torch.arange(4.0))
    with pytest.raises(FileNotFoundError, match=r"results\.json is not in run .*summary\.json"):
        run.read_json("results")


class _TornFile:
    """A file object that writes half of what it is given, then fails (disk full, a kill)."""

    def __init__(self, path, mode):
        self._f = open(path, mode)

    def write(self, data) -> int:
        data = memoryview(data).cast("B")
        self._f.write(data[: len(data) // 2])
        self._f.flush()
        raise OSError(28, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.mark.parametrize("failure", ["torn write", "no rename"])
def test_a_failed_write_never_replaces_the_good_file(tmp_path, monkeypatch, failure):
    from landscope import _results_io  # the one atomic writer (run store, grids, results)

    w = TrajectoryWriter.create(tmp_path / "r", meta={}, background=False)
    w.write_json("summary.json", {"ok": 1})
    w.save_checkpoint({"theta": torch.ones(3)}, step=1)
    good_json = (tmp_path / "r" / "summary.json").read_bytes()
    good_ckpt = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    if failure == "torn write":
        monkeypatch.setattr(_results_io, "open", _TornFile, raising=False)
    else:  # the process dies between writing the temporary file and renaming it

        def no_replace(src, dst):
            raise OSError("killed before the rename")

        monkeypatch.setattr(_results_io.os, "replace", no_replace)
    with pytest.raises(OSError):
        w.write_json("summary.json", {"ok": 2, "pad": "x" * 1000})
    with pytest.raises(OSError):
        w.save_checkpoint({"theta": torch.zeros(1000)}, step=2)
    monkeypatch.undo()
    assert (tmp_path / "r" / "summary.json").read_bytes() == good_json
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == good_ckpt
    assert not list((tmp_path / "r").glob(".*.tmp"))  # the temporary files were removed
    run = open_run(tmp_path / "r")
    assert run.read_json("summary.json") == {"ok": 1}
    assert torch.equal(run.load_checkpoint()["theta"], torch.ones(3))


def test_background_write_error_is_raised_and_nothing_more_is_committed(tmp_path, monkeypatch):
    from landscope import _results_io  # the one atomic writer (run store, grids, results)

    w = TrajectoryWriter.create(tmp_path / "r", meta={})
    w.add_series("x", shape=(2,), dtype="float64", chunk_rows=4)
    w.append("x", 0, np.zeros(2))
    w.sync()
    monkeypatch.setattr(_results_io, "open", _TornFile, raising=False)
    w.append("x", 1, np.ones(2))
    w.flush()  # queued; the chunk write fails on the I/O thread
    with pytest.raises(RuntimeError, match=r"writing the trajectory to .* failed: .*No space left"):
        w.sync()
    with pytest.raises(RuntimeError, match="failed"):
        w.append("x", 2, np.ones(2))
    with pytest.raises(RuntimeError, match="failed"):
        w.close()
    monkeypatch.undo()
    run = open_run(tmp_path / "r")
    assert run.num_rows("x") == 1 and np.array_equal(run.read("x"), np.zeros((1, 2)))
    TrajectoryWriter.open_for_resume(tmp_path / "r").close()  # the folder was released


def test_unserialisable_state_fails_before_touching_disk(tmp_path):
    with TrajectoryWriter.create(tmp_path / "r", meta={}) as w:
        w.save_checkpoint({"theta": torch.ones(2)}, step=0)
        with pytest.raises(Exception, match=r"pickle|lambda"):
            w.save_checkpoint({"f": lambda: 0}, step=1)
        with pytest.raises(TypeError, match="not JSON serialisable"):
            w.write_json("x", {"f": object()})
    assert torch.equal(open_run(tmp_path / "r").load_checkpoint()["theta"], torch.ones(2))
    with pytest.raises(TypeError, match="not JSON serialisable"):
        TrajectoryWriter.create(tmp_path / "s", meta={"f": object()})
    assert not (tmp_path / "s").exists()


# --- errors ---------------------------------------------------------------------------------------
def test_opening_a_folder_that_is_not_a_run_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        FileNotFoundError,
        match=r"not a landscope run folder: meta\.json, committed\.json, series/ are missing",
    ):
        open_run(tmp_path / "empty")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "meta.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"committed\.json, series/ are missing"):
        open_run(tmp_path / "half")
    with pytest.raises(FileNotFoundError, match=r"committed\.json, series/ are missing"):
        TrajectoryWriter.open_for_resume(tmp_path / "half")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a run folder"):
        Run(tmp_path / "file")


def test_create_refuses_to_clobber(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="exists and is not empty; pass overwrite=True"):
        TrajectoryWriter.create(tmp_path / "data", meta={})
    with pytest.raises(FileExistsError, match="not a landscope run folder"):
        TrajectoryWriter.create(tmp_path / "data", meta={}, overwrite=True)
    assert (tmp_path / "data" / "precious.txt").read_text() == "keep me"
    _write(tmp_path / "r", {"x": (np.arange(3), np.ones((3, 2)))})
    with TrajectoryWriter.create(tmp_path / "r", meta={"second": True}, overwrite=True) as w:
        assert w.series() == []
    run = open_run(tmp_path / "r")
    assert run.series() == [] and run.meta == {"second": True}


def test_one_writer_per_folder(tmp_path):
    w = TrajectoryWriter.create(tmp_path / "r", meta={})
    with pytest.raises(RunLockedError, match="being written by another process"):
        TrajectoryWriter.open_for_resume(tmp_path / "r")
    w.close()
    TrajectoryWriter.open_for_resume(tmp_path / "r").close()


def test_bad_input_gets_a_clear_error(tmp_path):
    with TrajectoryWriter.create(tmp_path / "r", meta={}) as w:
        w.add_series("x", shape=(3,), dtype="float32")
        w.add_series("x", shape=3, dtype=np.float32)  # same declaration: fine
        with pytest.raises(ValueError, match=r"exists with shape \(3,\) and dtype float32"):
            w.add_series("x", shape=(4,), dtype="float32")
        with pytest.raises(ValueError, match=r"may not start with '\.'"):
            w.add_series(".hidden", shape=(), dtype="float32")
        with pytest.raises(ValueError, match="no '/'"):
            w.add_series("a/b", shape=(), dtype="float32")
        with pytest.raises(ValueError, match="positive integers"):
            w.add_series("y", shape=(0,), dtype="float32")
        with pytest.raises(ValueError, match="unsupported dtype <U3"):
            w.add_series("y", shape=(), dtype="U3")
        with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
            w.add_series("y", shape=(), dtype="float32", chunk_rows=0)
        with pytest.raises(
            KeyError, match=r"no series 'y'; declare it with add_series \(series: \['x'\]\)"
        ):
            w.append("y", 0, 1.0)
        with pytest.raises(
            ValueError, match=r"records of shape \(3,\), got a tensor of shape \(4,\)"
        ):
            w.append("x", 0, torch.zeros(4))
        with pytest.raises(ValueError, match=r"records of shape \(3,\), got a value of shape \(\)"):
            w.append("x", 0, 1.0)  # a scalar is not broadcast into a row
        w.append("x", 5, np.zeros(3))
        with pytest.raises(ValueError, match="got step 5 after step 5"):
            w.append("x", 5, np.zeros(3))
        with pytest.raises(TypeError):
            w.append("x", 6.5, np.zeros(3))
    with pytest.raises(RuntimeError, match="is closed"):
        w.append("x", 7, np.zeros(3))


def test_summary_describes_the_run(tmp_path):
    _write(
        tmp_path / "r",
        {"x": (np.arange(5) + 3, np.ones((5, 4), np.float32)), "loss": (np.arange(2), np.zeros(2))},
    )
    info = open_run(tmp_path / "r").summary()
    assert info["series"]["x"] | {"bytes": 0} == {
        "rows": 5,
        "first_step": 3,
        "last_step": 7,
        "shape": [4],
        "dtype": "float32",
        "bytes": 0,
        "description": "",
    }
    assert info["series"]["loss"]["rows"] == 2 and info["series"]["loss"]["shape"] == []
    assert info["series"]["x"]["bytes"] >= 5 * 4 * 4
    assert info["bytes_on_disk"] > info["series"]["x"]["bytes"] + info["series"]["loss"]["bytes"]
    assert info["summary"] is None and info["has_checkpoint"] is False
    committed = json.loads((tmp_path / "r" / "committed.json").read_text())
    assert committed["series"]["x"]["rows"] == 5
