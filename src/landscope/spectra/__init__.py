"""Spectra summarized: outlier counts by a stated criterion, gap ratios, layer shares of
eigenvectors (shared by the subspace analyses, the reproductions and, as they land, the
random-matrix checks of weight matrices)."""

from landscope.spectra._eigvec_stats import (
    inverse_participation_ratio,
    layer_concentration,
    loss_along_eigenvector,
    neighbour_average,
    porter_thomas_pvalues,
    smoothed_density,
    weight_product,
)
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
from landscope.spectra._overlaps import (
    abs_overlaps,
    layer_overlaps,
    overlap_summary,
)
from landscope.spectra._singular import (
    CONV_RESHAPES,
    WeightMatrix,
    remove_bulk,
    singular_matrices,
    weight_matrices,
)
from landscope.spectra._spacing import (
    R_GOE,
    R_POISSON,
    SpacingTest,
    spacing_test,
    unfolded_spacings,
    wigner_surmise_cdf,
    wigner_surmise_pdf,
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
    # level spacings vs the Wigner surmise: Haink eq. 4.3, Fig. 7.16
    "R_GOE",
    "R_POISSON",
    "SpacingTest",
    "spacing_test",
    "unfolded_spacings",
    "wigner_surmise_cdf",
    "wigner_surmise_pdf",
    # overlap maps between bases: Haink eq. 6.2, 7.4, 7.5, Fig. 7.1
    "abs_overlaps",
    "layer_overlaps",
    "overlap_summary",
    # Hessian eigenvector statistics: Haink sec. 7.5-7.6, eq. 7.2, 7.6-7.9
    "inverse_participation_ratio",
    "layer_concentration",
    "loss_along_eigenvector",
    "neighbour_average",
    "porter_thomas_pvalues",
    "smoothed_density",
    "weight_product",
    # analyses of a recorded run (the analysis contract)
    "EigvecStatsSettings",
    "OverlapsSettings",
    "SVDSettings",
    "run_eigvec_stats_analysis",
    "run_overlaps_analysis",
    "run_svd_analysis",
]

#: analyses of a recorded run, loaded on first use (their settings models need pydantic, which
#: the core import of landscope.spectra -- e.g. by landscope.subspace -- must not pull in)
_LAZY = {
    "EigvecStatsSettings",
    "OverlapsSettings",
    "SVDSettings",
    "run_eigvec_stats_analysis",
    "run_overlaps_analysis",
    "run_svd_analysis",
}


def __getattr__(name: str):
    if name in _LAZY:
        from landscope.spectra import _analysis

        return getattr(_analysis, name)
    raise AttributeError(f"module 'landscope.spectra' has no attribute {name!r}")
