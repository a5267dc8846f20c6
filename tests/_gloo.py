"""Run a function in two (or more) gloo processes on this machine, as the distributed tests do.

Usage::

    from _gloo import spawn_gloo

    def _worker(rank, world_size, port, out_path): ...   # module level (it is pickled)

    spawn_gloo(_worker, out_path)                          # nprocs=2
"""

from __future__ import annotations

import socket

import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_gloo(worker, *args, nprocs: int = 2) -> None:
    """``worker(rank, nprocs, port, *args)`` in ``nprocs`` processes.  The free port can be taken
    by another process between probing and binding (the suite runs under pytest-xdist): the
    rendezvous is retried with a fresh port, and a real failure is re-raised."""
    for attempt in range(3):
        try:
            mp.spawn(worker, args=(nprocs, free_port(), *args), nprocs=nprocs, join=True)
            return
        except mp.ProcessRaisedException as exc:
            message = str(exc).lower()
            if attempt == 2 or ("address" not in message and "connect" not in message):
                raise
