"""Curvature: Hessian, GGN and SGD-noise operators on theta, and solvers on any operator."""

from landscope.curvature._base import CurvatureOperator, DenseOperator

__all__ = ["CurvatureOperator", "DenseOperator"]
