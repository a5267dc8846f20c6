"""The run configuration: one pydantic schema, loadable from YAML.

A run is fully described by a :class:`RunConfig`: which data, which model and initialization,
which loss, optimizer and learning-rate schedule, how minibatches are drawn, the seed, what to
record to disk and which online analyses to run.  Invalid configs fail with a message naming the
field (``optimizer.lr``) and, for choices, the allowed values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from landscope.plugins import LOSS_PENALTIES, ONLINE_ANALYSES, UPDATE_TRANSFORMS, Registry
from landscope.problem import LossName

__all__ = [
    "AnalysisConfig",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "InitConfig",
    "ModelConfig",
    "OptimizerConfig",
    "PipelineConfig",
    "RecordConfig",
    "RunConfig",
    "ScheduleConfig",
    "StepSelection",
    "TrainingConfig",
    "load_config",
]


class ConfigError(ValueError):
    """A configuration that does not validate; the message names every offending field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    """Which dataset (``landscope datasets`` lists them) and how to transform its labels."""

    name: str = Field("digits", description="dataset name from the registry")
    options: dict[str, Any] = Field(
        default_factory=dict, description="keyword options of the dataset"
    )
    labels: Literal["original", "random", "even_odd"] = Field(
        "original",
        description="label transform: random permutation (Gur-Ari), even/odd (2 classes)",
    )
    classes: list[int] | None = Field(
        None, description="keep only these classes (split tasks), relabelled 0..k-1"
    )

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from landscope.data import DATASETS

        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(sorted(DATASETS))}")
        return name


class ModelConfig(_Strict):
    """Which model from the zoo (``landscope models`` lists them) and its options."""

    name: str = Field("mlp", description="model name from the registry")
    options: dict[str, Any] = Field(
        default_factory=dict, description="keyword options of the model builder"
    )

    @field_validator("name")
    @classmethod
    def _known_model(cls, name: str) -> str:
        from landscope.models import MODELS

        if name not in MODELS:
            raise ValueError(f"unknown model {name!r}; allowed: {', '.join(sorted(MODELS))}")
        return name


class InitConfig(_Strict):
    """Named initialization of weights and biases (Fjellstrom Table 5 set), or the weights of
    another recorded run (``from_run``: fine-tuning, a second task after a first, Haink ch. 8's
    forgetting protocol written as two configs)."""

    weight: str = "glorot_uniform"
    bias: str = "zeros"
    weight_params: dict[str, Any] = Field(default_factory=dict)
    bias_params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = Field(None, description="initialization seed (default: the run seed)")
    from_run: str | None = Field(
        None,
        description="start from the recorded weights of this run folder (relative paths: to "
        "the working directory); its parameter layout must equal the model's.  The "
        "initializers above are then not used",
    )
    from_step: int | Literal["init", "last"] = Field(
        "last", description="with from_run: which recorded step's weights (a step, init, last)"
    )

    @model_validator(mode="after")
    def _step_needs_run(self) -> InitConfig:
        if self.from_run is None and self.from_step != "last":
            raise ValueError("from_step is set but from_run is not: name the run to start from")
        return self

    @field_validator("weight", "bias")
    @classmethod
    def _known_init(cls, name: str) -> str:
        from landscope.models import INITIALIZERS

        if name not in INITIALIZERS:
            raise ValueError(
                f"unknown initializer {name!r}; allowed: {', '.join(sorted(INITIALIZERS))}"
            )
        return name


class OptimizerConfig(_Strict):
    """SGD with optional momentum in the convention v(t+1) = -lr g + momentum v(t),
    theta(t+1) = theta(t) + v(t+1) (Haink eq. 2.5), or Adam (Kingma & Ba, with bias correction).

    ``weight_decay`` (lambda) is applied as ``weight_decay_mode``:
    ``"l2"`` adds (lambda / 2) ||theta||^2 to the minibatch loss (gradient + lambda theta, the
    PyTorch convention; Keras' ``l2(c)`` regularizer is lambda = 2c);
    ``"decoupled"`` shrinks theta by lr * lambda * theta after the step (AdamW / SGDW).
    """

    name: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    weight_decay_mode: Literal["l2", "decoupled"] = "l2"
    weight_decay_on_bias: bool = True
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)

    @model_validator(mode="after")
    def _momentum_sgd_only(self) -> OptimizerConfig:
        if self.name == "adam" and self.momentum != 0.0:
            raise ValueError("momentum applies to sgd only; for adam set betas")
        return self


