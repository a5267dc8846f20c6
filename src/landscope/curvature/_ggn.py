"""The generalized Gauss-Newton matrix ``G = (1/n) sum_i J_i^T H_i J_i`` as a matrix-free operator.

``J_i`` is the Jacobian of the model output for sample i with respect to ``theta`` and
``H_i`` the Hessian of the per-sample loss with respect to that output.  G is the Hessian with
the second-derivative-of-the-network term dropped; it is positive semi-definite for losses
convex in the output.  For softmax cross-entropy ``H_i = diag(p_i) - p_i p_i^T`` and G equals the
Fisher information with labels drawn from the model's predictive distribution p_i; for the
squared error it is the Fisher of a Gaussian likelihood (up to the loss's scale).  Its relation to
the SGD noise covariance (the *empirical* Fisher, Fjellstrom eq. 2.8) is that the two coincide
when the observed labels are replaced by samples from the model.
"""

from __future__ import annotations

import torch

from landscope.curvature._hessian import ProblemOperator, backward_block

__all__ = ["GGNOperator"]


class GGNOperator(ProblemOperator):
    """The generalized Gauss-Newton matrix ``G = (1/n) sum_{i in S} J_i^T H_i J_i`` of a Problem's
    mean loss over the selected samples S, matrix-free.

    Each product is three passes through one (optionally cached) graph per chunk: ``J V`` (a
    backward through the graph of ``J^T u``, linear in the dummy ``u``), ``H_out (J V)`` (double
    backward of the loss in the output, cheap) and ``J^T (...)`` (a backward).  Same options as
    :class:`~landscope.curvature.HessianOperator`; restricted to a parameter group it is the
    diagonal block ``G[idx][:, idx]`` (only the Jacobian columns of the group enter).

    Args:
        problem, theta, indices, params, cache, block, backend, check_determinism: as for
            :class:`~landscope.curvature.HessianOperator` (the structured backend drops the
            terms of its Hessian product that carry first derivatives of the loss).

    Examples:
        >>> import torch
        >>> from landscope import Problem
        >>> x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
        >>> problem = Problem(torch.nn.Linear(3, 1).double(), "mse", (x, y))
        >>> theta = problem.theta_from_model()
        >>> from landscope.curvature import HessianOperator
        >>> torch.allclose(GGNOperator(problem, theta).to_dense(), HessianOperator(problem, theta).to_dense())
        True
    """

    _gauss_newton = True

    def _chunk_graph(self, x: torch.Tensor, y: torch.Tensor):
        with torch.enable_grad():
            sub, full = self._theta_sub_leaf()
            out = self.problem.output(full, x)
            # J^T u is linear in u, so differentiating it in u gives J v for any value of u.
            u = torch.zeros_like(out, requires_grad=True)
            (jtu,) = torch.autograd.grad(out, sub, u, create_graph=True)
            # Gradient of the chunk's weighted loss in the (detached) output: its derivative in
            # the output is the loss Hessian H_out, block diagonal over samples.
            o = out.detach().requires_grad_(True)
            loss = self.problem.per_sample_loss(o, y).sum() / self.num_samples
            (g_out,) = torch.autograd.grad(loss, o, create_graph=True)
        return sub, out, u, jtu, o, g_out

    def _chunk_product(self, graph, V: torch.Tensor) -> torch.Tensor:
        sub, out, u, jtu, o, g_out = graph
        JV = backward_block(jtu, u, V, self.block)  # (n_chunk * out_dim, k)
        HJV = backward_block(g_out, o, JV, self.block)
        return backward_block(out, sub, HJV, self.block)
