"""Names of the series a training run records: the run-folder format in one place.

Conventions (also in ``meta.json``): ``params[t]`` is theta after t updates (step 0 is the
initialization); ``updates[t] = params[t+1] - params[t]``; ``batch_*[t]`` and ``lr[t]`` belong to
update t; evaluation metrics are at theta(t).  An online analysis ``name`` writes its values to
``"<name>.<key>"`` (:func:`analysis_series`).
"""

from __future__ import annotations

__all__ = ["Series", "analysis_series"]


class Series:
    """The series names of a run folder (plain strings, usable wherever a name is taken).

    >>> Series.PARAMS
    'params'
    """

    #: theta(t), shape (p,)
    PARAMS = "params"
    #: theta(t+1) - theta(t), shape (p,)
    UPDATES = "updates"
    #: sample indices of minibatch t, shape (batch_size,), -1 padded
    BATCH_INDICES = "batch_indices"
    #: minibatch loss of update t
    BATCH_LOSS = "batch_loss"
    #: learning rate of update t
    LR = "lr"
    #: full training-set loss / accuracy at theta(t)
    TRAIN_LOSS = "train_loss"
    TRAIN_ACCURACY = "train_accuracy"
    #: full test-set loss / accuracy at theta(t)
    TEST_LOSS = "test_loss"
    TEST_ACCURACY = "test_accuracy"


def analysis_series(analysis: str, key: str) -> str:
    """The series name of value ``key`` of online analysis ``analysis``.

    >>> analysis_series("top_subspace", "fraction")
    'top_subspace.fraction'
    """
    return f"{analysis}.{key}"
