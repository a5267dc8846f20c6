"""Data-parallel operators: 2 gloo processes on localhost equal the single-process operators.

The two ranks hold unequal shards (14 and 9 of the 23 samples) so that weighting by shard size
is exercised.  Tolerance 1e-10 of the scale (float64): the distributed sum only regroups the same
per-sample terms, a rounding-level change, while a wrong weighting is an O(1) error.
"""

from __future__ import annotations

import pytest
import torch

from _gloo import spawn_gloo
from _problems import assert_close_report, make
from landscope import Problem
from landscope.curvature import (
    DistributedGGNOperator,
    DistributedHessianOperator,
    DistributedNoiseCovarianceOperator,
    GGNOperator,
    HessianOperator,
    NoiseCovarianceOperator,
)

CASE = "conv_softplus_ce"
SPLIT = 14  # rank 0: samples [0, 14), rank 1: [14, 23)
BATCH_SIZE = 4
RTOL = 1e-10


def _probe(p: int) -> torch.Tensor:
    return torch.randn(p, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _shard(rank: int) -> tuple[Problem, torch.Tensor]:
    full, theta = make(CASE)
    x, y = full.data.x, full.data.y
    sl = slice(0, SPLIT) if rank == 0 else slice(SPLIT, None)
    shard = Problem(full.model, full.loss_name, (x[sl], y[sl]), chunk_size=5)
    return shard, theta


def _worker(rank: int, world_size: int, port: int, out_path: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        problem, theta = _shard(rank)
        V = _probe(problem.num_params)
        H = DistributedHessianOperator(problem, theta)
        results = {
            "num_samples": H.num_samples,
            "hessian": H @ V,
            "hessian_layer": DistributedHessianOperator(problem, theta, params="3") @ V[30:],
            "ggn": DistributedGGNOperator(problem, theta, cache=True) @ V,
            "noise": DistributedNoiseCovarianceOperator(problem, theta, batch_size=BATCH_SIZE) @ V,
            "noise_fisher": DistributedNoiseCovarianceOperator(
                problem, theta, batch_size=BATCH_SIZE, form="fisher"
            )
            @ V,
        }
        if rank == 0:
            torch.save(results, out_path)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_two_gloo_processes_equal_single_process(tmp_path):
    out_path = str(tmp_path / "rank0.pt")
    spawn_gloo(_worker, out_path)  # retries the rendezvous on a port taken meanwhile
    got = torch.load(out_path)

    problem, theta = make(CASE)
    V = _probe(problem.num_params)
    assert got["num_samples"] == problem.num_samples
    expected = {
        "hessian": HessianOperator(problem, theta) @ V,
        "hessian_layer": HessianOperator(problem, theta, params="3") @ V[30:],
        "ggn": GGNOperator(problem, theta) @ V,
        "noise": NoiseCovarianceOperator(problem, theta, batch_size=BATCH_SIZE) @ V,
        "noise_fisher": NoiseCovarianceOperator(
            problem, theta, batch_size=BATCH_SIZE, form="fisher"
        )
        @ V,
    }
    for key, value in expected.items():
        assert_close_report(got[key], value, rtol=RTOL, label=key)
    # A wrong weighting (plain mean of the two shard means) would be far off: the test can fail.
    shard0, _ = _shard(0)
    shard1, _ = _shard(1)
    naive = (HessianOperator(shard0, theta) @ V + HessianOperator(shard1, theta) @ V) / 2
    assert not torch.allclose(naive, expected["hessian"], rtol=1e-3)


def test_data_parallel_requires_initialized_process_group():
    problem, theta = make(CASE)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedHessianOperator(problem, theta)
