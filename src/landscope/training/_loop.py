"""The training loop: SGD / Adam on a Problem, recording the trajectory to disk.

Conventions (used by every analysis that reads a run):

- ``params`` at step t is theta(t), the parameters after t updates; step 0 is the
  initialization and the last recorded step is T (the number of updates).
- ``updates`` at step t is theta(t+1) - theta(t), the update applied at step t (the velocity
  v(t+1) of Haink eq. 2.5 for momentum SGD).
- ``batch_indices`` / ``batch_loss`` / ``lr`` at step t: the minibatch used for update t, its
  loss at theta(t) (without the L2 term) and the learning rate of update t.
- ``train_loss``, ``train_accuracy``, ``test_loss``, ``test_accuracy`` at step t: full-dataset
  values at theta(t) (model in eval mode).

Crash safety: everything is flushed to the store every ``record.flush_every`` steps, followed
by a checkpoint (theta, optimizer state, BatchNorm buffers, RNG state) of the step reached.
``resume=True`` truncates the records past the checkpoint and continues; on the CPU the result
is bitwise identical to an uninterrupted run, because every minibatch is a function of
(seed, step) alone and the checkpoint holds all other state.

Stopping: Ctrl-C (SIGINT) flushes the records and keeps the last periodic checkpoint
(:class:`TrainingInterrupted`, exit code 130 on the command line).  SIGTERM (what batch
schedulers send before they kill a job) stops at the next step boundary, where the state is
consistent, and writes a checkpoint there, so a resume loses no step (exit code 143); a second
SIGTERM stops at once, like Ctrl-C.  The handler is installed only while training runs in the
main thread, and the previous one is restored afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import os
import platform
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from landscope.config import (
    RunConfig,
    build_dataset,
    build_model,
    build_problems,
    load_config,
    resolve_device,
    resolve_dtype,
)
from landscope.data import SplitDataset
from landscope.plugins import (
    LOSS_PENALTIES,
    UPDATE_TRANSFORMS,
    LossPenalty,
    OnlineAnalysis,
    PenaltyContext,
    UpdateContext,
)
from landscope.problem import module_mode
from landscope.runs import load_run_weights
from landscope.training import _penalties  # noqa: F401  (registers the engine's own penalty)
from landscope.training._callbacks import make_online_analysis
from landscope.training._optim import (
    SGD,
    Adam,
    FlatOptimizer,
    MinibatchSchedule,
    learning_rate,
)
from landscope.training._recorder import RunRecorder

__all__ = ["NonFiniteLossError", "TrainingInterrupted", "selected_steps", "train"]


class NonFiniteLossError(FloatingPointError):
    """The minibatch loss became NaN or infinite; everything before the step is on disk."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C or SIGTERM); the run folder holds a checkpoint to resume
    from.

    Attributes:
        signal_name: ``"SIGINT"`` (Ctrl-C) or ``"SIGTERM"``.
        exit_code: the shell convention 128 + signal number: 130 (SIGINT), 143 (SIGTERM).
    """

    def __init__(self, message: str, signal_name: str = "SIGINT"):
        super().__init__(message)
        self.signal_name = signal_name
        self.exit_code = 128 + int(getattr(signal, signal_name))


class _Terminated(KeyboardInterrupt):
    """A second SIGTERM: stop now (handled like Ctrl-C)."""


class _StopOnSigterm:
    """While installed (main thread only), the first SIGTERM asks the loop to stop at the next
    step boundary (``requested``); a second one raises at once.  :meth:`restore` puts the
    previous handler back and, when a SIGTERM arrived that training never acted on (it was
    still setting up, or already finishing), delivers it to that handler."""

    def __init__(self) -> None:
        self.requested = False
        self.handled = False
        self._previous: Any = None
        self._installed = False

    def install(self) -> _StopOnSigterm:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise _Terminated
        self.requested = True

    def restore(self) -> None:
        if not self._installed:
            return
        signal.signal(signal.SIGTERM, self._previous)
        self._installed = False
        if self.requested and not self.handled:
            os.kill(os.getpid(), signal.SIGTERM)

    def __enter__(self) -> _StopOnSigterm:
        return self.install()

    def __exit__(self, *exc) -> None:
        self.restore()


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    """``torch.set_num_threads(threads)`` for the block (None: unchanged), restored after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def selected_steps(selection, total_steps: int) -> np.ndarray:
    """Sorted unique steps in [0, total_steps] chosen by a :class:`StepSelection`
    (step 0 and the last step always included when enabled)."""
    if not selection.enabled:
        return np.zeros(0, dtype=np.int64)
    steps = {0, total_steps}
    if selection.every:
        steps.update(range(0, total_steps + 1, selection.every))
    if selection.steps:
        bad = [s for s in selection.steps if s < 0 or s > total_steps]
        if bad:
            raise ValueError(f"record steps {bad} lie outside [0, {total_steps}]")
        steps.update(int(s) for s in selection.steps)
    if selection.log_spaced and total_steps >= 1:
        steps.update(
            np.unique(
                np.geomspace(1, total_steps, selection.log_spaced).round().astype(np.int64)
            ).tolist()
        )
    return np.array(sorted(steps), dtype=np.int64)


