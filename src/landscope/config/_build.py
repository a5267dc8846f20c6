"""Build the objects a :class:`RunConfig` describes: dataset, model, problems."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from landscope.config._schema import ConfigError, RunConfig, load_config
from landscope.data import SplitDataset
from landscope.problem import Problem

__all__ = [
    "build_dataset",
    "build_model",
    "build_problems",
    "load_run_weights",
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
    """The model of ``config.model``, initialized as ``config.init`` says (float32, CPU)."""
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
    if init.from_run is not None:
        return load_run_weights(model, init.from_run, init.from_step)
    initialize(
        model,
        weight=init.weight,
        bias=init.bias,
        seed=config.seed if init.seed is None else init.seed,
        weight_params=init.weight_params or None,
        bias_params=init.bias_params or None,
    )
    return model


def load_run_weights(model: nn.Module, run_dir: str | Path, step: int | str = "last") -> nn.Module:
    """Copy the weights a run recorded at ``step`` (a step, ``"init"`` or ``"last"``) into
    ``model``'s trainable parameters, in place (the model becomes float64 when the run stored
    float64, so no bit is lost); the run's parameter layout (names, shapes, order) must equal
    the model's.  Errors name ``init.from_run`` / ``init.from_step``."""
    from landscope.problem import ParameterLayout
    from landscope.runs import open_run

    try:
        run = open_run(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"init.from_run: {exc}") from None
    layout = ParameterLayout.from_module(model)
    if run.layout is None:
        raise ConfigError(f"init.from_run: run {run_dir} has no parameter layout in meta.json")
    if run.layout != layout:
        theirs = {s.name: s.shape for s in run.layout}
        ours = {s.name: s.shape for s in layout}
        diff = [
            f"{n}: {theirs.get(n, 'missing')} in the run, {ours.get(n, 'missing')} in the model"
            for n in dict.fromkeys([*ours, *theirs])
            if theirs.get(n) != ours.get(n)
        ]
        raise ConfigError(
            f"init.from_run: run {run_dir} has a different parameter layout than the model "
            f"({'; '.join(diff[:3]) or 'same tensors in another order'})"
        )
    try:
        theta = run.theta(step)  # in the stored precision
    except (KeyError, ValueError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        raise ConfigError(f"init.from_step: {msg}") from None
    if not bool(torch.isfinite(theta).all()):
        raise ConfigError(
            f"init.from_run: the weights of run {run_dir} at step {step} are not finite"
        )
    if theta.dtype == torch.float64:  # keep every bit of a float64 run
        model.double()
    with torch.no_grad():
        for slot, (_, param) in zip(
            layout, ((n, p) for n, p in model.named_parameters() if p.requires_grad), strict=True
        ):
            param.copy_(theta[slot.slice].reshape(slot.shape).to(param.dtype))
    return model


def build_problems(
    config: RunConfig | dict, *, dataset: SplitDataset | None = None, model: nn.Module | None = None
) -> tuple[Problem, Problem | None]:
    """``(train_problem, test_problem)`` for a run config; the test problem is ``None`` when the
    dataset has no test split.  The model is built and initialized from the config (so
    ``train_problem.theta_from_model()`` is the run's step-0 parameters) unless given."""
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