class ScheduleConfig(_Strict):
    """Learning-rate schedule.

    - ``constant``: lr.
    - ``exponential``: lr * decay ** epoch (Haink: 0.01 * 0.99^epoch).
    - ``piecewise``: ``values[i]`` (absolute learning rates) from epoch ``boundaries[i-1]`` on;
      ``values`` has one more entry than ``boundaries``.
    """

    kind: Literal["constant", "exponential", "piecewise"] = "constant"
    decay: float = Field(1.0, gt=0)
    boundaries: list[int] = Field(default_factory=list)
    values: list[float] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_piecewise(self) -> ScheduleConfig:
        if self.kind == "piecewise":
            if len(self.values) != len(self.boundaries) + 1:
                raise ValueError("piecewise schedule needs len(values) == len(boundaries) + 1")
            if sorted(self.boundaries) != self.boundaries:
                raise ValueError("piecewise schedule boundaries must be increasing")
        return self


class TrainingConfig(_Strict):
    """How minibatches are drawn and for how long."""

    batch_size: int = Field(64, ge=1)
    epochs: float | None = Field(
        None, gt=0, description="training length in epochs (steps = epochs * N / batch)"
    )
    steps: int | None = Field(
        None, ge=0, description="training length in SGD steps (overrides epochs)"
    )
    sampling: Literal["without_replacement", "with_replacement"] = "without_replacement"
    drop_last: bool = Field(
        True, description="without replacement: drop a ragged last batch of each epoch"
    )
    model_mode: Literal["train", "eval"] = Field(
        "train",
        description="mode of the model for minibatch gradients (dropout, BatchNorm statistics)",
    )
    chunk_size: int | None = Field(
        4096, ge=1, description="samples per chunk in full-dataset evaluation"
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="torch intra-op threads during the run (default: torch's setting); one "
        "thread is faster for small nets on few cores (benchmarks/results/recording.md)",
    )

    @model_validator(mode="after")
    def _length(self) -> TrainingConfig:
        if self.epochs is None and self.steps is None:
            raise ValueError("set training.epochs or training.steps")
        return self


class StepSelection(_Strict):
    """Which steps to record: ``every`` k steps, an explicit list of ``steps``, and/or
    ``log_spaced`` n points between 1 and the last step; step 0 and the last step are always in."""

    every: int | None = Field(None, ge=1)
    steps: list[int] | None = None
    log_spaced: int | None = Field(None, ge=1)
    enabled: bool = True


class EvalConfig(StepSelection):
    """Full-dataset train (and test) loss/accuracy at selected steps."""

    every: int | None = Field(50, ge=1)
    test: bool = True


class RecordConfig(_Strict):
    """What the trajectory store holds, how often, and how it is stored.

    Strides: ``params.every`` is the stride of theta *and* of ``updates`` (the update of each
    recorded params step, so ``params[t] + updates[t] = theta(t+1)`` for every recorded t);
    ``batches_every`` that of the minibatch records (indices, loss, penalty values: they can
    also be recomputed, a minibatch is a function of (seed, step)); ``lr`` is recorded every
    update (8 bytes a step); ``eval`` has its own selection.

    Size on disk per recorded step, without compression: ``4 p`` bytes each for ``params`` and
    ``updates`` in float32 (8 p in float64), ``8 * batch_size + 8`` for the minibatch and 8 for
    ``lr``, plus 8 bytes of step per record of each series; e.g. 4.3 kB a step for the Iris net
    (p = 515, batch 20) and 141 kB for the digits net (p = 17,610, batch 64).  ``compression``
    (Blosc, byte shuffle; lz4 by default) shrinks that to 3.2 kB and 118 kB (zstd: 2.9 kB and
    108 kB); measured sizes and write cost: ``benchmarks/results/compression.md``.
    """

    params: StepSelection = Field(default_factory=lambda: StepSelection(every=1))
    updates: bool = Field(
        True, description="theta(t+1) - theta(t) at every recorded params step (its stride)"
    )
    batches: bool = Field(True, description="minibatch indices and minibatch loss")
    batches_every: int = Field(
        1, ge=1, description="record the minibatch of every k-th update (1: every update)"
    )
    lr: bool = True
    eval: EvalConfig = Field(default_factory=EvalConfig)
    flush_every: int = Field(
        256, ge=1, description="steps between flushes to disk (and checkpoints)"
    )
    compression: Literal["none", "lz4", "zstd"] = Field(
        "lz4",
        description="chunk compression of every series: lz4 (default: 18-28% smaller for no "
        "more CPU than raw writes), zstd (25-35% smaller, up to 2x the CPU per recorded step) "
        "or none (Blosc with byte shuffle; benchmarks/results/compression.md)",
    )


