"""Never a silently wrong answer from a damaged run (issue 12, items 1-3 and 8, one-line errors).

- A chunk file that is missing, truncated, does not decode or changed after it was written is an
  error naming the file, the series and the steps, from every reader -- never zeros (zarr alone
  reads a missing chunk as its fill value: each such test shows that first).
- ``runs check`` checks every chunk (presence, size, decoding, steps increasing, params finite,
  ``--checksums``: the crc32 recorded at write time); checksums cover only committed rows, so a
  kill between a chunk write and the checksum file is no false alarm.
- Compression (Blosc lz4 / zstd) round-trips exactly and zarr reads our chunks independently;
  store-version-1 runs stay readable.
- ``--overwrite`` deletes only what training wrote; SIGTERM flushes, checkpoints and exits 143,
  and resuming gives the uninterrupted run bitwise.
- Every damaged-run case through the CLI (a subprocess) ends in one ``error:`` line naming the
  problem and the file, a non-zero exit code and no traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
import zarr

from landscope.runs import (
    DamagedRunError,
    RunExistsError,
    TrajectoryWriter,
    open_run,
    owned_by_run,
)
from landscope.training import TrainingInterrupted, train

COMPRESSIONS = ["none", "lz4", "zstd"]


def _trajectory(n: int, p: int, seed: int = 0) -> np.ndarray:
    """A smooth float32 trajectory (a random walk), like recorded parameters."""
    steps = np.random.default_rng(seed).standard_normal((n, p)) * 1e-2
    return np.cumsum(steps, axis=0).astype(np.float32)


def _write(
    path: Path, compression: str = "none", n: int = 40, p: int = 13, chunks=(8, 5)
) -> np.ndarray:
    """Series ``params`` (rows of p, chunks of 8 rows x 5 columns) and ``loss`` at steps
    0, 10, 20, ...: row i is at step 10 i."""
    x = _trajectory(n, p)
    with TrajectoryWriter.create(path, meta={"note": "test"}, compression=compression) as w:
        w.add_series(
            "params", shape=(p,), dtype="float32", chunk_rows=chunks[0], column_chunk=chunks[1]
        )
        w.add_series("loss", shape=(), dtype="float64", chunk_rows=6)
        for i in range(n):
            w.append("params", 10 * i, x[i])
            w.append("loss", 10 * i, float(i))
            if i in (5, 17, 30):
                w.flush()
    return x


def _values(run_dir: Path, name: str = "params") -> Path:
    return run_dir / "series" / name / "values"


# --- item 1: a damaged chunk is an error, never zeros ---------------------------------------------
@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_a_deleted_chunk_is_an_error_never_zeros(tmp_path, compression):
    run_dir = tmp_path / "run"
    x = _write(run_dir, compression)
    (_values(run_dir) / "2.1").unlink()  # rows 16..23 (steps 160..230), columns 5..9
    # what zarr alone does: the fill value where the chunk was
    raw = zarr.open_array(store=str(_values(run_dir)), mode="r")
    assert np.all(raw[16:24, 5:10] == 0) and not np.all(x[16:24, 5:10] == 0)

    run = open_run(run_dir)
    expected = (
        r"chunk file .*series/params/values/2\.1 is missing: the records of series 'params' at "
        r"steps 160\.\.230 \(8 rows\) are lost"
    )
    assert len(run.damage) == 1 and re.search(expected, run.damage[0].message())
    for read in (
        lambda: run.read("params"),
        lambda: run.read("params", steps=[170]),
        lambda: run.read("params", start=150, stop=161, columns=[6]),
        lambda: run.read("params", steps=slice(0, 400, 20)),
        lambda: run.theta(200),
        lambda: run.thetas([0, 230]),
    ):
        with pytest.raises(DamagedRunError, match=expected):
            read()
    # the other chunks still read, exactly (only the missing one is refused)
    assert np.array_equal(run.read("params", stop=160), x[:16])
    assert np.array_equal(run.read("params", start=240), x[24:])
    assert np.array_equal(run.read("params", steps=[170], columns=[0, 4]), x[[17]][:, [0, 4]])
    assert np.array_equal(run.read("params", steps=[170], columns=slice(10, 13)), x[[17], 10:])
    assert [p.file.name for p in run.check().problems] == ["2.1"]
    # a column selection is checked against the blocks it really touches (negative slices too)
    other = tmp_path / "other"
    _write(other, compression)
    (_values(other) / "2.0").unlink()  # rows 16..23, columns 0..4
    for columns in (slice(-9, -7), [4, 5], slice(3, 6)):  # columns 4 and 5: blocks 0 and 1
        with pytest.raises(DamagedRunError, match=r"values/2\.0 is missing"):
            open_run(other).read("params", steps=[170], columns=columns)
    assert np.array_equal(
        open_run(other).read("params", steps=[170], columns=slice(-8, -6)), x[[17], 5:7]
    )


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_a_truncated_chunk_is_an_error(tmp_path, compression):
    run_dir = tmp_path / "run"
    _write(run_dir, compression)
    chunk = _values(run_dir) / "1.0"
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])
    run = open_run(run_dir)
    expected = (
        rf"chunk file .*params/values/1\.0 is damaged \(truncated: {len(data) // 2} of "
        rf"{len(data)} bytes\): the records of series 'params' at steps 80\.\.150 \(8 rows\)"
    )
    with pytest.raises(DamagedRunError, match=expected):
        run.read("params", steps=[100])
    assert len(run.damage) == 1
    report = run.check()
    assert not report.ok and re.search(expected, report.problems[0].message())
    chunk.write_bytes(data + b"\0")  # one byte too many is damage as well
    with pytest.raises(DamagedRunError, match=r"1\.0 is damaged \("):
        open_run(run_dir).read("params", steps=[100])


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_changed_bytes_are_found_by_the_checksums(tmp_path, compression):
    run_dir = tmp_path / "run"
    x = _write(run_dir, compression)
    run = open_run(run_dir)
    clean = run.check(checksums=True)
    assert clean.ok and clean.verified == clean.chunks and clean.unverified == 0
    chunk = _values(run_dir) / "3.2"  # rows 24..31, the edge column block (10..12)
    data = bytearray(chunk.read_bytes())
    data[-len(data) // 3] ^= 0xFF  # one flipped byte, same size
    chunk.write_bytes(bytes(data))
    assert open_run(run_dir).damage == []  # size checks cannot see it
    report = open_run(run_dir).check(checksums=True)
    assert len(report.problems) == 1, [p.message() for p in report.problems]
    message = report.problems[0].message()
    assert "3.2" in message and "steps 240..310" in message
    assert "checksum mismatch" in message or "does not decode" in message
    # the untouched chunks still verify, and still read exactly
    assert report.verified == report.chunks - 1
    assert np.array_equal(open_run(run_dir).read("params", stop=240), x[:24])


def test_damaged_steps_are_named(tmp_path):
    run_dir = tmp_path / "run"
    _write(run_dir)
    steps_chunk = run_dir / "series" / "loss" / "steps" / "0"
    data = np.fromfile(steps_chunk, dtype=np.int64)
    data[:40] = data[:40][::-1]  # the same size, other order
    data.tofile(steps_chunk)
    with pytest.raises(DamagedRunError, match=r"loss/steps/0 is damaged \(steps do not increase"):
        open_run(run_dir).read("loss")
    steps_chunk.unlink()
    run = open_run(run_dir)
    with pytest.raises(
        DamagedRunError,
        match=r"loss/steps/0 is missing: the steps of series 'loss' at rows 0\.\.39 \(40 rows; "
        r"their steps are unknown\) are lost",
    ):
        run.read("loss")
    assert run.read("params", stop=20).shape == (2, 13)  # another series is unaffected
    # a values chunk of a series whose steps are lost: rows named, steps unknown
    (_values(run_dir, "loss") / "0").unlink()
    assert any(
        "rows 0..5 (6 rows; their steps are unknown)" in p.message() for p in run.refresh().damage
    )


def test_non_finite_params_are_flagged_not_other_series(tmp_path):
    x = _trajectory(12, 4)
    x[5, 2] = np.nan
    x[9, 0] = np.inf
    with TrajectoryWriter.create(tmp_path / "r", meta={}) as w:
        w.add_series("params", shape=(4,), dtype="float32", chunk_rows=8)
        w.add_series("train_loss", shape=(), dtype="float64", chunk_rows=8)
        for i in range(12):
            w.append("params", 10 * i, x[i])
            w.append("train_loss", 10 * i, np.nan)
    report = open_run(tmp_path / "r").check()
    assert [p.message() for p in report.problems] == [
        f"series 'params' holds non-finite values (NaN or inf) at 1 step (50) in chunk file "
        f"{tmp_path / 'r' / 'series' / 'params' / 'values' / '0.0'}: a diverged run, or damaged data",
        f"series 'params' holds non-finite values (NaN or inf) at 1 step (90) in chunk file "
        f"{tmp_path / 'r' / 'series' / 'params' / 'values' / '1.0'}: a diverged run, or damaged data",
    ]
    assert np.isnan(open_run(tmp_path / "r").read("params", steps=[50])[0, 2])  # still readable


# --- checksums: committed rows only, no false alarm after a kill ----------------------------------
def test_checksums_survive_a_kill_between_a_chunk_and_its_checksum(tmp_path, monkeypatch):
    from landscope.runs import _store

    path = tmp_path / "r"
    x = _trajectory(20, 3)
    w = TrajectoryWriter.create(path, meta={})
    w.add_series("params", shape=(3,), dtype="float32", chunk_rows=8)
    for i in range(3):
        w.append("params", i, x[i])
    w.flush()
    w.sync()  # chunk 0 holds 3 committed rows; checksums.json records [3, crc]

    def killed(self, durable):  # the process "dies" after the chunk files, before the sidecar
        raise OSError("killed")

    monkeypatch.setattr(_store._Series, "write_sums", killed)
    for i in range(3, 6):
        w.append("params", i, x[i])
    with pytest.raises(RuntimeError, match="killed"):
        w.sync()
    with pytest.raises(RuntimeError, match="killed"):
        w.close()
    monkeypatch.undo()
    # on disk: chunk 0 rewritten with 6 rows, its checksum of 3 rows, 3 rows committed
    sums = json.loads((path / "series" / "params" / "checksums.json").read_text())
    assert sums["values"]["0.0"][0] == 3
    assert os.path.getsize(path / "series" / "params" / "values" / "0.0") == 8 * 3 * 4
    report = open_run(path).check(checksums=True)
    assert report.ok and report.verified == report.chunks == 2, report.problems
    # resume, go back before a flushed row, write other values: all verify
    with TrajectoryWriter.open_for_resume(path) as w:
        w.truncate_after(1)
        for i in range(2, 20):
            w.append("params", i, -x[i])
    run = open_run(path)
    assert np.array_equal(run.read("params"), np.concatenate([x[:2], -x[2:]]))
    report = run.check(checksums=True)
    assert report.ok and report.verified == report.chunks, [p.message() for p in report.problems]


def test_checksums_see_a_rewrite_that_changes_committed_rows(tmp_path):
    """The checksum of a partial chunk covers its committed rows: changing one of them is found
    even though the file is rewritten later with more rows by the same writer."""
    path = tmp_path / "r"
    x = _trajectory(5, 3)
    with TrajectoryWriter.create(path, meta={}, background=False) as w:
        w.add_series("params", shape=(3,), dtype="float32", chunk_rows=8)
        for i in range(5):
            w.append("params", i, x[i])
    chunk = path / "series" / "params" / "values" / "0.0"
    data = np.fromfile(chunk, dtype=np.float32)
    original = data.copy()
    data[7] += 1.0  # row 2, column 1: committed
    data.tofile(chunk)
    report = open_run(path).check(checksums=True)
    assert [p.problem for p in report.problems] == [
        "checksum mismatch: its bytes changed after it was written"
    ]
    data = original
    data[-1] = 123.0  # past the committed rows: not data, not checked
    data.tofile(chunk)
    assert open_run(path).check(checksums=True).ok


# --- compression and older runs ------------------------------------------------------------------
@pytest.mark.parametrize("compression", ["lz4", "zstd"])
def test_compressed_series_round_trip_exactly_and_zarr_reads_them(tmp_path, compression):
    run_dir = tmp_path / "run"
    x = _write(run_dir, compression, n=300, p=40, chunks=(64, 30))
    raw_dir = tmp_path / "raw"
    _write(raw_dir, "none", n=300, p=40, chunks=(64, 30))
    run = open_run(run_dir)
    assert run.info("params")["compression"] == compression
    assert np.array_equal(run.read("params"), x)
    assert np.array_equal(run.read("loss"), np.arange(300.0))
    # an independent reader: zarr decodes the chunks the writer encoded itself
    meta = json.loads((_values(run_dir) / ".zarray").read_text())
    assert meta["compressor"]["id"] == "blosc" and meta["compressor"]["cname"] == compression
    assert np.array_equal(zarr.open_array(store=str(_values(run_dir)), mode="r")[:300], x)
    size = sum(f.stat().st_size for f in _values(run_dir).iterdir() if f.name[0].isdigit())
    raw = sum(f.stat().st_size for f in _values(raw_dir).iterdir() if f.name[0].isdigit())
    assert size < 0.9 * raw, (size, raw)
    # resume continues a compressed partial chunk
    with TrajectoryWriter.open_for_resume(run_dir) as w:
        w.append("params", 3000, x[0])
    assert np.array_equal(open_run(run_dir).read("params", start=2990), x[[-1, 0]])
    assert open_run(run_dir).check(checksums=True).ok


def test_store_version_1_runs_stay_readable(tmp_path):
    """A run as the store wrote it before version 2: no checksums, no compression or files keys."""
    run_dir = tmp_path / "run"
    x = _write(run_dir)
    committed = json.loads((run_dir / "committed.json").read_text())
    committed["version"] = 1
    del committed["files"], committed["compression"]
    for entry in committed["series"].values():
        del entry["compression"]
    (run_dir / "committed.json").write_text(json.dumps(committed))
    for name in ("params", "loss"):
        (run_dir / "series" / name / "checksums.json").unlink()
    run = open_run(run_dir)
    assert np.array_equal(run.read("params"), x) and run.damage == []
    report = run.check(checksums=True)
    assert report.ok and report.verified == 0 and report.unverified == report.chunks
    with TrajectoryWriter.open_for_resume(run_dir) as w:  # appends get checksums
        w.append("params", 1000, x[0])
        w.append("loss", 1000, 1.0)
    report = open_run(run_dir).check(checksums=True)
    assert report.ok and report.verified >= 2


def test_compression_config_reaches_the_store_and_batches_every_strides(tmp_path):
    cfg = {
        "name": "c",
        "data": {"name": "iris"},
        "model": {"name": "mlp", "options": {"widths": [6]}},
        "training": {"batch_size": 20, "steps": 30},
        "record": {"compression": "zstd", "batches_every": 4, "flush_every": 10},
    }
    run = train(cfg, tmp_path / "run", progress=False)
    assert run.info("params")["compression"] == "zstd"
    assert run.info("batch_loss")["compression"] == "zstd"
    assert run.steps("batch_indices").tolist() == list(range(0, 30, 4))
    assert run.steps("lr").tolist() == list(range(30))  # lr: every update
    reference = train({**cfg, "record": {"flush_every": 10}}, tmp_path / "ref", progress=False)
    assert np.array_equal(run.read("params"), reference.read("params"))  # bits, not the codec
    assert np.array_equal(
        run.read("batch_loss"), reference.read("batch_loss", steps=list(range(0, 30, 4)))
    )
    assert run.check(checksums=True).ok


# --- item 2: --overwrite keeps what training did not write ----------------------------------------
def test_overwrite_deletes_only_what_the_store_wrote(tmp_path):
    run_dir = tmp_path / "run"
    with TrajectoryWriter.create(run_dir, meta={"first": True}) as w:
        w.add_series("x", shape=(2,), dtype="float32")
        w.append("x", 0, np.ones(2))
        w.write_json("summary", {"done": True})
        w.write_json("extra.json", {"mine": 1})
        w.save_checkpoint({"theta": torch.ones(2)}, step=0)
    (run_dir / "hessian.json").write_text("{}")
    (run_dir / "notes.txt").write_text("keep me")
    (run_dir / "surface").mkdir()
    (run_dir / "surface" / "values.npz").write_bytes(b"data")
    owned, foreign = owned_by_run(run_dir)
    assert foreign == ["hessian.json", "notes.txt", "surface"]
    assert set(owned) >= {"meta.json", "committed.json", "series", "checkpoint.pt"}
    assert {"summary.json", "extra.json"} <= set(owned)
    with pytest.raises(RunExistsError, match="exists and is not empty"):
        TrajectoryWriter.create(run_dir, meta={})
    with TrajectoryWriter.create(run_dir, meta={"second": True}, overwrite=True) as w:
        assert w.kept == ["hessian.json", "notes.txt", "surface"]
    assert (run_dir / "notes.txt").read_text() == "keep me"
    assert (run_dir / "surface" / "values.npz").read_bytes() == b"data"
    assert (run_dir / "hessian.json").exists()
    for gone in ("summary.json", "extra.json", "checkpoint.pt"):
        assert not (run_dir / gone).exists(), gone
    run = open_run(run_dir)
    assert run.meta == {"second": True} and run.series() == []


# --- damaged files of a run: named, typed ---------------------------------------------------------
class _NotAllowed:
    """An object ``torch.load(weights_only=True)`` refuses."""


def test_damaged_json_files_and_checkpoints_are_named(tmp_path):
    run_dir = tmp_path / "run"
    _write(run_dir)
    with TrajectoryWriter.open_for_resume(run_dir) as w:
        w.save_checkpoint({"theta": torch.ones(3)}, step=1)
    checkpoint = run_dir / "checkpoint.pt"
    good = checkpoint.read_bytes()
    checkpoint.write_bytes(good[:200])
    with pytest.raises(
        DamagedRunError, match=r"checkpoint .*checkpoint\.pt is damaged \(200 bytes"
    ):
        open_run(run_dir).load_checkpoint()
    with pytest.raises(DamagedRunError, match=r"checkpoint\.pt is damaged"):
        TrajectoryWriter.open_for_resume(run_dir).load_checkpoint()

    torch.save({"x": _NotAllowed()}, checkpoint)  # intact, but weights_only refuses it
    with pytest.raises(Exception, match=r"[Ww]eights only") as info:
        open_run(run_dir).load_checkpoint()
    assert not isinstance(info.value, DamagedRunError)

    committed = run_dir / "committed.json"
    text = committed.read_text()
    for damaged, message in (
        (text[:100], r"committed\.json is damaged \(100 bytes, not valid JSON"),
        ("", r"committed\.json is damaged \(empty\)"),
        ("{}", r"committed\.json is not a landscope-trajectory file"),
        (
            json.dumps({**json.loads(text), "series": {"x": {"rows": 3}}}),
            r"committed\.json is damaged: its 'series' entries lack",
        ),
    ):
        committed.write_text(damaged)
        with pytest.raises(DamagedRunError, match=message):
            open_run(run_dir)
    committed.write_text(text)
    (run_dir / "meta.json").write_text('{"note": "te')
    with pytest.raises(DamagedRunError, match=r"meta\.json is damaged"):
        open_run(run_dir)


def test_resume_from_a_damaged_checkpoint_raises_and_leaves_the_folder_unlocked(tmp_path):
    cfg = {
        "name": "d",
        "data": {"name": "iris"},
        "model": {"name": "mlp", "options": {"widths": [6]}},
        "training": {"batch_size": 20, "steps": 20},
        "record": {"flush_every": 5},
    }
    run_dir = tmp_path / "run"
    train(cfg, run_dir, progress=False)
    (run_dir / "summary.json").unlink()
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and "series" in p.parts}
    checkpoint = run_dir / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])
    with pytest.raises(DamagedRunError, match=r"checkpoint .*checkpoint\.pt is damaged") as info:
        train(None, run_dir, resume=True, progress=False)
    # not locked by the failed resume, even while its traceback (and frames) are alive
    assert info.tb is not None
    TrajectoryWriter.open_for_resume(run_dir).close()
    after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and "series" in p.parts}
    changed = [p for p in before if before[p] != after.get(p)]
    assert not changed, changed  # nothing on disk lost or rewritten


# --- item 3: SIGTERM ------------------------------------------------------------------------------
SIGTERM_CONFIG = {
    "name": "sigterm",
    "seed": 2,
    "dtype": "float32",
    "data": {"name": "iris"},
    "model": {"name": "mlp", "options": {"widths": [24, 14]}},
    "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "training": {"batch_size": 10, "steps": 6000, "threads": 1},
    "record": {"params": {"every": 1}, "eval": {"every": 500}, "flush_every": 100},
}


def _env() -> dict:
    return {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}


def _cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "landscope", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


def _one_line_error(result: subprocess.CompletedProcess, *needles: str, code: int = 2) -> str:
    """The single ``error:`` line on stderr (asserting the exit code, no traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.slow
def test_sigterm_flushes_checkpoints_and_resumes_bitwise(tmp_path):
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(SIGTERM_CONFIG))
    reference = train(SIGTERM_CONFIG, tmp_path / "reference", progress=False)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "landscope", "train", str(cfg_path), "--out", str(run_dir), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if len(open_run(run_dir).steps("params")) >= 600:
                    break
            except (FileNotFoundError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)
    line = _one_line_error(result, "terminated (SIGTERM)", f"--resume {run_dir}", code=143)
    stopped = int(line.split(" at step ")[1].split()[0])
    partial = open_run(run_dir)
    assert 600 <= stopped < 6000, "the signal must land mid-run"
    # flushed: every step before the stop is committed, and a checkpoint is at the stop
    assert np.array_equal(partial.param_steps(), np.arange(stopped))
    assert partial.load_checkpoint()["step"] == stopped
    assert np.array_equal(partial.read("params"), reference.read("params", stop=stopped))

    resumed = _cli("train", "--resume", run_dir, "-q")
    assert resumed.returncode == 0, resumed.stderr
    run = open_run(run_dir)
    for name in ("params", "updates", "batch_indices", "batch_loss", "lr", "train_loss"):
        assert np.array_equal(run.steps(name), reference.steps(name)), name
        assert np.array_equal(run.read(name), reference.read(name)), name
    assert run.check(checksums=True).ok


