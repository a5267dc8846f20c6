"""Run configuration (pydantic schema, YAML) and the builders it drives."""

from landscope.config._build import (
    build_dataset,
    build_model,
    build_problems,
    resolve_device,
    resolve_dtype,
)
from landscope.config._schema import (
    AnalysisConfig,
    ConfigError,
    DataConfig,
    EvalConfig,
    InitConfig,
    ModelConfig,
    OptimizerConfig,
    PenaltyConfig,
    PipelineConfig,
    RecordConfig,
    RunConfig,
    ScheduleConfig,
    StepSelection,
    TrainingConfig,
    UpdateTransformConfig,
    load_config,
)

__all__ = [
    # schema
    "AnalysisConfig",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "InitConfig",
    "ModelConfig",
    "OptimizerConfig",
    "PenaltyConfig",
    "PipelineConfig",
    "RecordConfig",
    "RunConfig",
    "ScheduleConfig",
    "StepSelection",
    "TrainingConfig",
    "UpdateTransformConfig",
    # builders
    "build_dataset",
    "build_model",
    "build_problems",
    "load_config",
    "resolve_device",
    "resolve_dtype",
]
