"""Spectra summarized: outlier counts by a stated criterion, gap ratios, layer shares of
eigenvectors (shared by the subspace analyses, the reproductions and, as they land, the
random-matrix checks of weight matrices)."""

from landscope.spectra._outliers import (
    ZERO_RTOL,
    count_outliers,
    fix_sign,
    layer_shares,
    spectrum_summary,
)

__all__ = [
    # eigenvalues
    "ZERO_RTOL",
    "count_outliers",
    "spectrum_summary",
    # eigenvectors
    "fix_sign",
    "layer_shares",
]