def _check_plugin(registry: Registry, name: str, options: dict) -> None:
    """A config names a plugin: it must be registered and take these options."""
    registry.get(name).check_options(options, registry.fixed)


class AnalysisConfig(_Strict):
    """An online analysis run every ``every`` steps during training: a name registered in
    :data:`landscope.plugins.ONLINE_ANALYSES` (``gradient_norm``, ``layer_norms``;
    ``top_subspace``, ``gradient_overlap`` from :mod:`landscope.subspace`; ...) and its options."""

    name: str
    every: int = Field(100, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _registered(self) -> AnalysisConfig:
        _check_plugin(ONLINE_ANALYSES, self.name, self.options)
        return self


class UpdateTransformConfig(_Strict):
    """A transform of each optimizer update: a name registered in
    :data:`landscope.plugins.UPDATE_TRANSFORMS` (e.g. ``top_subspace_sgd``, SGD projected onto
    the top-k Hessian subspace, or ``low_rank_newton``, eq. 11, from :mod:`landscope.subspace`,
    with options ``k``, ``refresh_every``, ``max_samples``, ``tol``; ``scale`` for Newton)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _registered(self) -> UpdateTransformConfig:
        _check_plugin(UPDATE_TRANSFORMS, self.name, self.options)
        return self


class PenaltyConfig(_Strict):
    """A term added to every minibatch loss: a name registered in
    :data:`landscope.plugins.LOSS_PENALTIES` (e.g. ``l2_anchor`` with ``strength``, ``anchor``)
    and its options."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _registered(self) -> PenaltyConfig:
        _check_plugin(LOSS_PENALTIES, self.name, self.options)
        return self


class PipelineConfig(_Strict):
    """What ``landscope run`` computes after training (:mod:`landscope.pipeline`): analyses of
    the recorded run by name (``landscope.pipeline.step_names()``), in the order given, each
    with its settings (None or ``{}``: the defaults), e.g. ``analyses: {hessian: {top_k: 10},
    surface: {}}``.  Names and settings are checked against the pipeline's registry when
    ``landscope run`` / ``landscope validate`` starts (this layer does not import analyses);
    the field does not change training."""

    analyses: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict, description="analysis name -> its settings, run in this order"
    )


class RunConfig(_Strict):
    """Everything that defines a training run (``pipeline``: what ``landscope run`` computes
    after it)."""

    name: str = "run"
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    device: str = Field("cpu", description="'cpu', 'cuda', 'cuda:1' or 'auto'")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    init: InitConfig = Field(default_factory=InitConfig)
    loss: LossName = "cross_entropy"
    loss_options: dict[str, Any] = Field(
        default_factory=dict,
        description="options of a sequence loss (token_cross_entropy, next_token_cross_entropy): "
        "average ('tokens' or 'sequences'), ignore_index",
    )
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    training: TrainingConfig = Field(default_factory=lambda: TrainingConfig(epochs=1))
    record: RecordConfig = Field(default_factory=RecordConfig)
    analyses: list[AnalysisConfig] = Field(default_factory=list)
    update_transform: UpdateTransformConfig | None = None
    penalties: list[PenaltyConfig] = Field(default_factory=list)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    notes: str = ""

    @model_validator(mode="after")
    def _loss_options(self) -> RunConfig:
        from landscope.problem import SEQUENCE_LOSSES

        if not self.loss_options:
            return self
        if self.loss not in SEQUENCE_LOSSES:
            raise ValueError(
                f"loss_options: loss {self.loss!r} takes no options (only the sequence losses "
                f"{', '.join(SEQUENCE_LOSSES)} do)"
            )
        unknown = sorted(set(self.loss_options) - {"average", "ignore_index"})
        if unknown:
            raise ValueError(
                f"loss_options: unknown option(s) {unknown}; allowed: average, ignore_index"
            )
        average = self.loss_options.get("average", "tokens")
        if average not in ("tokens", "sequences"):
            raise ValueError(
                f"loss_options.average must be 'tokens' or 'sequences', got {average!r}"
            )
        return self

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        if device != "auto" and not (
            device == "cpu" or device.startswith("cuda") or device == "mps"
        ):
            raise ValueError(f"device must be 'cpu', 'cuda[:N]', 'mps' or 'auto', got {device!r}")
        return device

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        return load_config(path)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def load_config(source: str | Path | dict) -> RunConfig:
    """Validate a config from a YAML file path or a dict; raise :class:`ConfigError` naming the
    offending fields and allowed values."""
    if isinstance(source, dict):
        data, where = source, "(dict)"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
        where = str(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a YAML mapping, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, where)) from None
