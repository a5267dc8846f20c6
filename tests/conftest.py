"""Test-session settings.

One intra-op thread per test process: the suite runs under ``pytest -n 2`` on 2 cores, and tiny
PyTorch kernels slow down by orders of magnitude when two processes each start 2 OpenMP threads
(measured: cross-entropy on 10 samples 24 ms instead of 7 us).
"""

import torch

torch.set_num_threads(1)
