"""The one progress-bar factory of landscope: :func:`progress_bar`, around ``tqdm``.

Where the bar goes decides how it is drawn (:func:`progress_mode`):

* ``"terminal"`` -- the stream is a TTY: ``tqdm.auto.tqdm`` as usual, redrawn in place.
* ``"notebook"`` -- inside Jupyter (``tqdm.auto`` picked its widget): the widget.
* ``"log"`` -- anything else (a batch job's log file, a pipe, CI): one plain line, ended by a
  newline and free of carriage returns and cursor moves, at most every :data:`LOG_INTERVAL`
  seconds, plus the first and the final line.  A 3-hour job writes ~360 lines, not one
  megabyte-long line of ``\\r``-separated redraws.  (tqdm itself redraws with ``\\r`` on any
  stream, so a log fills with every refresh, and ``set_postfix`` refreshes on every call.)
* ``"off"`` -- ``enabled=False`` (the CLI's ``--no-progress`` / ``-q``): a disabled bar whose
  ``update`` / ``set_postfix`` / ``close`` do nothing, so callers need no ``if``.

Log mode rather than no bar at all: batch schedulers kill long jobs, and a line every half
minute in the job's log tells how far it got and how fast it was going.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Literal

from tqdm.std import tqdm as _std_tqdm

__all__ = ["LOG_INTERVAL", "progress_bar", "progress_mode"]

#: Seconds between two lines of a bar written to a stream that is not a terminal.
LOG_INTERVAL = 30.0

Mode = Literal["off", "notebook", "terminal", "log"]


def _auto_tqdm() -> type:
    from tqdm.auto import tqdm

    return tqdm


def _is_notebook(cls: type) -> bool:
    return any(c.__module__ == "tqdm.notebook" for c in cls.__mro__)


def _is_tty(file: Any) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def progress_mode(file: IO[str] | None = None, *, enabled: bool = True) -> Mode:
    """How :func:`progress_bar` draws on ``file`` (default: ``sys.stderr`` now)."""
    if not enabled:
        return "off"
    if _is_notebook(_auto_tqdm()):
        return "notebook"
    return "terminal" if _is_tty(sys.stderr if file is None else file) else "log"


class _Lines:
    """A text stream for :class:`_LogBar`: each write becomes one line without ``\\r`` (tqdm
    writes ``"\\r" + bar + padding``); empty writes (tqdm's clearing and its final ``"\\n"``)
    write nothing."""

    def __init__(self, file: IO[str]):
        self.file = file

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self.file.write(line + "\n")

    def flush(self) -> None:
        getattr(self.file, "flush", lambda: None)()


class _LogBar(_std_tqdm):
    """tqdm for a log: a line at most every ``mininterval`` seconds, whatever refreshes it
    (``update``, ``set_postfix``, ``set_description``, the monitor thread), the first and the
    final line always; no in-place redraws."""

    def __init__(self, *args, **kwargs):
        self._shown_at: float | None = None
        self._closing = False
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg is not None:  # tqdm clearing the line: nothing to clear in a log
            return False
        now = time.monotonic()
        if (
            not self._closing
            and self._shown_at is not None
            and now - self._shown_at < self.mininterval
        ):
            return False
        self._shown_at = now
        self.sp(self.__str__())
        return True

    def clear(self, nolock: bool = False) -> None:  # no in-place redraws to clear
        return None

    def moveto(self, n: int) -> None:  # no cursor moves (nested bars print their own lines)
        return None

    def close(self) -> None:
        self._closing = True
        super().close()


def progress_bar(
    iterable: Any = None,
    *,
    enabled: bool = True,
    file: IO[str] | None = None,
    log_interval: float = LOG_INTERVAL,
    **kwargs: Any,
) -> _std_tqdm:
    """A tqdm progress bar drawn the way its stream allows (see the module docstring).

    Args:
        iterable: what to iterate over (or ``None`` with ``total=`` and ``update``).
        enabled: ``False`` gives a disabled bar (every method a no-op).
        file: the stream (default: ``sys.stderr`` at the time of the call).
        log_interval: seconds between lines when ``file`` is not a terminal.
        **kwargs: tqdm's (``total``, ``initial``, ``desc``, ``unit``, ``mininterval``,
            ``dynamic_ncols``, ...); in log mode ``mininterval`` is at least ``log_interval``.

    >>> bar = progress_bar(range(3), enabled=False)
    >>> list(bar), bar.disable
    ([0, 1, 2], True)
    """
    mode = progress_mode(file, enabled=enabled)
    if file is not None:
        kwargs["file"] = file
    if mode == "off":
        return _std_tqdm(iterable, disable=True, **kwargs)
    if mode in ("terminal", "notebook"):
        return _auto_tqdm()(iterable, **kwargs)
    kwargs["file"] = _Lines(sys.stderr if file is None else file)
    kwargs["mininterval"] = max(float(kwargs.get("mininterval", 0.0)), float(log_interval))
    kwargs["maxinterval"] = max(float(kwargs.get("maxinterval", 0.0)), kwargs["mininterval"])
    kwargs.pop("dynamic_ncols", None)  # no terminal to measure
    kwargs.setdefault("ascii", True)  # logs are often read with tools that mangle block glyphs
    return _LogBar(iterable, **kwargs)
