"""The catalog entries of Goodfellow, Vinyals & Saxe (2015), *Qualitatively characterizing neural
network optimization problems* (ICLR 2015): one per experiment, registered on import.

=========================  =====================  ============================================
entry                      figures                module
=========================  =====================  ============================================
goodfellow-interpolation   2, 3, 4, 5             :mod:`._goodfellow_lines`
goodfellow-maxout          1, 18, 19              :mod:`._goodfellow_lines`
goodfellow-lstm            8, 16                  :mod:`._goodfellow_lines`
goodfellow-factored        9, 10, 14              :mod:`._goodfellow_linear`
goodfellow-deep-linear     15                     :mod:`._goodfellow_linear`
goodfellow-projection      11, 13 (App. B)        :mod:`._goodfellow_geometry`
goodfellow-surfaces        17, 21, 22 (App. C, D) :mod:`._goodfellow_geometry`
=========================  =====================  ============================================

Not reproduced: adversarial training (Fig. 1 top row, Fig. 17's adversarial ReLU net, the "narrow
canyon" of Fig. 18-19), Fig. 6 (CIFAR-10 convolutional net), Fig. 7 and 20 (MP-DBM), Fig. 12
(gradient descent on a synthetic 100,000-dimensional convex problem; ``project_trajectory``
computes it for any trajectory).  MNIST is replaced by the 8x8 digits and Penn Treebank by
generated Markov sequences (no download); the nets are smaller and train shorter, without
dropout, so the numbers differ while the statements checked are the paper's.
"""

from __future__ import annotations

from landscope.reproduce._catalog import Reproduction, register
from landscope.reproduce._goodfellow_common import PAPER
from landscope.reproduce._goodfellow_geometry import projection, surfaces
from landscope.reproduce._goodfellow_linear import deep_linear, factored
from landscope.reproduce._goodfellow_lines import interpolation, lstm, maxout

__all__ = ["ENTRIES"]

ENTRIES: tuple[Reproduction, ...] = tuple(
    register(entry)
    for entry in (
        Reproduction(
            name="goodfellow-interpolation",
            paper=PAPER,
            items="Fig. 2, 3, 4, 5",
            description="lines init -> solution of sigmoid / ReLU MLPs, high-resolution tiles, "
            "between two solutions, from random points",
            run=interpolation,
            configs=("goodfellow/sigmoid_digits", "goodfellow/relu_digits"),
            minutes=(0.3, 2.0),
        ),
        Reproduction(
            name="goodfellow-maxout",
            paper=PAPER,
            items="Fig. 1, 18, 19",
            description="maxout MLP (no adversarial training): line, learning curve, "
            "(alpha, beta) surface and its zoom",
            run=maxout,
            configs=("goodfellow/maxout_digits",),
            minutes=(0.3, 3.0),
        ),
        Reproduction(
            name="goodfellow-lstm",
            paper=PAPER,
            items="Fig. 8, 16",
            description="LSTM on order-2 Markov sequences: line init -> solution and "
            "(alpha, beta) surface",
            run=lstm,
            configs=("goodfellow/lstm_markov",),
            minutes=(0.8, 5.0),
        ),
        Reproduction(
            name="goodfellow-factored",
            paper=PAPER,
            items="Fig. 9, 10, 14",
            description="factored linear model (1 - w1 w2)^2: flat start, barrier on one branch "
            "of solutions, random starts, saddle and curvature by the Hessian operator",
            run=factored,
            minutes=(0.1, 0.3),
        ),
        Reproduction(
            name="goodfellow-deep-linear",
            paper=PAPER,
            items="Fig. 15",
            description="ten-matrix deep linear net on digits (MSE): curvature along the line "
            "by the Hessian operator, (alpha, beta) surface",
            run=deep_linear,
            minutes=(0.5, 2.0),
        ),
        Reproduction(
            name="goodfellow-projection",
            paper=PAPER,
            items="Fig. 11, 13 (App. B)",
            description="random walks of growing dimension; alpha(t), beta(t) of an SGD run vs "
            "a random-walk control",
            run=projection,
            configs=("goodfellow/relu_digits",),
            minutes=(0.2, 1.0),
        ),
        Reproduction(
            name="goodfellow-surfaces",
            paper=PAPER,
            items="Fig. 17, 21, 22 (App. C, D)",
            description="(alpha, beta) surface, random plane, alpha x random direction; "
            "filter-normalized and PCA planes (Li et al. 2018)",
            run=surfaces,
            configs=("goodfellow/relu_digits",),
            minutes=(0.4, 3.0),
        ),
    )
)
