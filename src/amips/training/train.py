"""Training loop: Adam + warm-up/cosine, global-norm clipping, NaN-gradient guard, EMA, checkpoints and resume.

Batches are a pure function of (seed, step): epoch e uses the permutation drawn from seed·1_000_003 + e, and the
last partial batch is dropped (as the official shuffle → repeat → batch). A resumed run therefore sees exactly the
batches an uninterrupted run sees, and on CPU (deterministic algorithms) ends with identical weights.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from amips.core.fingerprint import array_digest, first_difference, lookup, tensors_digest
from amips.core.progress import LOG, ProgressLog, resolve_mode
from amips.data.io import InputError
from amips.training.objective import Objective
from amips.models.factory import load_payload, model_from_payload, model_payload, save_payload
from amips.models.networks import AmipsModel
from amips.training.retrieval import Partition, make_retrieval
from amips.training.routing_terms import make_routing
from amips.training.selection import BestValidation, LastWeights, make_selector
from amips.core.settings import from_mapping

Selector = LastWeights | BestValidation

log = logging.getLogger("amips.training.train")

CHECKPOINT_FORMAT = "amips-checkpoint-v3"
# TrainSpec fields that change what is logged or how often state is saved, never the trained weights.
NON_RESULT_FIELDS = ("log_every", "checkpoint_every")


class TrainingDiverged(ValueError):
    """Training produced non-finite weights or predictions; no model is written."""


class StaleCheckpoint(InputError):
    """A checkpoint that cannot be resumed: corrupt, or from a run whose inputs or settings differ."""


@dataclass(frozen=True)
class TrainSpec:
    """Optimisation settings (official: batch 4096, lr 0 → peak → end, warm-up then cosine, clip 1, EMA 0.96849)."""

    steps: int
    batch_size: int
    lr_peak: float
    lr_init: float = 0.0
    lr_end: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    ema_decay: float = 0.96849
    score_weight: float = 0.01
    key_weight: float = 1.0
    checkpoint_every: int = 0
    eval_every: int = 0
    log_every: int = 100
    select: str = "best_val"
    patience: int = 0  # stop after this many evaluations without a new best of the selection metric (0: never)
    retrieval: dict[str, Any] | None = None  # amips.training.retrieval term, e.g. {name: list_ce, weight: 1, temperature: 0.05}
    routing: dict[str, Any] | None = None  # amips.training.routing_terms term of a router, e.g. {name: oracle_ce, weight: 0.003}

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "warmup_steps", "checkpoint_every", "eval_every", "log_every", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        for name in ("lr_peak", "lr_init", "lr_end", "grad_clip", "ema_decay", "score_weight", "key_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        checks = [
            (self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.steps <= 10**9, f"steps must be <= 1e9, got {self.steps}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr_peak > 0, f"learning rate (lr_peak) must be > 0, got {self.lr_peak}"),
            (self.lr_init >= 0 and self.lr_end >= 0, "lr_init and lr_end must be >= 0"),
            (0 <= self.warmup_steps <= self.steps,
             f"warmup_steps must be in [0, steps], got {self.warmup_steps} with steps = {self.steps}"),
            (self.grad_clip > 0, f"grad_clip must be > 0, got {self.grad_clip}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (self.score_weight >= 0 and self.key_weight >= 0, "loss weights must be >= 0"),
            (self.score_weight + self.key_weight > 0, "at least one loss weight must be > 0"),
            (self.checkpoint_every >= 0 and self.eval_every >= 0 and self.log_every >= 1,
             "checkpoint_every/eval_every must be >= 0 and log_every >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        make_selector(self.select)
        make_retrieval(self.retrieval)
        if self.patience < 0 or (self.patience and (self.select == "last" or not self.eval_every)):
            raise ValueError(f"patience must be >= 0 and needs a selection on validation (select best_val or "
                             f"best_val_coverage) with eval_every > 0, got patience {self.patience} with select "
                             f"{self.select!r}, eval_every {self.eval_every}")
        if self.select == "best_val_coverage" and make_retrieval(self.retrieval) is None:
            raise ValueError("select: best_val_coverage needs a retrieval term (training.retrieval, --retrieval): "
                             "the coverage is measured on the IVF partition it trains on")
        make_routing(self.routing)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainSpec":
        """Build from a config mapping; unknown keys are an error naming the key."""
        return from_mapping(cls, values, "training")

    def result_fields(self) -> dict[str, Any]:
        """The settings that determine the trained weights (all but logging/checkpoint cadence)."""
        return {k: v for k, v in asdict(self).items() if k not in NON_RESULT_FIELDS}

    def lr_at(self, step: int) -> float:
        """Linear warm-up lr_init → lr_peak over warmup_steps, then cosine decay to lr_end at ``steps``."""
        if step < self.warmup_steps:
            return self.lr_init + (self.lr_peak - self.lr_init) * step / self.warmup_steps
        span = max(1, self.steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.lr_end + 0.5 * (self.lr_peak - self.lr_end) * (1 + math.cos(math.pi * progress))


@dataclass
class TrainData:
    """Training tensors: queries [N, d] (unit), target_idx [N, C] int64 (per-cluster top-1), keys [m, d], and the
    IVF partition a retrieval term trains on (:mod:`amips.training.retrieval`; None without one)."""

    queries: torch.Tensor
    target_idx: torch.Tensor
    keys: torch.Tensor
    partition: Partition | None = None

    def __post_init__(self) -> None:
        if self.queries.shape[0] != self.target_idx.shape[0]:
            raise InputError(f"{self.queries.shape[0]} training queries but {self.target_idx.shape[0]} target rows")
        if self.queries.shape[1] != self.keys.shape[1]:
            raise InputError(f"queries have dimension {self.queries.shape[1]}, keys {self.keys.shape[1]}")
        if self.partition is not None:
            if self.partition.centroids.shape[1] != self.keys.shape[1]:
                raise InputError(f"partition centroids have dimension {self.partition.centroids.shape[1]}, keys "
                                 f"{self.keys.shape[1]}")
            if self.partition.key_list.shape[0] != self.keys.shape[0]:
                raise InputError(f"the partition lists {self.partition.key_list.shape[0]} keys, the key set has "
                                 f"{self.keys.shape[0]}")

    def to(self, device: str) -> "TrainData":
        partition = self.partition.to(device) if self.partition is not None else None
        return TrainData(self.queries.to(device), self.target_idx.to(device), self.keys.to(device), partition)

    def true_lists(self) -> torch.Tensor:
        """The partition's list of each row's (first) target key [N]."""
        assert self.partition is not None
        return self.partition.key_list[self.target_idx[:, 0]]


class BatchSampler:
    """Deterministic batches: step → row indices, epochs reshuffled from (seed, epoch)."""

    def __init__(self, num_rows: int, batch_size: int, seed: int) -> None:
        if batch_size > num_rows:
            raise InputError(f"batch_size={batch_size} exceeds the {num_rows} training rows")
        self.num_rows, self.batch_size, self.seed = num_rows, batch_size, seed
        self.per_epoch = num_rows // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def indices(self, step: int) -> torch.Tensor:
        epoch, pos = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.num_rows, generator=gen)
        return self._perm[pos * self.batch_size : (pos + 1) * self.batch_size]


@dataclass
class TrainResult:
    """The selected EMA model, the history (log and evaluation records), timings and what was selected."""

    ema_model: AmipsModel
    history: list[dict[str, float]]
    seconds: float
    steps_per_second: float
    resumed_from: int
    selection: dict[str, Any]


def _zero_nan_grads(params: list[torch.nn.Parameter]) -> int:
    """Replace NaN gradient entries by 0 (the official optax chain); return how many were replaced."""
    count = 0
    for p in params:
        if p.grad is not None:
            nan = torch.isnan(p.grad)
            if nan.any():
                count += int(nan.sum())
                p.grad.masked_fill_(nan, 0.0)
    return count


def _guard_and_clip(params: list[torch.nn.Parameter], max_norm: float) -> tuple[int, float]:
    """NaN guard then global-norm clipping; returns (NaN entries zeroed, pre-clip norm).

    Same result as ``_zero_nan_grads`` followed by ``clip_grad_norm_``, but the per-tensor NaN scan (two ops and a
    host sync per tensor) only runs when the total norm is not finite, which a NaN anywhere makes it.
    """
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.nn.utils.get_total_norm(grads)
    nan_count = 0
    if not bool(torch.isfinite(total)):
        nan_count = _zero_nan_grads(params)
        total = torch.nn.utils.get_total_norm(grads)
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)
    return nan_count, float(total)


def run_fingerprint(model: AmipsModel, data: TrainData, spec: TrainSpec, seed: int,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines a training run's result: model spec and size, the result-relevant training
    settings, the seed, content digests of the keys, training queries and targets, and ``extra`` (e.g. the label
    settings the training rows were made with)."""
    tensors = [("keys", data.keys), ("train_queries", data.queries), ("train_targets", data.target_idx)]
    if data.partition is not None:
        tensors += [("partition_centroids", data.partition.centroids), ("partition_lists", data.partition.key_list)]
    return {
        **(extra or {}),
        "model": {"spec": model.spec.to_dict(), "dim": model.dim, "width": model.width},
        "training": spec.result_fields(),
        "seed": seed,
        "data": {name: array_digest(t.detach().cpu().numpy()) for name, t in tensors},
    }


