"""Build the objects a :class:`RunConfig` describes: dataset, model, problems."""

from __future__ import annotations

import torch
from torch import nn

from landscope.config._schema import RunConfig, load_config
from landscope.data import SplitDataset
from landscope.problem import Problem

__all__ = [
    "build_dataset",
    "build_model",
    "build_problems",
    "resolve_device",
    "resolve_dtype",
]


def resolve_dtype(config: RunConfig) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[config.dtype]


def resolve_device(config: RunConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"config device is {config.device!r} but CUDA is not available")
    return device


def build_dataset(config: RunConfig | dict) -> SplitDataset:
    """The dataset of ``config.data`` with its label transform applied (seeded by the run seed)."""
    from landscope.data import class_subset, even_odd, load_dataset, permute_labels

    config = config if isinstance(config, RunConfig) else load_config(config)
    dc = config.data
    ds = load_dataset(dc.name, seed=config.seed, **dc.options)
    if dc.classes is not None:
        ds = class_subset(ds, dc.classes, relabel=True)
    if dc.labels == "even_odd":
        ds = even_odd(ds)
    elif dc.labels == "random":
        ds = permute_labels(ds, seed=config.seed)
    return ds


def build_model(config: RunConfig | dict, dataset: SplitDataset) -> nn.Module:
    """The model of ``config.model``, initialized as ``config.init`` says (float32, CPU), by
    its named initializers: ``init.from_run`` (another run's weights) is applied by the training
    engine (:func:`landscope.runs.load_run_weights`), so that a run's problems rebuilt later do
    not depend on the other run still being there."""
    from landscope.models import build_model as build
    from landscope.models import initialize

    config = config if isinstance(config, RunConfig) else load_config(config)
    model = build(
        config.model.name,
        input_shape=dataset.input_shape,
        output_dim=dataset.output_dim,
        **config.model.options,
    )
    init = config.init
    initialize(
        model,
        weight=init.weight,
        bias=init.bias,
        seed=config.seed if init.seed is None else init.seed,
        weight_params=init.weight_params or None,
        bias_params=init.bias_params or None,
    )
    return model


def build_problems(
    config: RunConfig | dict, *, dataset: SplitDataset | None = None, model: nn.Module | None = None
) -> tuple[Problem, Problem | None]:
    """``(train_problem, test_problem)`` for a run config; the test problem is ``None`` when the
    dataset has no test split.  The model is built and initialized from the config (so
    ``train_problem.theta_from_model()`` is the run's step-0 parameters, except with
    ``init.from_run``, which the training engine applies) unless given."""
    config = config if isinstance(config, RunConfig) else load_config(config)
    dataset = build_dataset(config) if dataset is None else dataset
    model = build_model(config, dataset) if model is None else model
    kwargs = dict(
        task=dataset.task,
        chunk_size=config.training.chunk_size,
        dtype=resolve_dtype(config),
        device=resolve_device(config),
    )
    loss = config.loss
    if config.loss_options:  # a sequence loss with options (validated by the config)
        from landscope.problem import SequenceCrossEntropy

        loss = SequenceCrossEntropy(
            shift=config.loss == "next_token_cross_entropy", **config.loss_options
        )
    train = Problem(model, loss, dataset.train, **kwargs)
    test = train.with_data(dataset.test) if len(dataset.test) > 0 else None
    return train, test
