"""Figures from result objects ("compute first, draw second").  matplotlib is imported lazily,
inside the plotting functions, and without pyplot."""

from landscope.plotting._diffusion import plot_diffusion_results
from landscope.plotting._forgetting import plot_forgetting_results
from landscope.plotting._landscape import (
    plot_interpolation,
    plot_surface,
    plot_trajectory_projection,
    save_figure,
)
from landscope.plotting._pca import plot_drift_results, plot_pca_results
from landscope.plotting._rmt import (
    plot_eigvec_stats_results,
    plot_overlaps_results,
    plot_svd_results,
)
from landscope.plotting._style import (
    HEATMAP_CMAP,
    PALETTE,
    SEQUENTIAL_CMAP,
    SavedFigure,
    new_figure,
    read_figure_index,
    save_figure_formats,
    style_context,
    write_figure_index,
)
from landscope.plotting._subspace import (
    plot_eigenvalues_over_training,
    plot_eigenvector_by_layer,
    plot_eigenvector_weights,
    plot_overlap_by_dimension,
    plot_spectrum,
    plot_subspace_overlap_grid,
    plot_top_subspace_fraction,
)

# one style for every figure (colour-blind-safe palette, PNG + SVG)
__all__ = [
    "HEATMAP_CMAP",
    "PALETTE",
    "SEQUENTIAL_CMAP",
    "SavedFigure",
    "new_figure",
    "read_figure_index",
    "save_figure_formats",
    "style_context",
    "write_figure_index",
]
# landscapes: Goodfellow, Vinyals & Saxe (2015); Li et al. (2018)
__all__ += [
    "plot_interpolation",
    "plot_surface",
    "plot_trajectory_projection",
    "save_figure",
    # top Hessian subspace: Gur-Ari, Roberts & Dyer (2018)
    "plot_eigenvalues_over_training",
    "plot_eigenvector_by_layer",
    "plot_eigenvector_weights",
    "plot_overlap_by_dimension",
    "plot_spectrum",
    "plot_subspace_overlap_grid",
    "plot_top_subspace_fraction",
    # trajectory PCA and drift mode: Haink (2023) sec. 3.2, ch. 6
    "plot_drift_results",
    "plot_pca_results",
    # random-matrix analyses: Haink ch. 4, 6.1, 7.1-7.6
    "plot_eigvec_stats_results",
    "plot_overlaps_results",
    "plot_svd_results",
]
# diffusion maps of the trajectory: Fjellstrom & Nystrom
__all__ += ["plot_diffusion_results"]
# defences against forgetting: Haink (2023) sec. 7.7, Fig. 7.22 / 7.23
__all__ += ["plot_forgetting_results"]
