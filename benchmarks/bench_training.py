"""Training throughput: steps/s and samples/s of KeyNet and SupportNet at batch 4096 on the CPU.

m = 50k, d = 384, parameters_fraction 0.2 (official depth 8, wx_inject 4), the official loss (score + key MSE;
SupportNet differentiates through ∇f: double backward). Random unit queries and random target keys (the cost
of a step does not depend on which keys are the targets). ``configure_torch`` as in the pipeline (deterministic
algorithms on CPU).

Candidate: ``amips.training.train.train_model`` (per-step rates from its history, first step = warm-up, dropped).
Baseline: the pre-optimisation loop body, frozen below (unfused Adam, ``loss.backward()`` into the input too,
a per-tensor NaN scan every step, ``clip_grad_norm_``), interleaved with the candidate in this process.
One extra step is timed phase by phase and one is profiled with ``torch.profiler`` (top ops written to
``<out>/profile_training_<model>_threads<n>.txt``). The full run measures with all cores and again with
1 thread (the Snakemake ``train`` rule's setting).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from benchmarks.common import Row, load_average, rate_row, thread_counts, threads_limited, unit_vectors

FULL = {"m": 50_000, "dim": 384, "batch": 4096, "rows": 8192, "steps": 3, "rounds": 2}
QUICK = {"m": 2_000, "dim": 32, "batch": 256, "rows": 512, "steps": 2, "rounds": 1}
MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear", "aten::baddbmm"}
PHASES = ("data", "forward", "loss", "backward", "guard_clip", "adam", "ema")


def _problem(cfg: dict):
    from amips.training.train import TrainData

    m, dim, rows = cfg["m"], cfg["dim"], cfg["rows"]
    keys = torch.from_numpy(unit_vectors(m, dim, seed=1))
    queries = torch.from_numpy(unit_vectors(rows, dim, seed=2))
    targets = torch.randint(0, m, (rows, 1), generator=torch.Generator().manual_seed(0))
    return TrainData(queries, targets, keys)


def _model(kind: str, cfg: dict, seed: int = 0):
    from amips.models import ModelSpec, build_model

    return build_model(ModelSpec(kind=kind, parameters_fraction=0.2, depth=8, wx_inject=4), cfg["dim"], cfg["m"],
                       seed=seed)


def _spec(cfg: dict, steps: int):
    from amips.training.train import TrainSpec

    return TrainSpec(steps=steps, batch_size=cfg["batch"], lr_peak=1e-3, warmup_steps=0, log_every=1, select="last")


def reference_step_times(model, data, spec, seed: int = 0) -> list[float]:
    """Seconds per step of the training loop as it was before the optimisations (frozen copy, for the ratio)."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from amips.training.losses import amips_loss, targets_for
    from amips.training.train import BatchSampler, _zero_nan_grads

    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=spec.lr_at(0))
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(spec.ema_decay), use_buffers=True)
    sampler = BatchSampler(data.queries.shape[0], spec.batch_size, seed)
    model.train()
    times = []
    for step in range(spec.steps):
        t0 = time.perf_counter()
        idx = sampler.indices(step)
        x = data.queries[idx]
        target_scores, target_keys = targets_for(x, data.keys, data.target_idx[idx])
        for group in opt.param_groups:
            group["lr"] = spec.lr_at(step)
        pred_scores, pred_keys = model.predict(x, create_graph=True)
        loss, _ = amips_loss(pred_scores, pred_keys, target_scores, target_keys, spec.score_weight, spec.key_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        _zero_nan_grads(params)
        float(torch.nn.utils.clip_grad_norm_(params, spec.grad_clip))
        opt.step()
        ema.update_parameters(model)
        float(loss.detach())
        times.append(time.perf_counter() - t0)
    return times


def phase_times(model, data, spec, steps: int = 2) -> dict[str, float]:
    """Seconds per phase of the current loop body (same calls as train_model), last of ``steps`` steps."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from amips.training.losses import amips_loss, targets_for
    from amips.training.train import BatchSampler, _guard_and_clip

    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=spec.lr_at(0), fused=True)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(spec.ema_decay), use_buffers=True)
    sampler = BatchSampler(data.queries.shape[0], spec.batch_size, 0)
    model.train()
    out: dict[str, float] = {}
    for step in range(steps):
        t = [time.perf_counter()]
        idx = sampler.indices(step)
        x = data.queries[idx]
        target_scores, target_keys = targets_for(x, data.keys, data.target_idx[idx])
        t.append(time.perf_counter())
        pred_scores, pred_keys = model.predict(x, create_graph=True)
        t.append(time.perf_counter())
        loss, _ = amips_loss(pred_scores, pred_keys, target_scores, target_keys, spec.score_weight, spec.key_weight)
        opt.zero_grad(set_to_none=True)
        t.append(time.perf_counter())
        loss.backward(inputs=params)
        t.append(time.perf_counter())
        _guard_and_clip(params, spec.grad_clip)
        t.append(time.perf_counter())
        opt.step()
        t.append(time.perf_counter())
        ema.update_parameters(model)
        t.append(time.perf_counter())
        out = {name: t[i + 1] - t[i] for i, name in enumerate(PHASES)}
    return out


def profile_step(kind: str, cfg: dict, data, out_dir: Path | None, threads: int) -> dict[str, float]:
    """torch.profiler over one train_model step; returns self-CPU shares of matmul / other ops."""
    from torch.profiler import ProfilerActivity, profile

    from amips.training.train import train_model

    model = _model(kind, cfg, seed=2)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_model(model, data, _spec(cfg, 1))
    averages = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in averages) or 1.0
    matmul = sum(e.self_cpu_time_total for e in averages if e.key in MATMUL_OPS)
    optim = sum(e.self_cpu_time_total for e in averages
                if "adam" in e.key.lower() or "foreach" in e.key or "lerp" in e.key)
    shares = {"matmul": matmul / total, "optimizer_ema": optim / total}
    shares["elementwise_other"] = 1.0 - shares["matmul"] - shares["optimizer_ema"]
    if out_dir is not None:
        table = averages.table(sort_by="self_cpu_time_total", row_limit=25)
        (out_dir / f"profile_training_{kind}_threads{threads}.txt").write_text(
            f"# one train_model step, {kind}, batch {cfg['batch']}, m {cfg['m']}, d {cfg['dim']}, "
            f"torch threads {threads}, load {load_average()}\n{table}\n")
    return shares


def run(quick: bool, out_dir: Path | None = None, log=print) -> list[Row]:
    from amips.core.runinfo import configure_torch

    cfg = QUICK if quick else FULL
    configure_torch(torch.get_num_threads(), "cpu")  # as amips.pipeline.stages.train.train_run does (deterministic algorithms)
    data = _problem(cfg)
    rows: list[Row] = []
    for threads in thread_counts(quick):
        with threads_limited(threads):
            for kind in ("keynet", "supportnet"):
                rows += _measure(kind, cfg, data, threads, out_dir, log)
    return rows


def _measure(kind: str, cfg: dict, data, threads: int, out_dir: Path | None, log) -> list[Row]:
    from amips.training.train import train_model

    t_start = time.perf_counter()
    load0 = load_average()
    new, old = [], []
    for rnd in range(cfg["rounds"]):
        spec = _spec(cfg, 1 + cfg["steps"])
        result = train_model(_model(kind, cfg, seed=rnd), data, spec)
        new += [1.0 / h["steps_per_s"] for h in result.history[1:]]
        old += reference_step_times(_model(kind, cfg, seed=rnd), data, spec)[1:]
    load = max(load0, load_average())
    best_new, best_old = min(new), min(old)
    case = f"{kind},batch={cfg['batch']},threads={threads},m={cfg['m']},d={cfg['dim']}"
    note = (f"best of {len(new)} steps (median {1 / statistics.median(new):.3f} vs "
            f"{1 / statistics.median(old):.3f} steps/s)")
    base = "pre-optimisation loop (unfused Adam, backward into x, NaN scan each step)"
    rows = [
        rate_row("training", case, "steps_per_s", 1 / best_new, 1 / best_old, unit="steps/s", baseline_name=base,
                 load1=load, notes=note),
        rate_row("training", case, "samples_per_s", cfg["batch"] / best_new, cfg["batch"] / best_old,
                 unit="samples/s", baseline_name=base, load1=load),
    ]
    phases = phase_times(_model(kind, cfg, seed=1), data, _spec(cfg, 2))
    step_s = sum(phases.values())
    for name in PHASES:
        rows.append(Row("training", case, f"phase_share_{name}", phases[name] / step_s, unit="fraction of step",
                        notes=f"{phases[name]:.3f} s of {step_s:.3f} s (one timed step)"))
    shares = profile_step(kind, cfg, data, out_dir, threads)
    for name, share in shares.items():
        rows.append(Row("training", case, f"profile_share_{name}", share, unit="fraction of self CPU time",
                        notes="torch.profiler, one step"))
    log(f"training {case}: {1 / best_new:.3f} steps/s ({cfg['batch'] / best_new:.0f} samples/s) vs pre-fix "
        f"{1 / best_old:.3f} steps/s; phases " + ", ".join(f"{k} {v:.2f}s" for k, v in phases.items())
        + f"; profile matmul {shares['matmul']:.0%}; load {load}; {time.perf_counter() - t_start:.0f} s")
    return rows

if __name__ == "__main__":
    for row in run(quick=False):
        print(row)
