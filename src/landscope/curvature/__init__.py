"""Curvature: Hessian, GGN and SGD-noise operators on theta, and solvers on any operator."""

from landscope.curvature._base import CurvatureOperator, DenseOperator
from landscope.curvature._dense import DEFAULT_MAX_PARAMS, dense_hessian, hessian_eigh
from landscope.curvature._distributed import (
    DataParallelOperator,
    DistributedGGNOperator,
    DistributedHessianOperator,
    DistributedNoiseCovarianceOperator,
)
from landscope.curvature._ggn import GGNOperator
from landscope.curvature._hessian import (
    HessianOperator,
    ParameterSelection,
    check_operator_determinism,
    select_parameters,
)
from landscope.curvature._lanczos import EigenResult, top_eigenpairs
from landscope.curvature._noise import NoiseCovarianceOperator, noise_covariance_scale
from landscope.curvature._per_sample import per_sample_gradients
from landscope.curvature._slq import SpectralDensity, spectral_density
from landscope.curvature._summary import (
    DensitySettings,
    SummarySettings,
    TraceSettings,
    curvature_summary,
    format_table,
)
from landscope.curvature._trace import TraceEstimate, hutchinson_trace, hutchpp_trace

__all__ = [
    # operator contract
    "CurvatureOperator",
    "DenseOperator",
    # operators on a Problem
    "GGNOperator",
    "HessianOperator",
    "NoiseCovarianceOperator",
    "ParameterSelection",
    "check_operator_determinism",
    "noise_covariance_scale",
    "per_sample_gradients",
    "select_parameters",
    # dense path (small problems, one layer's block)
    "DEFAULT_MAX_PARAMS",
    "dense_hessian",
    "hessian_eigh",
    # data-parallel over torch.distributed
    "DataParallelOperator",
    "DistributedGGNOperator",
    "DistributedHessianOperator",
    "DistributedNoiseCovarianceOperator",
    # solvers on any operator: eigenpairs, spectral density, trace
    "EigenResult",
    "SpectralDensity",
    "TraceEstimate",
    "hutchinson_trace",
    "hutchpp_trace",
    "spectral_density",
    "top_eigenpairs",
    # one-call summary (landscope hessian)
    "DensitySettings",
    "SummarySettings",
    "TraceSettings",
    "curvature_summary",
    "format_table",
]
