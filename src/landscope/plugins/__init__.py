"""The plugin contract of the training engine, and the registries analyses register into.

Three kinds of plugin extend training without editing the engine:

- online analyses (:data:`ONLINE_ANALYSES`, :class:`OnlineAnalysis`, :class:`StepContext`),
- update transforms (:data:`UPDATE_TRANSFORMS`, :class:`UpdateTransform`, :class:`UpdateContext`),
- loss penalties (:data:`LOSS_PENALTIES`, :class:`LossPenalty`, :class:`PenaltyContext`).

A package adds one with a decorator when it is imported::

    from landscope.plugins import ONLINE_ANALYSES

    @ONLINE_ANALYSES.register("my_measure")
    class MyMeasure:
        def __init__(self, every=100, name="my_measure", scale=1.0): ...
        def __call__(self, ctx): return {"value": ...}

and declares its module in the ``landscope.plugins`` entry-point group of its ``pyproject.toml``
(``my_measure = "mypackage.plugins"``) so that configs can name it (``analyses: [{name:
my_measure, every: 10}]``); the config schema checks names and options against these
registries.
"""

from landscope.plugins._contracts import (
    LossPenalty,
    OnlineAnalysis,
    PenaltyContext,
    StepContext,
    UpdateContext,
    UpdateTransform,
)
from landscope.plugins._registry import (
    ENTRY_POINT_GROUP,
    LOSS_PENALTIES,
    ONLINE_ANALYSES,
    UPDATE_TRANSFORMS,
    Plugin,
    Registry,
    load_plugins,
)

__all__ = [
    # registries
    "LOSS_PENALTIES",
    "ONLINE_ANALYSES",
    "UPDATE_TRANSFORMS",
    "Registry",
    "Plugin",
    "load_plugins",
    "ENTRY_POINT_GROUP",
    # contracts
    "LossPenalty",
    "OnlineAnalysis",
    "PenaltyContext",
    "StepContext",
    "UpdateContext",
    "UpdateTransform",
]
