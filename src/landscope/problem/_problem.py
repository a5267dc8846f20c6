"""The :class:`Problem`: a model, a loss and a dataset seen as functions of one flat ``theta``.

Every analysis in landscope takes a ``Problem``.  It evaluates the empirical risk
``f(theta) = (1/N) sum_i f_i(theta)`` (Fjellstrom eq. 1.1), its gradient, the model's
predictions and accuracy, on the whole dataset or on any subset of sample indices, in
memory-bounded chunks whose sum equals the one-batch result (each chunk contributes
``sum_{i in chunk} f_i / N``, so a ragged last chunk is weighted right).

The model is evaluated with :func:`torch.func.functional_call` on *views* of ``theta``: the
user's ``nn.Module`` is never modified (its parameters, buffers and train/eval flags are the
same after any call as before).

Models are taken as they come (:mod:`landscope.problem._batch`): inputs that are tensors, tuples
or dicts (``input_ids``, ``attention_mask``, ...), outputs that are tensors, tuples or Hugging
Face ``ModelOutput`` s (``output=`` picks the tensor the loss reads, ``.logits`` by default), data
as tensors, dicts of tensors, datasets of dict samples or DataLoaders yielding dicts.  Sequence
losses count one sequence as one sample (:class:`~landscope.problem.SequenceCrossEntropy`).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from landscope.data._types import TensorData
from landscope.problem._attention import attention_for_derivatives, describe_attention
from landscope.problem._batch import (
    OutputAdapter,
    batch_size,
    batch_version,
    call_model,
    clone_batch,
    index_batch,
    move_batch,
    resolve_output,
)
from landscope.problem._layout import ParameterLayout
from landscope.problem._losses import (
    CLASSIFICATION_LOSSES,
    LOSSES,
    SequenceCrossEntropy,
    resolve_loss,
)

__all__ = ["Indices", "Problem"]

Indices = torch.Tensor | np.ndarray | Sequence[int] | None


@contextlib.contextmanager
def module_mode(module: nn.Module, training: bool) -> Iterator[None]:
    """Set ``module.training`` (recursively) for the duration of the block, then restore each
    submodule's own flag.  Used so that evaluation in eval mode never leaves the user's model
    in a different mode than it was given in."""
    saved = [(m, m.training) for m in module.modules()]
    try:
        for m, _ in saved:
            m.training = training
        yield
    finally:
        for m, flag in saved:
            m.training = flag


class _Targets:
    """How a dict sample or batch is split into model inputs and the target: the ``target``
    key (Hugging Face ``"labels"`` by default) is the target and the rest the model's keyword
    inputs; without that key, a next-token loss scores the sequence itself (``input_ids``, with
    positions where ``attention_mask`` is 0 set to the loss's ``ignore_index``)."""

    def __init__(self, key: str, loss: Any):
        self.key, self.loss = key, loss

    def split(self, batch: Mapping) -> tuple[dict, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != self.key}
        if self.key in batch:
            return inputs, batch[self.key]
        if isinstance(self.loss, SequenceCrossEntropy) and self.loss.shift and "input_ids" in batch:
            y = torch.as_tensor(batch["input_ids"])
            mask = batch.get("attention_mask")
            if mask is not None:
                y = y.masked_fill(torch.as_tensor(mask) == 0, self.loss.ignore_index)
            return inputs, y
        raise KeyError(
            f"dict samples need the target under {self.key!r} (keys are {sorted(batch)}); set "
            "Problem(target=...) or, for a language model, use the loss "
            "'next_token_cross_entropy' with input_ids"
        )


class _TreeData:
    """In-memory data whose inputs are a tuple or dict of tensors (same interface as
    :class:`TensorData` for the Problem: ``x``, ``y``, ``len``)."""

    def __init__(self, x: Any, y: torch.Tensor):
        self.x, self.y = x, torch.as_tensor(y)
        if batch_size(x) != self.y.shape[0]:
            raise ValueError(f"inputs have {batch_size(x)} samples but targets {self.y.shape[0]}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device, dtype: torch.dtype) -> _TreeData:
        y = self.y.to(device=device, dtype=dtype if self.y.is_floating_point() else None)
        return _TreeData(move_batch(self.x, device, dtype), y)


class _MapStyleSource:
    """Samples of a map-style dataset (anything with ``len`` and integer indexing: a torch
    ``Dataset``, a list of dicts), fetched by index and collated with ``collate_fn`` (a
    DataLoader's own, e.g. a padding collator, or ``default_collate``)."""

    def __init__(self, dataset: Any, targets: _Targets, collate_fn: Callable | None = None):
        self.dataset, self.targets = dataset, targets
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        return len(self.dataset)

    def get(self, idx: torch.Tensor) -> tuple[Any, torch.Tensor]:
        from torch.utils.data import default_collate

        items = [self.dataset[int(i)] for i in idx.tolist()]
        batch = (self.collate_fn or default_collate)(items)
        if isinstance(batch, Mapping):
            return self.targets.split(batch)
        if not isinstance(batch, (list, tuple)) or len(batch) != 2:
            raise ValueError(
                "dataset items must be (input, target) pairs or dicts (target under "
                f"{self.targets.key!r})"
            )
        return batch[0], batch[1]


def _as_data(data: Any, targets: _Targets) -> TensorData | _TreeData | _MapStyleSource:
    from torch.utils.data import DataLoader, TensorDataset, default_collate

    if isinstance(data, (TensorData, _TreeData)):
        return data
    if isinstance(data, Mapping):  # a dict of tensors: one batch holding every sample
        x, y = targets.split(data)
        return _TreeData({k: torch.as_tensor(v) for k, v in x.items()}, y)
    if isinstance(data, tuple) and len(data) == 2:
        if isinstance(data[0], (Mapping, tuple, list)):
            return _TreeData(data[0], data[1])
        return TensorData(torch.as_tensor(data[0]), torch.as_tensor(data[1]))
    collate_fn = None
    if isinstance(data, DataLoader):
        # The loader's batching, shuffling and drop_last are deliberately ignored: a Problem
        # evaluates the whole underlying dataset in its own deterministic chunks, collated by
        # the loader's collate_fn (padding collators work).
        if data.collate_fn is not default_collate:
            collate_fn = data.collate_fn
        data = data.dataset
    if isinstance(data, TensorDataset) and len(data.tensors) == 2:
        return TensorData(data.tensors[0], data.tensors[1])
    if hasattr(data, "__getitem__") and not isinstance(data, (str, bytes, torch.Tensor)):
        if not hasattr(data, "__len__"):
            raise TypeError("iterable-style datasets are not supported; pass a map-style Dataset")
        return _MapStyleSource(data, targets, collate_fn)
    raise TypeError(
        "data must be a TensorData, an (x, y) tuple, a dict of tensors, a map-style Dataset (of "
        f"pairs or dicts) or a DataLoader over one; got {type(data).__name__}"
    )


def _default_model_kwargs(model: nn.Module, given: Mapping[str, Any] | None) -> dict:
    """``given``, or ``{"use_cache": False}`` for a model whose forward takes ``use_cache``
    (Hugging Face: a Problem never needs the key/value cache, and the cache object is not a
    tensor ``vmap`` or ``functional_call`` can return)."""
    if given is not None:
        return dict(given)
    import inspect

    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return {}
    return {"use_cache": False} if "use_cache" in params else {}


class Problem:
    """A model, a loss and a dataset, as functions of the flat parameter vector ``theta``.

    Args:
        model: any ``nn.Module`` mapping a batch of inputs to outputs.  It is not modified.
        loss: ``"cross_entropy"``, ``"mse"``, ``"mae"``, ``"bce_with_logits"``, the sequence
            losses ``"token_cross_entropy"`` (logits (n, T, V) against aligned targets (n, T))
            and ``"next_token_cross_entropy"`` (targets = the input sequence, shifted inside;
            both average over tokens, ignore -100: see
            :class:`~landscope.problem.SequenceCrossEntropy`, also for ``average="sequences"``),
            a ``SequenceCrossEntropy``, or a callable ``loss(output, target)`` returning
            per-sample losses (n,) or their batch mean.
        data: the dataset defining the empirical risk: a :class:`TensorData`, an ``(x, y)``
            tuple (``x`` a tensor, a tuple or a dict of tensors), a dict of tensors (the target
            under ``target``), a map-style dataset of pairs or dicts, or a ``DataLoader`` (whose
            ``.dataset`` and ``collate_fn`` are used; its shuffling, batching and
            ``drop_last`` are ignored).
        task: ``"classification"`` (accuracy = argmax matches) or ``"regression"`` (no accuracy).
            Inferred from the loss and the targets' dtype when ``None``.
        chunk_size: samples per chunk (bounds memory); ``None`` evaluates in one batch.
        dtype: floating dtype of ``theta`` and the data (default: the model's).  If it differs
            from the model's, the Problem evaluates a private copy of the model in that dtype.
        device: device of ``theta`` and the data (default: the model's); same rule as ``dtype``.
        train_mode: evaluate the model in train mode (BatchNorm batch statistics, active dropout).
            The default ``False`` evaluates in eval mode, which makes the loss a deterministic
            function of ``theta``.  In train mode, BatchNorm running statistics are never updated
            in the user's model (each call works on a copy of the buffers).
        output: which part of the model's output the loss reads: ``None`` (a tensor as it
            is, ``.logits`` of a ``ModelOutput`` or dict, the first element of a tuple), a key
            or attribute name, an index, or a callable.
        target: the key of the target in dict samples (default ``"labels"``); without it, a
            next-token loss scores ``input_ids`` (padding from ``attention_mask`` ignored).
        model_kwargs: keyword arguments added to every model call; for a model whose forward
            takes ``use_cache`` (Hugging Face) the default is ``{"use_cache": False}``.

    Attributes:
        layout: where each parameter tensor lives in ``theta``.
        num_params: p, the length of ``theta``.
        num_samples: N, the dataset size (sequences, for a sequence loss).
        attention: a sentence saying which attention kernel the analyses that differentiate
            twice use and why (``None``: no attention module recognized); see
            :meth:`derivatives`.

    Examples:
        >>> import torch
        >>> model = torch.nn.Linear(4, 3)
        >>> x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
        >>> problem = Problem(model, "cross_entropy", (x, y), chunk_size=4)
        >>> theta = problem.theta_from_model()
        >>> problem.num_params, problem.gradient(theta).shape
        (15, torch.Size([15]))
    """

    def __init__(
        self,
        model: nn.Module,
        loss: str | Callable = "cross_entropy",
        data: Any = None,
        *,
        task: str | None = None,
        chunk_size: int | None = 4096,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        train_mode: bool = False,
        output: OutputAdapter = None,
        target: str = "labels",
        model_kwargs: Mapping[str, Any] | None = None,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if data is None:
            raise ValueError(
                "a Problem needs data: pass data=(x, y), a TensorData, a Dataset or a DataLoader"
            )
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size}")
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        model_dtype, model_device = params[0].dtype, params[0].device
        self.dtype: torch.dtype = dtype if dtype is not None else model_dtype
        self.device: torch.device = torch.device(device) if device is not None else model_device
        if not self.dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {self.dtype}")
        self.user_model = model
        if self.dtype != model_dtype or self.device != model_device:
            # A private copy in the requested dtype/device; the user's model stays as it is.
            self.model = copy.deepcopy(model).to(device=self.device, dtype=self.dtype)
        else:
            self.model = model
        self._loss_arg = loss
        self.loss_name, self._per_sample_loss = resolve_loss(loss)
        self.chunk_size = chunk_size
        self.train_mode = bool(train_mode)
        self.layout = ParameterLayout.from_module(self.model)
        self.num_params: int = self.layout.num_params
        self._output_arg, self._target_key = output, target
        self._pick_output = resolve_output(output)
        self.model_kwargs = _default_model_kwargs(self.model, model_kwargs)
        self.attention: str | None = describe_attention(self.model)

        source = _as_data(data, _Targets(target, self._per_sample_loss))
        if isinstance(source, (TensorData, _TreeData)):
            source = source.to(device=self.device, dtype=self.dtype)
        self._source = source
        self.num_samples: int = len(source)
        if self.num_samples == 0:
            raise ValueError("the dataset is empty")
        loss_fn = self._per_sample_loss
        if (
            isinstance(loss_fn, SequenceCrossEntropy)
            and loss_fn.average == "tokens"
            and loss_fn.tokens_per_sequence is None
        ):
            # The mean number of scored tokens per sequence over this dataset: the risk is
            # then the mean over all its tokens (SequenceCrossEntropy's docstring).
            scored = sum(int(loss_fn.scored(y).sum()) for _, y in self.chunks())
            if scored == 0:
                raise ValueError("every target token is ignore_index: nothing to score")
            self._per_sample_loss = loss_fn.with_tokens_per_sequence(scored / self.num_samples)
        self.task = task if task is not None else self._infer_task()
        if self.task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")
        # A model that writes into its input (nn.ReLU(inplace=True) as its first module) would
        # overwrite the dataset on every evaluation: such a model is given copies (see
        # _guarded).  Undecided (None) until the first evaluation shows it; map-style sources
        # hand out freshly collated tensors, which the model may overwrite.
        self._copy_inputs: bool | None = (
            None if isinstance(source, (TensorData, _TreeData)) else False
        )

    # --- construction helpers ------------------------------------------------------------
    def _infer_task(self) -> str:
        if self.loss_name in LOSSES:
            return "classification" if self.loss_name in CLASSIFICATION_LOSSES else "regression"
        if isinstance(self._per_sample_loss, SequenceCrossEntropy):
            return "classification"
        y = (
            self._source.y
            if isinstance(self._source, (TensorData, _TreeData))
            else self._source.get(torch.tensor([0]))[1]
        )
        return "regression" if y.is_floating_point() else "classification"

    @property
    def data(self) -> TensorData | None:
        """The dataset as tensors on the Problem's device (``None`` for a map-style source)."""
        return self._source if isinstance(self._source, TensorData) else None

    def derivatives(self) -> contextlib.AbstractContextManager:
        """The context in which every analysis that differentiates the model twice (curvature
        products) or vectorizes it over samples (per-sample gradients) evaluates it: attention
        through the math kernel of ``scaled_dot_product_attention`` and Hugging Face attention
        set to ``"sdpa"`` where it names a kernel without double backward; everything is
        restored on exit (:mod:`landscope.problem._attention`; :attr:`attention` says what was
        found).  Training and plain evaluation do not enter it and keep the fast kernels."""
        return attention_for_derivatives(self.model)

    def __repr__(self) -> str:
        return (
            f"Problem({type(self.user_model).__name__}, loss={self.loss_name!r}, "
            f"p={self.num_params}, N={self.num_samples}, task={self.task!r}, "
            f"dtype={self.dtype}, device={self.device}, train_mode={self.train_mode})"
        )

    # --- theta <-> model ---------------------------------------------------------------------
    def theta_from_model(self, model: nn.Module | None = None) -> torch.Tensor:
        """A flat copy (shape (p,)) of ``model``'s trainable parameters (default: the Problem's
        model), in the Problem's dtype and device."""
        model = self.model if model is None else model
        named = dict(model.named_parameters())
        tensors = [named[n].detach() for n in self.layout.names]
        return self.layout.flatten(tensors).to(device=self.device, dtype=self.dtype).clone()

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Name -> view of ``theta`` with the parameter's shape (no copy)."""
        return self.layout.unflatten(self.check_theta(theta))

    def load_into(self, model: nn.Module, theta: torch.Tensor) -> nn.Module:
        """Copy ``theta`` into ``model``'s parameters in place (an explicit, user-requested
        mutation; no analysis calls this on the user's model)."""
        named = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in self.layout.unflatten(theta.detach()).items():
                named[name].copy_(value.to(named[name]))
        return model

    def check_theta(self, theta: torch.Tensor) -> torch.Tensor:
        """``theta`` validated (a tensor of shape (p,)) and on this Problem's device and dtype
        (not detached: gradients flow through).  The one theta check of the library.

        Raises:
            TypeError: not a tensor.  ValueError: wrong shape (the message gives both).
        """
        if not isinstance(theta, torch.Tensor):
            raise TypeError(f"theta must be a tensor, got {type(theta).__name__}")
        if theta.shape != (self.num_params,):
            raise ValueError(
                f"theta must have shape ({self.num_params},), got {tuple(theta.shape)}"
            )
        if theta.dtype != self.dtype or theta.device != self.device:
            theta = theta.to(device=self.device, dtype=self.dtype)
        return theta

    # --- data ----------------------------------------------------------------------------
    def _indices(self, indices: Indices) -> torch.Tensor | None:
        if indices is None:
            return None
        idx = torch.as_tensor(
            np.asarray(indices) if not isinstance(indices, torch.Tensor) else indices
        )
        idx = idx.reshape(-1).to(torch.long)
        if idx.numel() == 0:
            raise ValueError("indices is empty")
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= self.num_samples:
            raise IndexError(
                f"sample indices must lie in [0, {self.num_samples}), got [{lo}, {hi}]"
            )
        return idx

    def num_selected(self, indices: Indices = None) -> int:
        idx = self._indices(indices)
        return self.num_samples if idx is None else int(idx.numel())

    def chunks(self, indices: Indices = None) -> Iterator[tuple[Any, torch.Tensor]]:
        """Yield ``(x, y)`` chunks of the selected samples (all by default), in order, on the
        Problem's device, each of at most ``chunk_size`` samples (``x`` a tensor, or a tuple or
        dict of tensors for such inputs)."""
        idx = self._indices(indices)
        n = self.num_samples if idx is None else int(idx.numel())
        step = n if self.chunk_size is None else self.chunk_size
        for start in range(0, n, step):
            stop = min(start + step, n)
            if isinstance(self._source, (TensorData, _TreeData)):
                if idx is None:
                    sel = slice(start, stop)
                else:
                    sel = idx[start:stop].to(self._source.y.device)
                yield index_batch(self._source.x, sel), self._source.y[sel]
            else:
                sel = torch.arange(start, stop) if idx is None else idx[start:stop]
                x, y = self._source.get(sel)
                x = move_batch(x, self.device, self.dtype)
                y = torch.as_tensor(y)
                y = y.to(device=self.device, dtype=self.dtype if y.is_floating_point() else None)
                yield x, y

    # --- the functional model ------------------------------------------------------------------
    def output(self, theta: torch.Tensor, x: Any) -> torch.Tensor:
        """Model output on a batch ``x`` at parameters ``theta`` (differentiable in ``theta``):
        the tensor the loss reads (see ``output=``).  ``x`` (a tensor, tuple or dict) is never
        modified (a model that writes into its input gets a copy)."""
        params: dict[str, torch.Tensor] = self.layout.unflatten(theta)
        if self.train_mode:
            # Work on copies so BatchNorm's running statistics in the model are never updated.
            buffers = {n: b.clone() for n, b in self.model.named_buffers()}
            params = {**buffers, **params}

        def model(*args: Any, **kwargs: Any) -> Any:
            return functional_call(self.model, params, args, kwargs)

        def call(inp: Any) -> torch.Tensor:
            with module_mode(self.model, self.train_mode):
                return self._pick_output(call_model(model, inp, self.model_kwargs))

        return self._guarded(call, x)

    def _guarded(self, call: Callable[[Any], Any], x: Any) -> Any:
        """``call(x)`` for a function that runs the model on a batch of the Problem's inputs,
        such that the dataset is never overwritten: until one evaluation has shown whether the
        model writes into its input (the version counter of a copy: in-place ops such as
        ``nn.ReLU(inplace=True)`` as the first module bump it), ``call`` gets a copy; from then
        on a copy only if it does.  No extra forward pass, any grad mode, any batch.  ``call``
        may also be a module (a private copy of the model), called with the Problem's calling
        convention and output adapter."""
        if isinstance(call, nn.Module):
            module = call
            call = lambda inp: self._pick_output(  # noqa: E731
                call_model(module, inp, self.model_kwargs)
            )
        if self._copy_inputs is False:
            return call(x)
        with torch.inference_mode(False):  # normal tensors, with version counters
            probe = clone_batch(x)
        before = batch_version(probe)
        out = call(probe)
        if self._copy_inputs is None and before is not None:
            after = batch_version(probe)
            if after is not None:
                self._copy_inputs = after != before
        return out

    def per_sample_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-sample losses f_i of shape (n,)."""
        return self._per_sample_loss(output, target)

    def chunk_loss_sum(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``sum_{i in chunk} f_i(theta)``: the building block every chunked quantity sums."""
        return self.per_sample_loss(self.output(theta, x), y).sum()

    def loss_function(self, x: Any, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """``theta -> mean_i f_i(theta)`` on a fixed batch, for ``torch.func`` transforms."""
        n = batch_size(x)
        return lambda theta: self.chunk_loss_sum(theta, x, y) / n

    # --- empirical risk and its gradient ----------------------------------------------------
    def loss(self, theta: torch.Tensor, indices: Indices = None) -> torch.Tensor:
        """Mean loss ``(1/n) sum_{i in S} f_i(theta)`` over the selected samples S (all by
        default); a 0-d tensor."""
        theta = self.check_theta(theta).detach()
        n = self.num_selected(indices)
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        with torch.no_grad():
            for x, y in self.chunks(indices):
                total = total + self.chunk_loss_sum(theta, x, y)
        return total / n

    def loss_and_gradient(
        self, theta: torch.Tensor, indices: Indices = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss (0-d) and its gradient with respect to ``theta`` (shape (p,)), accumulated
        chunk by chunk so memory is bounded by one chunk's graph."""
        theta = self.check_theta(theta).detach().requires_grad_(True)
        n = self.num_selected(indices)
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        grad = torch.zeros_like(theta)
        for x, y in self.chunks(indices):
            value = self.chunk_loss_sum(theta, x, y) / n
            (g,) = torch.autograd.grad(value, theta)
            grad += g
            total = total + value.detach()
        return total, grad

    def gradient(self, theta: torch.Tensor, indices: Indices = None) -> torch.Tensor:
        """Gradient of the mean loss over the selected samples; shape (p,)."""
        return self.loss_and_gradient(theta, indices)[1]

    def predictions(self, theta: torch.Tensor, indices: Indices = None) -> torch.Tensor:
        """Model outputs for the selected samples, concatenated; shape (n, ...)."""
        theta = self.check_theta(theta).detach()
        with torch.no_grad():
            return torch.cat([self.output(theta, x) for x, _ in self.chunks(indices)])

    def _correct(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if isinstance(self._per_sample_loss, SequenceCrossEntropy):
            # Each sequence's fraction of correct scored tokens: accuracy = their mean.
            return self._per_sample_loss.correct(output, y)
        if output.ndim == 2 and output.shape[1] > 1:
            return (output.argmax(dim=1) == y).sum()
        # One logit per sample: a binary classifier thresholded at 0.
        return ((output.reshape(-1) > 0).to(y.dtype) == y.reshape(-1)).sum()

    def accuracy(self, theta: torch.Tensor, indices: Indices = None) -> float:
        """Fraction of selected samples classified correctly (classification tasks only)."""
        if self.task != "classification":
            raise ValueError("accuracy is defined for classification problems only")
        return self.evaluate(theta, indices)["accuracy"]

    def evaluate(self, theta: torch.Tensor, indices: Indices = None) -> dict[str, float]:
        """One pass over the selected samples: ``{"loss": ..., "accuracy": ...}`` (accuracy only
        for classification)."""
        theta = self.check_theta(theta).detach()
        n = self.num_selected(indices)
        total = torch.zeros((), dtype=self.dtype, device=self.device)
        # float (a sequence loss counts fractions of tokens); no float64 on MPS
        count_dtype = torch.float32 if self.device.type == "mps" else torch.float64
        correct = torch.zeros((), dtype=count_dtype, device=self.device)
        with torch.no_grad():
            for x, y in self.chunks(indices):
                out = self.output(theta, x)
                total = total + self.per_sample_loss(out, y).sum()
                if self.task == "classification":
                    correct = correct + self._correct(out, y)
        result = {"loss": float(total / n)}
        if self.task == "classification":
            result["accuracy"] = float(correct) / n
        return result

    def with_data(self, data: Any, **overrides: Any) -> Problem:
        """The same model and loss on other data (e.g. the test split)."""
        kwargs = dict(
            task=self.task,
            chunk_size=self.chunk_size,
            dtype=self.dtype,
            device=self.device,
            train_mode=self.train_mode,
            output=self._output_arg,
            target=self._target_key,
            model_kwargs=self.model_kwargs,
        )
        kwargs.update(overrides)
        # The loss as given (a sequence loss re-measures its tokens per sequence on the data).
        return Problem(self.model, self._loss_arg, data, **kwargs)
