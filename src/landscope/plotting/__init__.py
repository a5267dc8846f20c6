"""Figures from result objects ("compute first, draw second").  matplotlib is imported lazily,
inside the plotting functions, and without pyplot."""

from landscope.plotting._landscape import (
    plot_interpolation,
    plot_surface,
    plot_trajectory_projection,
    save_figure,
)

# landscapes: Goodfellow, Vinyals & Saxe (2015); Li et al. (2018)
__all__ = [
    "plot_interpolation",
    "plot_surface",
    "plot_trajectory_projection",
    "save_figure",
]
