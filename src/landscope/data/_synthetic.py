"""Synthetic datasets of Gur-Ari, Roberts & Dyer (2018): the Gaussian-mixture toy model (sec. 3,
App. E) and the noisy sine regression of Table 1."""

from __future__ import annotations

import math

import numpy as np

from landscope.data._split import check_test_fraction, rng, split_indices, tensor_data
from landscope.data._types import SplitDataset

__all__ = ["load_gaussian_mixture", "load_sine", "mixture_means"]


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def mixture_means(k: int, d: int, kind: str = "random", *, seed: int = 0) -> np.ndarray:
    """Class means for the Gaussian-mixture toy model, shape (k, d), float64, unit rows.

    ``"random"``: independent uniform random unit vectors (normalized standard Gaussians),
    *not* orthogonalized, as Gur-Ari et al. use in their experiments (footnote 13; overlaps are
    about d**-0.5).  ``"orthonormal"``: orthonormal rows (QR of a Gaussian matrix, needs
    k <= d), the exact assumption of their analytic solution (eq. 7-9, App. E).

    >>> m = mixture_means(3, 5, "orthonormal")
    >>> bool(np.allclose(m @ m.T, np.eye(3)))
    True
    """
    k, d = _positive_int(k, "k"), _positive_int(d, "d")
    g = rng(seed, "gaussian_mixture/means").standard_normal((d, k))
    if kind == "random":
        return (g / np.linalg.norm(g, axis=0)).T
    if kind == "orthonormal":
        if k > d:
            raise ValueError(f"orthonormal means need k <= d, got k={k}, d={d}")
        q, r = np.linalg.qr(g)
        return (q * np.sign(np.diag(r))).T
    raise ValueError(
        f"means must be 'random', 'orthonormal' or an array of shape (k, d), got {kind!r}"
    )


def load_gaussian_mixture(
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    k: int = 2,
    d: int = 1000,
    sigma: float = 0.02,
    n_per_class: int = 100,
    means: str | np.ndarray | list = "random",
) -> SplitDataset:
    """Gaussian mixture of Gur-Ari et al. (2018) sec. 3: class c has samples x ~ N(mu_c, sigma^2 I_d).

    Their experiments use d = 1000, k = 2, 5, 10 and sigma = 0 or 0.02 with random unit means
    not constrained to be orthogonal (footnote 13); the analytic solution (eq. 7-9) takes
    sigma -> 0 and orthogonal means.  The paper gives no sample count; ``n_per_class`` samples are
    drawn per class (``k * n_per_class`` in all), and a stratified ``test_fraction`` of them is
    held out (``test_fraction=0.0``: all of them train, exactly ``n_per_class`` per class).

    ``means``: ``"random"`` or ``"orthonormal"`` (see :func:`mixture_means`), or an array of shape
    (k, d) (then ``k`` and ``d`` are taken from it).  ``meta["means"]`` holds the means used as a
    (k, d) nested list, for the closed forms of eq. 7-9 and 18.

    Shapes: ``x`` (N, d) float32; ``y`` (N,) int64 in 0..k-1.

    >>> ds = load_gaussian_mixture(k=3, d=10, n_per_class=5, test_fraction=0.0)
    >>> ds.input_shape, ds.num_classes, len(ds.train), np.asarray(ds.meta["means"]).shape
    ((10,), 3, 15, (3, 10))
    """
    check_test_fraction(test_fraction)
    n_per_class = _positive_int(n_per_class, "n_per_class")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or sigma < 0:
        raise ValueError(f"sigma must be a non-negative number, got {sigma!r}")
    if isinstance(means, str):
        kind = means
        mu = mixture_means(k, d, means, seed=seed)
    else:
        kind = "given"
        mu = np.asarray(means, dtype=np.float64)
        if mu.ndim != 2:
            raise ValueError(f"means must be an array of shape (k, d), got shape {mu.shape}")
        k, d = mu.shape
    k = _positive_int(k, "k")
    y = np.repeat(np.arange(k), n_per_class)
    noise = rng(seed, "gaussian_mixture/noise").standard_normal((len(y), d))
    x = mu[y] + float(sigma) * noise
    train, test = split_indices(len(y), test_fraction, seed, labels=y if test_fraction else None)
    if test_fraction == 0.0:  # still shuffle the class-sorted samples
        train = rng(seed, "gaussian_mixture/order").permutation(len(y))
    return SplitDataset(
        name="gaussian_mixture",
        train=tensor_data(x[train], y[train], "classification"),
        test=tensor_data(x[test], y[test], "classification"),
        task="classification",
        num_classes=k,
        description=f"Gaussian mixture (Gur-Ari et al. 2018 sec. 3): k={k} classes in d={d}, sigma={sigma}",
        meta={
            "source": "synthetic",
            "seed": seed,
            "test_fraction": test_fraction,
            "k": k,
            "d": d,
            "sigma": float(sigma),
            "n_per_class": n_per_class,
            "means_kind": kind,
            "means_shape": [k, d],
            "means": mu.tolist(),
        },
    )


def load_sine(
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    num_samples: int = 1000,
    noise: float = 0.1,
    low: float = -math.pi,
    high: float = math.pi,
) -> SplitDataset:
    """Noisy sine regression of Gur-Ari et al. (2018) Table 1: "sampled from one period of a sine
    function with Gaussian noise of standard deviation 0.1".

    x ~ Uniform[low, high) (default one period, [-pi, pi)), y = sin(x) + noise * N(0, 1).  The
    paper states no sample count; ``num_samples`` are drawn in all and a random
    ``test_fraction`` held out (default 800 train / 200 test).

    Shapes: ``x`` (N, 1) float32; ``y`` (N,) float32.

    >>> ds = load_sine(num_samples=10, noise=0.0)
    >>> x, y = ds.train.x.numpy(), ds.train.y.numpy()
    >>> ds.input_shape, bool(np.allclose(y, np.sin(x[:, 0]), atol=1e-6))
    ((1,), True)
    """
    check_test_fraction(test_fraction)
    num_samples = _positive_int(num_samples, "num_samples")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
        raise ValueError(f"noise must be a non-negative number, got {noise!r}")
    if not float(low) < float(high):
        raise ValueError(f"need low < high, got low={low}, high={high}")
    gen = rng(seed, "sine")
    x = gen.uniform(low, high, size=(num_samples, 1))
    y = np.sin(x[:, 0]) + float(noise) * gen.standard_normal(num_samples)
    train, test = split_indices(num_samples, test_fraction, seed)
    return SplitDataset(
        name="sine",
        train=tensor_data(x[train], y[train], "regression"),
        test=tensor_data(x[test], y[test], "regression"),
        task="regression",
        num_classes=None,
        description=f"y = sin(x) + N(0, {noise}^2), x uniform on [{low:.3g}, {high:.3g}) (Gur-Ari et al. Table 1)",
        meta={
            "source": "synthetic",
            "seed": seed,
            "test_fraction": test_fraction,
            "num_samples": num_samples,
            "noise": float(noise),
            "low": float(low),
            "high": float(high),
        },
    )