def _versions() -> dict[str, str]:
    from landscope import __version__

    return {
        "landscope": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "torch_num_threads": str(torch.get_num_threads()),
    }


def _non_finite(loss: torch.Tensor, penalties: dict[str, torch.Tensor]) -> str:
    """'' when the minibatch loss and every penalty are finite, else what is not (and its value)."""
    if not torch.isfinite(loss):
        return f"minibatch loss ({float(loss)})"
    bad = [f"{name} = {float(v)}" for name, v in penalties.items() if not torch.isfinite(v)]
    return f"penalty ({', '.join(bad)})" if bad else ""


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


class _Trainer:
    """One training run: builds the problems, optimizer and plugins from the config, steps, and
    hands what is to be recorded to a :class:`~landscope.training._recorder.RunRecorder`."""

    def __init__(
        self,
        config: RunConfig,
        out: Path,
        *,
        model: nn.Module | None,
        dataset: SplitDataset | None,
        callbacks: Iterable[OnlineAnalysis],
        update_transform: Callable[[UpdateContext], torch.Tensor] | None,
        penalties: Iterable[LossPenalty],
        progress: bool,
        resume: bool = False,
    ):
        self.config = config
        self.out = out
        self.dtype = resolve_dtype(config)
        self.device = resolve_device(config)
        self.dataset = build_dataset(config) if dataset is None else dataset
        # The trainer owns a private copy of the model: the user's module is never modified.
        base = build_model(config, self.dataset) if model is None else copy.deepcopy(model)
        if config.init.from_run is not None:  # start from another run's recorded weights
            load_run_weights(base, *self._start_weights(config, out, resume))
        self.model = base.to(device=self.device, dtype=self.dtype)
        self.problem, test_problem = build_problems(config, dataset=self.dataset, model=self.model)
        self.test_problem = test_problem if config.record.eval.test else None
        tc = config.training
        self.n = self.problem.num_samples
        self.batches = MinibatchSchedule(
            num_samples=self.n,
            batch_size=tc.batch_size,
            seed=config.seed,
            sampling=tc.sampling,
            drop_last=tc.drop_last,
        )
        self.spe = self.batches.steps_per_epoch
        self.total_steps = tc.steps if tc.steps is not None else round(tc.epochs * self.spe)
        self.analyses = list(callbacks) + [
            make_online_analysis(a.name, a.every, a.options) for a in config.analyses
        ]
        if update_transform is None and config.update_transform is not None:
            ut = config.update_transform
            update_transform = UPDATE_TRANSFORMS.build(ut.name, **ut.options)
        self.update_transform = update_transform
        self.penalties = list(penalties) + [
            LOSS_PENALTIES.build(pc.name, **pc.options) for pc in config.penalties
        ]
        names = [pen.name for pen in self.penalties]
        if len(set(names)) != len(names):
            raise ValueError(f"penalties need distinct names (their series), got {names}")
        self.last_checkpoint = 0
        self.seconds_before = 0.0  # training time of earlier sessions (resume), from the checkpoint
        self._t0: float | None = None
        self.progress = progress
        self.stop = _StopOnSigterm()  # installed by train() around the run
        oc = config.optimizer
        layout = self.problem.layout
        self.decay_mask = None
        if oc.weight_decay and not oc.weight_decay_on_bias:
            self.decay_mask = layout.mask(lambda s: s.kind != "bias").to(
                device=self.device, dtype=self.dtype
            )
        decoupled = oc.weight_decay if oc.weight_decay_mode == "decoupled" else 0.0
        self.l2 = oc.weight_decay if oc.weight_decay_mode == "l2" else 0.0
        self.optimizer: FlatOptimizer = (
            SGD(oc.momentum, decoupled, self.decay_mask)
            if oc.name == "sgd"
            else Adam(tuple(oc.betas), oc.eps, decoupled, self.decay_mask)
        )
        self.params_steps = selected_steps(config.record.params, self.total_steps)
        self.eval_steps = selected_steps(config.record.eval, self.total_steps)
        x, y = self.dataset.train.x, self.dataset.train.y
        # Integer inputs (token ids) stay integer; floating inputs take the run's dtype.
        self.x_train = x.to(device=self.device, dtype=self.dtype if x.is_floating_point() else None)
        self.y_train = y.to(device=self.device, dtype=self.dtype if y.is_floating_point() else None)

    # --- pieces ----------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return {
            "format": "landscope-run/1",
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "config": self.config.model_dump(mode="json"),
            "versions": _versions(),
            "layout": self.problem.layout.to_dicts(),
            "num_params": self.problem.num_params,
            "dataset": self.dataset.summary(),
            "total_steps": self.total_steps,
            "steps_per_epoch": self.spe,
            "conventions": "params[t]=theta(t) after t updates; updates[t]=theta(t+1)-theta(t); "
            "batch_*/lr[t] belong to update t; eval metrics at theta(t)",
        }

    def recorder(self, writer) -> RunRecorder:
        return RunRecorder(
            writer,
            self.config,
            self.problem,
            self.test_problem,
            params_steps=self.params_steps,
            eval_steps=self.eval_steps,
            analyses=self.analyses,
            total_steps=self.total_steps,
        )

    @staticmethod
    def _start_weights(config: RunConfig, out: Path, resume: bool) -> tuple[Path | str, int | str]:
        """Where ``init.from_run``'s weights are read: on resume this run's own step-0 record
        when it has one (the source run may have moved or trained on), else the source run."""
        from landscope.runs import Series, open_run

        if not resume:
            return config.init.from_run, config.init.from_step
        try:
            own = open_run(out)
            if Series.PARAMS in own and 0 in {int(s) for s in own.param_steps()}:
                return out, 0
        except (FileNotFoundError, ValueError):
            pass
        return config.init.from_run, config.init.from_step

    def setup_penalties(self, theta_start: torch.Tensor) -> None:
        """Each penalty's :meth:`setup`, with theta(0) (the config's initialization, also on
        resume: the model is rebuilt from the config and seed) and the start theta."""
        if not self.penalties:
            return
        ctx = PenaltyContext(
            self.problem, self.problem.theta_from_model().detach(), theta_start.detach(), self.out
        )
        for penalty in self.penalties:
            setup = getattr(penalty, "setup", None)
            if setup is not None:
                setup(ctx)

    def _minibatch_loss_grad(
        self, theta: torch.Tensor, idx: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Minibatch loss at theta (without penalties and L2), the gradient of the training
        objective (loss + penalties, + L2 weight decay), and each penalty's value."""
        idx_dev = idx.to(self.x_train.device)
        x, y = self.x_train[idx_dev], self.y_train[idx_dev]
        theta_req = theta.detach().requires_grad_(True)
        params = self.problem.layout.unflatten(theta_req)
        out = functional_call(self.model, params, (x,))
        loss = self.problem.per_sample_loss(out, y).mean()
        values: dict[str, torch.Tensor] = {}
        objective = loss
        for penalty in self.penalties:
            value = penalty(theta_req)
            values[penalty.name] = value.detach()
            objective = objective + value
        (grad,) = torch.autograd.grad(objective, theta_req)
        if self.l2:
            grad = grad + self.l2 * (theta if self.decay_mask is None else theta * self.decay_mask)
        return loss.detach(), grad, values

    # --- the loop --------------------------------------------------------------------------
    def run(self, writer, start_step: int, theta: torch.Tensor) -> dict:
        from landscope._progress import progress_bar

        config, rc = self.config, self.config.record
        recorder = self.recorder(writer)
        train_mode = config.training.model_mode == "train"
        t0 = self._t0 = time.perf_counter()
        bar = progress_bar(
            total=self.total_steps,
            initial=start_step,
            enabled=self.progress,
            unit="step",
            desc=config.name,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        last_postfix = 0.0
        step = start_step
        try:
            while True:
                if self.stop.requested:  # SIGTERM: the state is consistent here; checkpoint it
                    self.stop.handled = True
                    bar.close()
                    self._checkpoint(writer, step, theta)
                    writer.sync()
                    raise TrainingInterrupted(
                        f"terminated (SIGTERM) at step {step} of {self.total_steps}; the records "
                        f"before it and a checkpoint at step {step} are on disk; resume with: "
                        f"landscope train --resume {self.out}",
                        "SIGTERM",
                    )
                epoch = step // self.spe
                lr = learning_rate(config.schedule, config.optimizer.lr, epoch)
                recorder.at_step(step, epoch, lr, theta)
                if step >= self.total_steps:
                    break
                idx = self.batches.indices(step)
                with module_mode(self.model, train_mode):
                    loss, grad, penalty_values = self._minibatch_loss_grad(theta, idx)
                bad = _non_finite(loss, penalty_values)
                if bad:
                    writer.flush()
                    raise NonFiniteLossError(
                        f"non-finite {bad} at step {step} (epoch {epoch}, lr {lr:g}); "
                        f"the records of steps < {step} are on disk in {self.out}. "
                        "Lower optimizer.lr or check the data."
                    )
                update = self.optimizer.update(theta, grad, lr)
                if self.update_transform is not None:
                    update = self.update_transform(
                        UpdateContext(step, epoch, theta, grad, update, lr, self.problem, idx)
                    )
                recorder.update(step, idx, loss, lr, update, penalty_values)
                theta = theta + update
                step += 1
                bar.update(1)
                if step % rc.flush_every == 0:
                    self._checkpoint(writer, step, theta)
                now = time.perf_counter()
                if self.progress and now - last_postfix > 0.5:
                    # the minibatch loss of this step, and the full-set metrics where they were
                    # last evaluated (labelled with that step: they are not this step's)
                    post = {"batch_loss": f"{float(loss):.4f}"}
                    if "train_loss" in recorder.last_eval:
                        at = recorder.last_eval_step
                        post[f"train@{at}"] = f"{recorder.last_eval['train_loss']:.4f}"
                        if "train_accuracy" in recorder.last_eval:
                            post[f"acc@{at}"] = f"{recorder.last_eval['train_accuracy']:.3f}"
                    bar.set_postfix(post, refresh=False)
                    last_postfix = now
        except TrainingInterrupted:
            raise
        except KeyboardInterrupt as exc:
            bar.close()
            # The interrupt may land mid-step (e.g. after the optimizer state moved but before
            # theta did), so no new checkpoint is written: the records so far are flushed and
            # stay readable, and a resume restarts from the last consistent checkpoint,
            # recomputing the steps after it identically.
            writer.flush()
            sig = "SIGTERM" if isinstance(exc, _Terminated) else "SIGINT"
            self.stop.handled = True
            raise TrainingInterrupted(
                f"interrupted{' (second SIGTERM)' if sig == 'SIGTERM' else ''} at step {step}; "
                "records up to it are on disk; resume (from the checkpoint at step "
                f"{self.last_checkpoint}) with: landscope train --resume {self.out}",
                sig,
            ) from None
        finally:
            bar.close()
        seconds = time.perf_counter() - t0
        self._checkpoint(writer, step, theta, seconds)
        done = self.total_steps - start_step
        summary = {
            "completed": True,
            "total_steps": self.total_steps,
            "epochs": self.total_steps / self.spe,
            # this process: the steps it ran and their time; all sessions: the time of every
            # session up to its last checkpoint (a resumed run recomputes the steps after it)
            "seconds": seconds,
            "steps_this_session": done,
            "resumed_from_step": start_step if start_step else None,
            "seconds_all_sessions": self.seconds_before + seconds,
            "steps_per_second": done / seconds if seconds > 0 and done else None,
            "final": recorder.last_eval,
            "final_eval_step": recorder.last_eval_step,
            "num_params": self.problem.num_params,
        }
        writer.write_json("summary.json", summary)
        self.final_theta = theta
        return summary

    def _checkpoint(
        self, writer, step: int, theta: torch.Tensor, seconds: float | None = None
    ) -> None:
        """Flush, then save the state of ``step``; ``seconds``: this session's time so far
        (recorded so that a resumed run can report the time of all sessions)."""
        writer.flush()
        self.last_checkpoint = step
        if seconds is None:
            seconds = time.perf_counter() - self._t0 if self._t0 is not None else 0.0
        state = {
            "step": step,
            "seconds_before": self.seconds_before + seconds,
            "theta": theta.detach().cpu(),
            "optimizer": {
                k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                for k, v in self.optimizer.state_dict().items()
            },
            "buffers": {n: b.detach().cpu() for n, b in self.model.named_buffers()},
            "rng": _rng_state(self.device),
        }
        writer.save_checkpoint(state, step)

    def restore(self, state: dict) -> torch.Tensor:
        opt = {
            k: (v.to(self.device) if isinstance(v, torch.Tensor) else v)
            for k, v in state["optimizer"].items()
        }
        self.optimizer.load_state_dict(opt)
        named = dict(self.model.named_buffers())
        with torch.no_grad():
            for n, b in state["buffers"].items():
                named[n].copy_(b.to(named[n].device))
        _set_rng_state(state["rng"], self.device)
        self.seconds_before = float(state.get("seconds_before", 0.0))
        return state["theta"].to(device=self.device, dtype=self.dtype)


def train(
    config: RunConfig | dict | str | Path | None = None,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    model: nn.Module | None = None,
    dataset: SplitDataset | None = None,
    callbacks: Iterable[OnlineAnalysis] = (),
    update_transform: Callable[[UpdateContext], torch.Tensor] | None = None,
    penalties: Iterable[LossPenalty] = (),
    progress: bool = True,
):
    """Train as ``config`` says and record the trajectory in the run folder ``out``.

    Args:
        config: a :class:`RunConfig`, a dict or a YAML path.  With ``resume=True`` it may be
            omitted: the config stored in the run folder is used.
        out: the run folder (created; must be empty unless ``overwrite``).
        resume: continue an interrupted run in ``out`` from its last checkpoint.
        overwrite: replace the run in an existing run folder: only what training wrote there
            is deleted (``meta.json``, ``committed.json``, ``series/``, ``checkpoint.pt``,
            ``summary.json``); other files and folders (an analysis' output such as
            ``hessian.json``, notes) are kept (:func:`landscope.runs.owned_by_run` lists both).
        model: your own ``nn.Module`` instead of ``config.model`` (a private copy is trained;
            pass the same module again to resume).
        dataset: your own :class:`SplitDataset` instead of ``config.data``.
        callbacks: online analyses (see :class:`~landscope.training.StepContext`) besides the
            ones named in ``config.analyses``.
        update_transform: a hook mapping the proposed update to the applied one (projected SGD),
            instead of ``config.update_transform``.
        penalties: loss penalties (:class:`~landscope.plugins.LossPenalty`) added to every
            minibatch loss, besides the ones named in ``config.penalties``.
        progress: show a progress bar.

    Returns:
        The finished :class:`~landscope.runs.Run`.

    Raises:
        NonFiniteLossError: the loss became NaN/inf (records before that step are on disk).
        TrainingInterrupted: Ctrl-C or SIGTERM (a checkpoint to resume from is on disk;
            ``exit_code`` 130 or 143).
        RunExistsError: ``out`` holds files and neither ``overwrite`` nor ``resume`` is set.
        RunLockedError: another process is writing ``out``.
        DamagedRunError: on resume, the checkpoint or a chunk needed to continue is damaged.
    """
    if out is None:
        raise ValueError("train needs an output run folder `out`")
    out = Path(out)
    if resume:
        from landscope.runs import _format as fmt

        fmt.check_run_folder(out)
        stored = load_config(fmt.read_json_file(out / fmt.META)["config"])
        if config is not None:
            given = (
                config
                if isinstance(config, RunConfig)
                else load_config(config if isinstance(config, dict) else Path(config))
            )
            if given.model_dump() != stored.model_dump():
                raise ValueError(
                    f"the config given differs from the one stored in {out}; omit it to resume"
                )
        config = stored
    else:
        if config is None:
            raise ValueError("train needs a config (or resume=True)")
        config = config if isinstance(config, RunConfig) else load_config(config)

    from landscope.runs import TrajectoryWriter, open_run

    # The thread count is restored on return and recorded in meta.json (bitwise resume needs
    # the same count); SIGTERM is handled while training runs (see _StopOnSigterm).
    with _torch_threads(config.training.threads), _StopOnSigterm() as stop:
        # on resume, take the writer lock before building anything (a second writer fails fast)
        writer = TrajectoryWriter.open_for_resume(out, background=True) if resume else None
        devices = [torch.device(config.device)] if config.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(config.seed)  # dropout draws in the forked (private) RNG stream
            try:
                trainer = _Trainer(
                    config,
                    out,
                    model=model,
                    dataset=dataset,
                    callbacks=callbacks,
                    update_transform=update_transform,
                    penalties=penalties,
                    progress=progress,
                    resume=resume,
                )
            except BaseException:
                if writer is not None:  # unlock the run folder before reporting the error
                    writer.close()
                raise
            trainer.stop = stop
            if resume:
                start, theta = _resume_point(trainer, writer)
                if start is None:  # the run had finished: nothing to do
                    return open_run(out)
            else:
                writer = TrajectoryWriter.create(
                    out,
                    meta=trainer.meta(),
                    overwrite=overwrite,
                    background=True,
                    compression=config.record.compression,
                )
                trainer.recorder(writer).declare_series()
                start, theta = 0, trainer.problem.theta_from_model()
                trainer.setup_penalties(theta)
                trainer._checkpoint(writer, 0, theta)
            try:
                trainer.run(writer, start, theta)
            finally:
                writer.close()
    return open_run(out)


def _resume_point(trainer: _Trainer, writer) -> tuple[int | None, torch.Tensor | None]:
    """Restore the trainer from the run's checkpoint, drop the records after it; ``(None,
    None)`` (writer closed) when the run had already finished."""
    if (trainer.out / "summary.json").exists():
        writer.close()
        return None, None
    recorded = writer.meta.get("versions", {}).get("torch_num_threads")
    if recorded is not None and recorded != str(torch.get_num_threads()):
        warnings.warn(
            f"the run was started with {recorded} torch threads, this process has "
            f"{torch.get_num_threads()}: the resumed trajectory can differ in the last bits "
            "(set OMP_NUM_THREADS / torch.set_num_threads to match for bitwise identity)",
            stacklevel=3,
        )
    try:
        state = writer.load_checkpoint()
    except BaseException:  # a damaged checkpoint: unlock the folder before reporting it
        writer.close()
        raise
    trainer.recorder(writer).declare_series()
    if state is None:
        start, theta = 0, trainer.problem.theta_from_model()
    else:
        start, theta = int(state["step"]), trainer.restore(state)
    writer.truncate_after(start - 1)
    trainer.last_checkpoint = start
    trainer.setup_penalties(theta)
    return start, theta
