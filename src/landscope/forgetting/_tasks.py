"""Split tasks for continual learning: a partition of a dataset's classes (Haink sec. 7.7).

Task A = classes 0-4 and task B = classes 5-9 by default.  The labels keep their original values
and every task keeps all ``num_classes`` outputs (one shared head): a network trained on B may
then predict B's labels for A's images, which is the forgetting the thesis measures (its
"random guessing is no longer 20% for each task, but 0%").
"""

from __future__ import annotations

from collections.abc import Sequence

from landscope.data import SplitDataset, class_subset

__all__ = ["DEFAULT_TASKS", "split_tasks"]

#: Haink sec. 7.7: the first five classes, then the other five.
DEFAULT_TASKS: tuple[tuple[int, ...], ...] = ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))


def split_tasks(
    dataset: SplitDataset, tasks: Sequence[Sequence[int]] = DEFAULT_TASKS
) -> list[SplitDataset]:
    """One :class:`~landscope.data.SplitDataset` per task, each holding the train and test
    samples of its classes with their original labels (``num_classes`` unchanged).

    Args:
        dataset: a classification dataset (digits, MNIST-1D, MNIST / CIFAR-10 from local files).
        tasks: disjoint lists of class labels, e.g. ``[[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]``; they
            need not cover every class.

    Raises:
        ValueError: a task is empty, two tasks share a class, or a class is out of range (named).

    >>> from landscope.data import load_digits
    >>> a, b = split_tasks(load_digits())
    >>> sorted(set(a.train.y.tolist())), sorted(set(b.test.y.tolist())), a.num_classes
    ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9], 10)
    """
    tasks = [[int(c) for c in task] for task in tasks]
    if len(tasks) < 1 or any(not t for t in tasks):
        raise ValueError(f"tasks must be non-empty lists of classes, got {tasks}")
    seen: dict[int, int] = {}
    for i, task in enumerate(tasks):
        for c in task:
            if c in seen:
                raise ValueError(f"tasks {seen[c]} and {i} both contain class {c}")
            seen[c] = i
    return [class_subset(dataset, task, relabel=False) for task in tasks]