def _save_checkpoint(path: Path, model: AmipsModel, ema: AveragedModel, opt: torch.optim.Optimizer, step: int,
                     fingerprint: dict[str, Any], num_keys: int, history: list[dict[str, float]],
                     selector: Selector) -> None:
    payload = model_payload(model, num_keys, {
        "selector": selector.state(),
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "fingerprint": fingerprint,
        "ema_state_dict": ema.state_dict(),
        "ema_sha256": tensors_digest(ema.state_dict()),
        "optimizer_state_dict": opt.state_dict(),
        "history": history,
    })
    save_payload(path, payload)


def non_finite_parameter(module: torch.nn.Module) -> str | None:
    """Name of the first parameter or buffer of ``module`` holding a NaN/Inf, or None if all are finite."""
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def _check_finite(model: AmipsModel, ema: AveragedModel, step: int, probe: torch.Tensor, run_name: str) -> None:
    """Raise :class:`TrainingDiverged` if the weights or the EMA model's predictions on ``probe`` are not finite."""
    for what, module in (("weights", model), ("EMA weights", ema.module)):
        bad = non_finite_parameter(module)
        if bad is not None:
            raise TrainingDiverged(f"training {run_name} diverged: non-finite {what} at step {step} (first in {bad}); "
                                   "no model written; lower the learning rate or check the data")
    with torch.enable_grad():
        scores, keys = ema.module.predict(probe, create_graph=False)
    if not (bool(torch.isfinite(scores).all()) and bool(torch.isfinite(keys).all())):
        raise TrainingDiverged(f"training {run_name} diverged: the model predicts non-finite scores or keys at step "
                               f"{step}; no model written; lower the learning rate or check the data")


