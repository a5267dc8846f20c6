"""``landscope._progress.progress_bar``: in place on a terminal, a few plain lines in a log (a
subprocess whose stderr is a pipe, as under a batch scheduler), nothing when disabled."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

from landscope._progress import progress_bar, progress_mode

# A long loop as the training loop drives its bar: an update and a set_postfix every step
# (set_postfix refreshes the bar on every call in tqdm).  ~2.5 s, 2,000 steps.
_LOOP = textwrap.dedent(
    """
    import sys, time
    {make}
    start = time.monotonic()
    for i in range(2000):
        bar.update(1)
        bar.set_postfix(loss=1.0 / (i + 1))
        time.sleep(0.00125)
    bar.close()
    print(time.monotonic() - start)
    """
)


def _stderr_of(make: str) -> tuple[str, float]:
    """stderr of the loop run with the bar ``make`` builds (bytes decoded as they are: no
    newline translation, so a carriage return stays one), and the loop's seconds."""
    result = subprocess.run(
        [sys.executable, "-c", _LOOP.format(make=make)], capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stderr.decode(), float(result.stdout)


def test_a_long_loop_writes_a_handful_of_lines_to_a_pipe():
    plain, _ = _stderr_of(
        "from tqdm.auto import tqdm\n"
        "bar = tqdm(total=2000, desc='train', unit='step', dynamic_ncols=True, mininterval=0.5)"
    )
    # the control: tqdm itself floods the pipe with \r-separated redraws (one per set_postfix)
    assert plain.count("\r") > 500 and plain.count("\n") <= 1
    ours, seconds = _stderr_of(
        "from landscope._progress import progress_bar\n"
        "bar = progress_bar(total=2000, desc='train', unit='step', dynamic_ncols=True, "
        "mininterval=0.5)"
    )
    lines = ours.splitlines()
    # the first line and the final one (and one per 30 s, were the machine that slow)
    assert 2 <= len(lines) <= 2 + seconds // 30, (seconds, ours)
    assert "\r" not in ours and "\x1b" not in ours and ours.endswith("\n")
    assert lines[0].startswith("train:   0%") and "0/2000" in lines[0]
    assert lines[-1].startswith("train: 100%") and "2000/2000" in lines[-1]
    assert "loss=" in lines[-1]


def test_log_lines_come_at_most_every_log_interval():
    ours, seconds = _stderr_of(
        "from landscope._progress import progress_bar\n"
        "bar = progress_bar(total=2000, desc='train', log_interval=0.5)"
    )
    lines = ours.splitlines()
    # >= 2.5 s at one line per 0.5 s at most: the first, a few in between, the final
    assert 3 <= len(lines) <= 2 + seconds / 0.5, (seconds, ours)
    assert all(line.startswith("train:") for line in lines) and "\r" not in ours
    assert "2000/2000" in lines[-1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_modes_and_disabled_bar():
    assert progress_mode(_Terminal()) == "terminal"
    assert progress_mode(io.StringIO()) == "log"
    assert progress_mode(_Terminal(), enabled=False) == "off"
    # on a terminal: tqdm's in-place redraw
    tty = _Terminal()
    bar = progress_bar(range(3), file=tty, desc="x", mininterval=0)
    assert list(bar) == [0, 1, 2] and "\r" in tty.getvalue()
    # disabled: iterates, every method a no-op, writes nothing
    out = io.StringIO()
    bar = progress_bar(total=5, enabled=False, file=out, desc="x")
    bar.update(5)
    bar.set_postfix(loss=1.0)
    bar.close()
    assert bar.disable and out.getvalue() == ""
    # in a log: plain lines, each ended by a newline
    log = io.StringIO()
    for _ in progress_bar(range(3), file=log, desc="x"):
        pass
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n") and "" not in text[:-1].split("\n")
    assert text.splitlines()[0].startswith("x:   0%") and text.splitlines()[-1].startswith(
        "x: 100%"
    )
