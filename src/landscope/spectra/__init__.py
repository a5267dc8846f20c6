"""Spectra summarized: outlier counts by a stated criterion, gap ratios, layer shares of
eigenvectors (shared by the subspace analyses, the reproductions and, as they land, the
random-matrix checks of weight matrices)."""

from landscope.spectra._marchenko_pastur import (
    TW1_QUANTILES,
    MarchenkoPastur,
    marchenko_pastur_cdf,
    marchenko_pastur_pdf,
    matrix_eigenvalues,
)
from landscope.spectra._outliers import (
    ZERO_RTOL,
    count_outliers,
    fix_sign,
    layer_shares,
    spectrum_summary,
)
from landscope.spectra._singular import (
    CONV_RESHAPES,
    WeightMatrix,
    remove_bulk,
    singular_matrices,
    weight_matrices,
)

__all__ = [
    # eigenvalues
    "ZERO_RTOL",
    "count_outliers",
    "spectrum_summary",
    # eigenvectors
    "fix_sign",
    "layer_shares",
    # random-matrix checks of weight matrices: Haink ch. 4, eq. 4.1-4.2, 6.1
    "CONV_RESHAPES",
    "MarchenkoPastur",
    "TW1_QUANTILES",
    "WeightMatrix",
    "marchenko_pastur_cdf",
    "marchenko_pastur_pdf",
    "matrix_eigenvalues",
    "remove_bulk",
    "singular_matrices",
    "weight_matrices",
]