def train_model(
    model: AmipsModel,
    data: TrainData,
    spec: TrainSpec,
    seed: int = 0,
    device: str = "cpu",
    checkpoint_path: str | Path | None = None,
    eval_fn: Callable[[AmipsModel], dict[str, float]] | None = None,
    progress: bool | str = False,
    stop_after: int | None = None,
    fingerprint_extra: dict[str, Any] | None = None,
    on_stale: str = "error",
    stale_hint: str = "delete it to train from step 0",
    run_name: str = "",
) -> TrainResult:
    """Train ``model`` in place and return its EMA copy (used for evaluation, as in the official code).

    Args:
        model, data, spec: a freshly built model (its weights replaced when resuming), the training tensors (moved
            to ``device``: 'cpu' or 'cuda[:N]') and the optimisation settings; ``seed``: the batch order.
        checkpoint_path: where to write periodic checkpoints; if it exists training resumes from it, provided its
            fingerprint (:func:`run_fingerprint`: model, result-relevant settings, seed, content digests of the data,
            ``fingerprint_extra``) equals this run's.
        eval_fn: called on the EMA model every ``spec.eval_every`` steps and after the last one; its metrics go into
            the history and feed ``spec.select`` (:mod:`amips.training.selection`; ``best_val`` needs it).
        progress: "bar", "log", True (a bar on a terminal, else log lines) or False; :mod:`amips.core.progress`.
        stop_after: stop (after checkpointing) once this step count is reached — for tests of resumption.
        fingerprint_extra: more fields that determine the result (e.g. label settings), stored in the checkpoint.
        on_stale: a corrupt or stale checkpoint is an ``"error"`` (:class:`StaleCheckpoint` naming the differing
            field, ending with ``stale_hint``) or discarded with a warning (``"restart"``, the pipeline's choice).
        run_name: names the run in errors (e.g. the output path).

    Raises:
        TrainingDiverged: the weights, the EMA weights, or the EMA model's predictions on a batch of training
            queries are not finite (checked at every log step, before every checkpoint and at the end).
    """
    if on_stale not in ("error", "restart"):
        raise ValueError(f"on_stale must be 'error' or 'restart', got {on_stale!r}")
    selector = make_selector(spec.select)
    if selector.needs_validation and eval_fn is None:
        raise InputError(f"select: {spec.select} needs a validation split to evaluate on (validation_fraction > 0 "
                         "in the labels, or validation queries); use select: last for the official behaviour")
    run_name = run_name or str(checkpoint_path or "run")
    data, objective, params, opt, ema = _prepare(model, data, spec, device)
    ckpt = Path(checkpoint_path) if checkpoint_path else None
    fingerprint = run_fingerprint(model, data, spec, seed, fingerprint_extra) if ckpt is not None else {}
    start, history = _resume_or_start(ckpt, model, ema, opt, fingerprint, device, stale_hint, selector, on_stale)
    probe = data.queries[: min(256, data.queries.shape[0])]
    sampler = BatchSampler(data.queries.shape[0], spec.batch_size, seed)
    end = spec.steps if stop_after is None else min(spec.steps, stop_after)
    bar, stopped = _progress_bar(spec.steps, start, progress), None  # stopped: the step where patience ran out
    t0, window_t, window_steps = time.perf_counter(), time.perf_counter(), 0
    model.train()
    for step in range(start, end):
        loss, parts, nan_count, grad_norm = _step(model, ema, opt, params, objective, data,
                                                  sampler.indices(step).to(device), spec, step)
        done = step + 1
        window_steps += 1
        _advance(bar, loss)
        evaluate = eval_fn is not None and ((spec.eval_every and done % spec.eval_every == 0) or done == spec.steps)
        if done % spec.log_every == 0 or done == end or evaluate:
            record = _record(done, spec, loss, parts, nan_count, grad_norm,
                             window_steps / max(time.perf_counter() - window_t, 1e-9))
            _check_finite(model, ema, done, probe, run_name)
            if evaluate and _evaluate(eval_fn, ema.module, selector, done, record, spec) and done < end:
                stopped = done
            history.append(record)
            window_t, window_steps = time.perf_counter(), 0
        if ckpt is not None and ((spec.checkpoint_every and done % spec.checkpoint_every == 0) or done == end):
            _check_finite(model, ema, done, probe, run_name)
            _save_checkpoint(ckpt, model, ema, opt, done, fingerprint, int(data.keys.shape[0]), history, selector)
        if stopped is not None:
            end = done
            break
    if bar is not None:
        bar.close()
    _check_finite(model, ema, end, probe, run_name)
    seconds, ema_model = time.perf_counter() - t0, ema.module
    selection = _selection(selector, ema_model, spec, end, stopped)
    return TrainResult(ema_model.eval(), history, seconds, (end - start) / max(seconds, 1e-9), start, selection)