def test_sigterm_handler_is_restored_and_the_exception_carries_the_exit_code(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    cfg = {
        "name": "t",
        "data": {"name": "iris"},
        "model": {"name": "mlp", "options": {"widths": [6]}},
        "training": {"batch_size": 20, "steps": 40},
        "record": {"flush_every": 7},
    }

    def terminate_at_13(ctx):
        if ctx.step == 13:
            os.kill(os.getpid(), signal.SIGTERM)  # handled: the loop stops at step 14
        return ctx.update

    with pytest.raises(TrainingInterrupted, match="terminated \\(SIGTERM\\) at step 14") as info:
        train(cfg, tmp_path / "run", update_transform=terminate_at_13, progress=False)
    assert info.value.exit_code == 143 and info.value.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before
    run = open_run(tmp_path / "run")
    assert run.param_steps()[-1] == 13 and run.load_checkpoint()["step"] == 14
    reference = train(cfg, tmp_path / "ref", progress=False)
    resumed = train(None, tmp_path / "run", resume=True, progress=False)
    assert np.array_equal(resumed.read("params"), reference.read("params"))
    assert signal.getsignal(signal.SIGTERM) is before


# --- one-line errors through the CLI ---------------------------------------------------------------
TINY = {
    "name": "tiny",
    "seed": 1,
    "data": {"name": "iris"},
    "model": {"name": "mlp", "options": {"widths": [6]}},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "training": {"batch_size": 20, "steps": 60},
    "record": {"params": {"every": 1}, "eval": {"every": 30}, "flush_every": 20},
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A finished run: params chunks 0.0 (steps 0-19), 1.0 (20-39), 2.0 (40-59), 3.0 (60)."""
    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    train(TINY, run_dir, progress=False)
    return run_dir


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target


def _delete_chunk(run):
    (run / "series/params/values/1.0").unlink()


def _truncate_chunk(run):
    chunk = run / "series/params/values/1.0"
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])


def _nan_chunk(run):
    """A chunk that decodes, to NaN (encoded with the array's codec, if any)."""
    import numcodecs

    values = run / "series/params/values"
    meta = json.loads((values / ".zarray").read_text())
    nan = np.full(meta["chunks"], np.nan, np.float32)
    compressor = meta["compressor"]
    data = nan.tobytes() if compressor is None else numcodecs.get_codec(compressor).encode(nan)
    (values / "1.0").write_bytes(data)


def _truncate_committed(run):
    committed = run / "committed.json"
    committed.write_text(committed.read_text()[:100])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        (_delete_chunk, ["params/values/1.0 is missing", "steps 20..39"]),
        (_truncate_chunk, ["params/values/1.0 is damaged (truncated: ", "steps 20..39"]),
        (_nan_chunk, ["theta at step 25 of run", "is not finite", "landscope runs check"]),
        (_truncate_committed, ["committed.json is damaged"]),
    ],
    ids=["deleted-chunk", "truncated-chunk", "nan-chunk", "truncated-committed"],
)
def test_hessian_on_a_damaged_run_is_one_line(tiny_run, tmp_path, damage, needles):
    run = _copy(tiny_run, tmp_path)
    damage(run)
    result = _cli("hessian", run, "--step", "25", "--top-k", "2")
    _one_line_error(result, *needles, str(run))
    assert "eigenvalue" not in result.stdout  # no answer from a damaged run


@pytest.mark.slow
def test_hessian_on_what_is_not_a_run_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    _one_line_error(
        _cli("hessian", tmp_path / "empty"),
        f"{tmp_path / 'empty'} is not a landscope run folder",
        "meta.json, committed.json, series/ are missing",
    )
    _one_line_error(
        _cli("hessian", tmp_path / "nowhere"),
        f"no run folder or config file at {tmp_path / 'nowhere'}",
    )


@pytest.mark.slow
def test_an_analysis_on_a_damaged_run_is_one_line(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    (run / "series/params/values/0.0").unlink()  # theta(0), the start of the line
    result = _cli("analyze", "interpolate", run, "--out", tmp_path / "out", "-q")
    _one_line_error(result, "params/values/0.0 is missing", "steps 0..19")


@pytest.mark.slow
def test_train_errors_are_one_line_naming_the_flags(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    _one_line_error(
        _cli("train", cfg, "--out", run, "-q"), "exists and is not empty", "--overwrite", "--resume"
    )
    (run / "summary.json").unlink()  # unfinished: --resume has work to do
    checkpoint = run / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    _one_line_error(
        _cli("train", "--resume", run, "-q"),
        f"cannot --resume {run}: checkpoint {checkpoint} is damaged",
        "--overwrite",
    )
    with TrajectoryWriter.open_for_resume(run):  # a second writer on the same run
        _one_line_error(
            _cli("train", "--resume", run, "-q"),
            f"run folder {run} is being written by another process",
        )


@pytest.mark.slow
def test_train_overwrite_keeps_and_names_foreign_files(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    (run / "hessian.json").write_text('{"eigenvalues": [1.0]}')
    (run / "notes.txt").write_text("keep me")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "seed": 5}))
    result = _cli("train", cfg, "--out", run, "--overwrite", "-q")
    assert result.returncode == 0, result.stderr
    assert (
        f"--overwrite: replacing the run in {run}; keeping what training did not write there: "
        "hessian.json, notes.txt" in result.stderr
    )
    assert (run / "notes.txt").read_text() == "keep me" and (run / "hessian.json").exists()
    assert open_run(run).config["seed"] == 5


@pytest.mark.slow
def test_runs_show_and_check_report_damage(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    ok = _cli("runs", "check", run, "--checksums")
    assert ok.returncode == 0, ok.stderr
    assert f"run {run}: OK (" in ok.stdout and "checksums verified" in ok.stdout
    _delete_chunk(run)
    show = _cli("runs", "show", run)
    _one_line_error(show, f"run {run} is damaged: 1 chunk file is missing", code=1)
    assert "damaged: chunk file" in show.stdout and "params" in show.stdout
    check = _cli("runs", "check", run)
    _one_line_error(check, f"run {run} is damaged: 1 problem", code=1)
    assert "params/values/1.0 is missing" in check.stdout
