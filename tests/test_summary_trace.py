"""The SLQ trace in curvature_summary comes with its standard error over the probes, and the
true trace lies within it (issue 12: no estimate printed without its uncertainty)."""

from __future__ import annotations

import math

import torch

from _problems import CASE_NAMES, make
from landscope.curvature import (
    DensitySettings,
    SummarySettings,
    curvature_summary,
    dense_hessian,
    format_table,
)


def test_slq_trace_has_a_standard_error_that_covers_the_dense_trace():
    name = CASE_NAMES[0]
    problem, theta = make(name, dtype=torch.float64)
    settings = SummarySettings(top_k=2, density=DensitySettings(probes=40, lanczos_steps=20))
    out = curvature_summary(problem, theta, settings)
    d = out["density"]
    exact = float(torch.trace(dense_hessian(problem, theta)))
    se = d["trace_standard_error"]
    assert se > 0 and math.isfinite(se)
    # Rademacher probes: the estimate is unbiased; |error| <= 5 standard errors fails with
    # probability < 1e-6 for a Gaussian-like mean of 40 probes (a wrong SE, e.g. one not
    # multiplied by p, fails this)
    assert abs(d["trace_estimate"] - exact) <= 5 * se, (d["trace_estimate"], exact, se)
    assert se < abs(exact)  # and it is informative
    text = format_table(out)
    assert f"+- {se:.2g} (std. error over the probes)" in text