def _prepare(model: AmipsModel, data: TrainData, spec: TrainSpec,
             device: str) -> tuple[TrainData, Objective, list[torch.nn.Parameter], torch.optim.Optimizer, AveragedModel]:
    """Model and data on ``device``; the objective, the parameters, Adam and the EMA of the weights."""
    model.to(device)
    data = data.to(device)
    params = [p for p in model.parameters()]
    # fused Adam: one kernel per tensor instead of ~10 (same update rule); on a busy 2-core CPU the unfused
    # per-tensor ops each wait for an OpenMP barrier and the optimizer step took up to 0.8 s of a ~2 s step.
    opt = torch.optim.Adam(params, lr=spec.lr_at(0), fused=torch.device(device).type in ("cpu", "cuda"))
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(spec.ema_decay), use_buffers=True)
    return data, Objective.of(spec, data), params, opt, ema


def _record(done: int, spec: TrainSpec, loss: torch.Tensor, parts: dict[str, float], nan_count: int,
            grad_norm: float, rate: float) -> dict[str, Any]:
    """The history row of step ``done`` (logged)."""
    record = {"step": done, "loss": float(loss.detach()), **parts, "lr": spec.lr_at(done - 1), "grad_norm": grad_norm,
              "nan_grads": nan_count, "steps_per_s": rate}
    log.info("step %d/%d loss %.5g key_mse %.4g score_mse %.4g lr %.3g %.1f steps/s", done, spec.steps,
             record["loss"], parts["key_mse"], parts["score_mse"], record["lr"], rate)
    return record


def _step(model: AmipsModel, ema: AveragedModel, opt: torch.optim.Optimizer, params: list[torch.nn.Parameter],
          objective: Objective, data: TrainData, idx: torch.Tensor, spec: TrainSpec,
          step: int) -> tuple[torch.Tensor, dict[str, float], int, float]:
    """One optimisation step on the batch ``idx``: (loss, its parts, NaN gradients zeroed, gradient norm)."""
    for group in opt.param_groups:
        group["lr"] = spec.lr_at(step)
    loss, parts = objective.loss(model, data, idx, data.queries[idx], spec)
    opt.zero_grad(set_to_none=True)
    loss.backward(inputs=params)  # not into the (SupportNet) input x, whose gradient nobody reads
    nan_count, grad_norm = _guard_and_clip(params, spec.grad_clip)
    opt.step()
    ema.update_parameters(model)
    return loss, parts, nan_count, grad_norm


def _advance(bar: Any, loss: torch.Tensor) -> None:
    """One step on the progress bar (with the loss) or the progress log (without: a device sync per step)."""
    if bar is not None:
        bar.update(1)
        if not isinstance(bar, ProgressLog):
            bar.set_postfix(loss=f"{float(loss.detach()):.4g}")


def _selection(selector: Any, ema_model: AmipsModel, spec: TrainSpec, end: int, stopped: int | None) -> dict[str, Any]:
    """The weights kept at the end (the selector's choice loaded into ``ema_model``), or the last ones of a run cut
    short by ``stop_after``; with the step where patience stopped it."""
    if stopped is not None:
        log.info("step %d: no better %s for %d evaluations (patience): stopping, %d of %d steps done", stopped,
                 selector.metric, spec.patience, stopped, spec.steps)
    if end == spec.steps or stopped is not None:
        return {**selector.apply(ema_model, end), **({"stopped_at_step": stopped} if stopped else {})}
    return {"select": spec.select, "selected_step": end}


def _resume_or_start(ckpt: Path | None, model: AmipsModel, ema: AveragedModel, opt: torch.optim.Optimizer,
                     fingerprint: dict[str, Any], device: str, stale_hint: str, selector: Any,
                     on_stale: str) -> tuple[int, list[dict[str, float]]]:
    """(first step, history so far): from the checkpoint ``ckpt`` when it exists and matches ``fingerprint``; a stale
    one is an error (``on_stale='error'``) or discarded with a warning (``'restart'``)."""
    if ckpt is None or not ckpt.exists():
        return 0, []
    try:
        return _resume(ckpt, model, ema, opt, fingerprint, device, stale_hint, selector)
    except StaleCheckpoint as exc:
        if on_stale == "error":
            raise
        log.warning("discarding %s and training from step 0: %s", ckpt, str(exc).split(": ", 1)[-1])
        ckpt.unlink(missing_ok=True)
        return 0, []


def _evaluate(eval_fn: Callable[[AmipsModel], dict[str, float]], ema_model: AmipsModel, selector: Any, done: int,
              record: dict[str, Any], spec: TrainSpec) -> bool:
    """Evaluate the EMA model after step ``done``, feed the selector, add the metrics to ``record``; whether patience
    has run out (``spec.patience`` evaluations without a better selection metric)."""
    metrics = eval_fn(ema_model)
    ema_model.train()
    selector.observe(done, metrics, ema_model)
    record.update(metrics)
    log.info("step %d evaluation: %s", done, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    return bool(spec.patience) and done - selector.best_step >= spec.patience * spec.eval_every


def _progress_bar(total: int, initial: int, progress: bool | str | None):
    """A tqdm bar, a :class:`~amips.core.progress.ProgressLog` (``train: step 300/1200 (25%), 12.3 steps/s, ETA
    1m13s`` every few seconds) or None, as :func:`amips.core.progress.resolve_mode` reads ``progress``."""
    mode = resolve_mode(progress)
    if mode == LOG:
        return ProgressLog(total, "train", "steps", item="step", initial=initial, logger=log)
    if mode is None:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step", mininterval=1.0)


def _resume(path: Path, model: AmipsModel, ema: AveragedModel, opt: torch.optim.Optimizer,
            fingerprint: dict[str, Any], device: str, hint: str, selector: Selector) -> tuple[int, list[dict[str, float]]]:
    """Load a checkpoint into model/ema/optimiser after checking that its fingerprint equals ``fingerprint``.

    Raises :class:`StaleCheckpoint` (naming the first differing field and ending with ``hint``) if the file is
    corrupt, of another format, or from a run with other inputs or settings.
    """
    try:
        payload = load_payload(path, what="checkpoint")
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise InputError(f"checkpoint file is not an {CHECKPOINT_FORMAT} training checkpoint: {path}")
        if tensors_digest(payload["ema_state_dict"]) != payload.get("ema_sha256"):
            raise InputError(f"checkpoint file is corrupt (its EMA weights do not match their digest): {path}")
        restored = model_from_payload(payload, source=str(path))
    except (InputError, KeyError, TypeError) as exc:
        reason = str(exc) if isinstance(exc, InputError) else f"checkpoint file is incomplete ({exc!r}): {path}"
        raise StaleCheckpoint(f"{reason}; {hint}") from exc
    old = payload.get("fingerprint", {})
    # model and training settings first, content digests last: a changed setting (e.g. the noise) also changes
    # the data digests, and the setting is the informative name
    rank = {"model": 0, "training": 1, "seed": 2, "data": 4}
    field = next((f for part in sorted(set(old) | set(fingerprint), key=lambda k: (rank.get(k, 3), k))
                  if (f := first_difference({part: old.get(part)}, {part: fingerprint.get(part)})) is not None), None)
    if field is not None:
        raise StaleCheckpoint(
            f"checkpoint {path} is from another run: {field} differs (checkpoint: "
            f"{_short(lookup(old, field))}, now: {_short(lookup(fingerprint, field))}); {hint}")
    model.load_state_dict(restored.state_dict())
    model.to(device)
    ema.load_state_dict(payload["ema_state_dict"])
    opt.load_state_dict(payload["optimizer_state_dict"])
    if payload.get("selector"):
        selector.load(payload["selector"])
    log.info("resumed from %s at step %d", path, payload["step"])
    return int(payload["step"]), list(payload["history"])


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
