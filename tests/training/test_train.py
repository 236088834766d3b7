"""Training: learning beats the identity map, schedule, NaN guard, deterministic resume."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from amips.evaluation.evaluate import evaluate_model
from amips.data.io import InputError
from amips.models import ModelSpec, build_model
from amips.training.train import (BatchSampler, StaleCheckpoint, TrainData, TrainingDiverged, TrainSpec, _zero_nan_grads,
                         run_fingerprint, train_model)


def _data(problem) -> TrainData:
    rows = problem["train"]
    return TrainData(torch.from_numpy(problem["queries"][rows]), torch.from_numpy(problem["targets"][rows]),
                     torch.from_numpy(problem["keys"]))


def _spec(**kw) -> TrainSpec:
    return TrainSpec(**{**dict(steps=400, batch_size=128, lr_peak=5e-3, warmup_steps=20, ema_decay=0.9, select="last",
                               log_every=100), **kw})


@pytest.mark.parametrize("kind,extra,max_rn2", [("supportnet", {}, 0.9), ("keynet", {"resnet": True}, 1.0)])
def test_training_beats_identity_map_and_chance(tiny_problem, kind, extra, max_rn2):
    p = tiny_problem
    spec = ModelSpec(kind=kind, homogenization="radial", depth=3, wx_inject=2, parameters_fraction=0.5, **extra)
    model = build_model(spec, 16, 600, seed=0)
    test = p["test"]
    before = evaluate_model(model, p["keys"], p["queries"][test], p["targets"][test])
    result = train_model(model, _data(p), _spec(), seed=0)
    after = evaluate_model(result.ema_model, p["keys"], p["queries"][test], p["targets"][test])
    chance = 1.0 / len(np.unique(p["targets"][p["train"]]))
    assert after["key_error_rn2"] < max_rn2, after  # better than using the query itself as the key
    assert after["key_error"] < before["key_error"]
    assert after["match_rate"] > max(20 * chance, 0.2), after
    assert result.history and result.history[-1]["step"] == 400


def test_learning_rate_schedule():
    spec = TrainSpec(steps=100, batch_size=1, lr_peak=1.0, lr_init=0.0, lr_end=0.1, warmup_steps=10)
    assert spec.lr_at(0) == 0.0 and np.isclose(spec.lr_at(5), 0.5) and spec.lr_at(10) == 1.0
    assert np.isclose(spec.lr_at(55), 0.55) and np.isclose(spec.lr_at(100), 0.1)
    lrs = [spec.lr_at(s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


@pytest.mark.parametrize("bad", [dict(steps=0), dict(batch_size=0), dict(lr_peak=0.0), dict(lr_peak=-1.0),
                                 dict(warmup_steps=500), dict(ema_decay=1.0), dict(lr_peak=float("inf")),
                                 dict(lr_peak=float("nan")), dict(steps=300.0), dict(batch_size=True),
                                 dict(grad_clip=float("nan")), dict(steps=10**12)])
def test_bad_training_settings_raise(bad):
    with pytest.raises(ValueError):
        _spec(**bad)


def test_unknown_training_key_is_named():
    with pytest.raises(ValueError, match="stesp"):
        TrainSpec.from_dict({"steps": 1, "batch_size": 1, "lr_peak": 1.0, "stesp": 3})


def test_nan_gradients_are_zeroed():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([1.0, float("nan"), 2.0, float("nan")])
    assert _zero_nan_grads([p]) == 2
    assert p.grad.tolist() == [1.0, 0.0, 2.0, 0.0]


def test_batches_are_a_function_of_seed_and_step():
    a, b = BatchSampler(100, 30, seed=1), BatchSampler(100, 30, seed=1)
    assert all(torch.equal(a.indices(s), b.indices(s)) for s in (0, 5, 2, 7))
    epoch0 = torch.cat([a.indices(s) for s in range(3)])
    assert len(set(epoch0.tolist())) == 90  # no repeats within an epoch; last partial batch dropped
    with pytest.raises(InputError):
        BatchSampler(10, 11, seed=0)


@pytest.mark.parametrize("kind", ["supportnet", "keynet"])
def test_resume_from_checkpoint_gives_identical_weights(tiny_problem, tmp_path, kind):
    torch.use_deterministic_algorithms(True)
    spec = ModelSpec(kind=kind, homogenization="radial", depth=2, wx_inject=2, width=16)
    tspec = _spec(steps=60, checkpoint_every=20, log_every=10)
    full = train_model(build_model(spec, 16, 600, seed=4), _data(tiny_problem), tspec, seed=4)

    ckpt = tmp_path / "ckpt.pt"
    train_model(build_model(spec, 16, 600, seed=4), _data(tiny_problem), tspec, seed=4, checkpoint_path=ckpt,
                stop_after=40)
    assert ckpt.exists()
    resumed = train_model(build_model(spec, 16, 600, seed=99), _data(tiny_problem), tspec, seed=4,
                          checkpoint_path=ckpt)
    assert resumed.resumed_from == 40
    for (name, a), (_, b) in zip(full.ema_model.state_dict().items(), resumed.ema_model.state_dict().items()):
        assert torch.equal(a, b), name
    assert [h["loss"] for h in full.history] == [h["loss"] for h in resumed.history]


def _interrupted(problem, tmp_path, spec: ModelSpec, **train_kw):
    """A checkpoint at step 5 of a 10-step run."""
    ckpt = tmp_path / "ckpt.pt"
    train_model(build_model(spec, 16, 600), _data(problem), _spec(steps=10, warmup_steps=0), checkpoint_path=ckpt,
                stop_after=5, **train_kw)
    return ckpt


def _other_keys(problem):
    changed = dict(problem)
    changed["keys"] = problem["keys"].copy()
    changed["keys"][0, 0] += 1e-3
    return changed


@pytest.mark.parametrize("change,field", [
    (dict(spec=dict(width=12)), "model.spec.width differs (checkpoint: 8, now: 12)"),
    (dict(seed=1), "seed differs (checkpoint: 0, now: 1)"),
    (dict(training=dict(lr_peak=1e-2)), "training.lr_peak differs (checkpoint: 0.005, now: 0.01)"),
    (dict(problem=_other_keys), "data.keys differs"),
    (dict(extra={"labels": {"noise_std": 0.05}}), "labels.noise_std differs (checkpoint: 0.02, now: 0.05)"),
])
def test_stale_checkpoint_names_the_differing_field(tiny_problem, tmp_path, change, field):
    spec = ModelSpec(kind="keynet", depth=2, width=8)
    ckpt = _interrupted(tiny_problem, tmp_path, spec, fingerprint_extra={"labels": {"noise_std": 0.02}})
    problem = change.get("problem", lambda p: p)(tiny_problem)
    with pytest.raises(StaleCheckpoint, match="is from another run: " + re.escape(field)) as info:
        train_model(build_model(spec.replace(**change.get("spec", {})), 16, 600), _data(problem),
                    _spec(steps=10, warmup_steps=0, **change.get("training", {})), seed=change.get("seed", 0),
                    checkpoint_path=ckpt, fingerprint_extra=change.get("extra", {"labels": {"noise_std": 0.02}}),
                    stale_hint="rerun with --restart")
    assert str(info.value).endswith("rerun with --restart")
    assert ckpt.exists()  # an error leaves the checkpoint for the user to decide


def test_stale_checkpoint_is_discarded_in_restart_mode(tiny_problem, tmp_path, caplog):
    spec = ModelSpec(kind="keynet", depth=2, width=8)
    ckpt = _interrupted(tiny_problem, tmp_path, spec)
    fresh = train_model(build_model(spec, 16, 600), _data(tiny_problem), _spec(steps=10, warmup_steps=0), seed=3)
    with caplog.at_level("WARNING", logger="amips.training.train"):
        result = train_model(build_model(spec, 16, 600), _data(tiny_problem), _spec(steps=10, warmup_steps=0),
                             seed=3, checkpoint_path=ckpt, on_stale="restart")
    assert result.resumed_from == 0 and "discarding" in caplog.text and "seed differs" in caplog.text
    for (name, a), (_, b) in zip(fresh.ema_model.state_dict().items(), result.ema_model.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("content", [b"PK\x03\x04 truncated zip", "flipped"])
def test_corrupt_checkpoint_is_stale(tiny_problem, tmp_path, content):
    spec = ModelSpec(kind="keynet", depth=2, width=8)
    ckpt = _interrupted(tiny_problem, tmp_path, spec)
    if content == "flipped":  # change bytes inside the stored EMA weights: the archive still loads
        payload = torch.load(ckpt, weights_only=True)
        weight = next(t for t in payload["ema_state_dict"].values() if t.is_floating_point())
        weight.view(-1)[0] += 1.0
        torch.save(payload, ckpt)
    else:
        ckpt.write_bytes(content)
    with pytest.raises(StaleCheckpoint, match="corrupt"):
        train_model(build_model(spec, 16, 600), _data(tiny_problem), _spec(steps=10, warmup_steps=0), checkpoint_path=ckpt)
    result = train_model(build_model(spec, 16, 600), _data(tiny_problem), _spec(steps=10, warmup_steps=0),
                         checkpoint_path=ckpt, on_stale="restart")
    assert result.resumed_from == 0


def test_logging_settings_do_not_block_a_resume(tiny_problem, tmp_path):
    spec = ModelSpec(kind="keynet", depth=2, width=8)
    ckpt = _interrupted(tiny_problem, tmp_path, spec)
    result = train_model(build_model(spec, 16, 600), _data(tiny_problem),
                         _spec(steps=10, warmup_steps=0, log_every=3, checkpoint_every=2), checkpoint_path=ckpt)
    assert result.resumed_from == 5


@pytest.mark.parametrize("kind,lr", [("keynet", 1e30), ("supportnet", 1e30)])
def test_diverged_training_fails_and_names_the_run(tiny_problem, tmp_path, kind, lr):
    spec = ModelSpec(kind=kind, depth=2, wx_inject=2, width=16)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingDiverged, match="training my-run diverged: .*no model written"):
        train_model(build_model(spec, 16, 600), _data(tiny_problem), _spec(steps=40, lr_peak=lr, warmup_steps=0),
                    checkpoint_path=ckpt, run_name="my-run")


def test_run_fingerprint_digests_content_not_identity(tiny_problem):
    spec = ModelSpec(kind="keynet", depth=2, width=8)
    model = build_model(spec, 16, 600)
    a = run_fingerprint(model, _data(tiny_problem), _spec(), 0)
    b = run_fingerprint(model, _data({k: (v.copy() if isinstance(v, np.ndarray) else v)
                                      for k, v in tiny_problem.items()}), _spec(log_every=7), 0)
    assert a == b and a["data"]["keys"].startswith("sha256:")


def _degrading_case(problem):
    """Targets shuffled across rows: a residual KeyNet starts near g(x) = x (which finds the true top-1 on unit
    data) and training on wrong keys pulls it away, so the validation match rate falls as training goes on."""
    train = _data(problem)
    wrong = train.target_idx[torch.randperm(train.target_idx.shape[0], generator=torch.Generator().manual_seed(0))]
    test = problem["test"]
    val_q, val_t = problem["queries"][test], problem["targets"][test]

    def evaluate(model):
        return {"val_match_rate": evaluate_model(model, problem["keys"], val_q, val_t)["match_rate"]}

    return TrainData(train.queries, wrong, train.keys), evaluate, (val_q, val_t)


def test_best_val_selection_keeps_the_best_evaluated_weights(tiny_problem, tmp_path):
    spec = ModelSpec(kind="keynet", resnet=True, depth=2, wx_inject=2, width=32)
    data, evaluate, (val_q, val_t) = _degrading_case(tiny_problem)
    tspec = _spec(steps=200, eval_every=20, lr_peak=5e-3, select="best_val")
    best = train_model(build_model(spec, 16, 600, seed=0), data, tspec, eval_fn=evaluate)
    last = train_model(build_model(spec, 16, 600, seed=0), data, _spec(steps=200, eval_every=20, lr_peak=5e-3),
                       eval_fn=evaluate)
    curve = [(h["step"], h["val_match_rate"]) for h in best.history if "val_match_rate" in h]
    assert [s for s, _ in curve] == list(range(20, 201, 20))
    assert curve[0][1] > curve[-1][1] + 0.1  # the case degrades
    top = max(v for _, v in curve)
    first_best = next(s for s, v in curve if v == top)
    assert best.selection == {"select": "best_val", "selected_step": first_best, "selected_val_match_rate": top}
    assert evaluate(best.ema_model)["val_match_rate"] == top  # the kept weights are the ones that scored best
    assert evaluate(last.ema_model)["val_match_rate"] == curve[-1][1] and last.selection["select"] == "last"


def test_resumed_run_selects_what_an_uninterrupted_run_selects(tiny_problem, tmp_path):
    torch.use_deterministic_algorithms(True)
    spec = ModelSpec(kind="keynet", resnet=True, depth=2, wx_inject=2, width=32)
    data, evaluate, _ = _degrading_case(tiny_problem)
    tspec = _spec(steps=120, eval_every=20, checkpoint_every=10, select="best_val")
    full = train_model(build_model(spec, 16, 600, seed=0), data, tspec, eval_fn=evaluate)
    ckpt = tmp_path / "ckpt.pt"
    train_model(build_model(spec, 16, 600, seed=0), data, tspec, eval_fn=evaluate, checkpoint_path=ckpt, stop_after=70)
    resumed = train_model(build_model(spec, 16, 600, seed=0), data, tspec, eval_fn=evaluate, checkpoint_path=ckpt)
    assert resumed.resumed_from == 70 and resumed.selection == full.selection
    for (name, a), (_, b) in zip(full.ema_model.state_dict().items(), resumed.ema_model.state_dict().items()):
        assert torch.equal(a, b), name


def test_best_val_without_a_validation_split_is_an_error(tiny_problem):
    with pytest.raises(InputError, match="select: best_val needs a validation split"):
        train_model(build_model(ModelSpec(kind="keynet", depth=2, width=8), 16, 600), _data(tiny_problem),
                    _spec(steps=5, warmup_steps=0, select="best_val"))


def test_a_large_validation_split_is_evaluated_on_a_fixed_subset(monkeypatch):
    import amips.training.validation as validation

    rng = np.random.default_rng(0)
    keys = rng.standard_normal((50, 4)).astype(np.float32)
    queries = rng.standard_normal((30, 4)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    targets = (queries @ keys.T).argmax(axis=1)[:, None]
    seen = []
    monkeypatch.setattr(validation, "VAL_SUBSET", 12)
    monkeypatch.setattr(validation, "predict", lambda model, q, *a: (seen.append(len(q)) or model(q)))
    identity = lambda q: (np.einsum("nd,nd->n", q, q)[:, None], q[:, None, :])  # noqa: E731
    evaluate = validation.selection_eval_fn(keys, queries, targets, queries, targets, seed=0)
    first, second = evaluate(identity), evaluate(identity)
    assert seen[0] == 12 and first == second  # capped, and the same rows at every evaluation
    assert first["val_match_rate"] == 1.0  # the query is its own best key direction


@pytest.mark.parametrize("kind", ["supportnet", "keynet"])
def test_score_only_training_is_the_score_term_of_the_full_objective(tiny_problem, kind):
    """key_weight 0 trains on precomputed target scores (no key batch per step); it must follow the same
    trajectory as the full objective with a negligible key weight, for a multi-output (router) model."""
    from amips.exact.labels import per_cluster_top1

    rows = tiny_problem["train"]
    queries, keys = tiny_problem["queries"][rows], tiny_problem["keys"]
    assignment = np.arange(len(keys)) % 3
    data = TrainData(torch.from_numpy(queries), torch.from_numpy(per_cluster_top1(queries, keys, assignment, 3)),
                     torch.from_numpy(keys))
    spec = ModelSpec(kind=kind, homogenization="radial", depth=2, wx_inject=2, width=16, num_outputs=3)
    runs = [train_model(build_model(spec, 16, 600, seed=1), data, _spec(steps=30, log_every=10, score_weight=1.0,
                                                                         key_weight=w), seed=1)
            for w in (0.0, 1e-12)]
    assert [h["step"] for h in runs[0].history] == [10, 20, 30]
    assert all(np.isnan(h["key_mse"]) for h in runs[0].history)  # not trained on, so not reported as 0
    np.testing.assert_allclose([h["score_mse"] for h in runs[0].history],
                               [h["score_mse"] for h in runs[1].history], rtol=1e-4)
    for (name, a), (_, b) in zip(runs[0].ema_model.state_dict().items(), runs[1].ema_model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_all_target_scores_are_the_gathered_inner_products(rng):
    from amips.training.losses import all_target_scores, targets_for

    queries, keys = torch.from_numpy(rng.normal(size=(50, 8))), torch.from_numpy(rng.normal(size=(20, 8)))
    idx = torch.from_numpy(rng.integers(0, 20, size=(50, 4)))
    expected = torch.einsum("ncd,nd->nc", keys[idx], queries)
    torch.testing.assert_close(all_target_scores(queries, keys, idx, chunk=7), expected)
    torch.testing.assert_close(targets_for(queries, keys, idx)[0], expected)


def test_best_val_coverage_selects_on_the_list_coverage_and_needs_a_retrieval_term():
    from amips.training.selection import make_selector
    from amips.training.train import TrainSpec

    with pytest.raises(ValueError, match="best_val_coverage needs a retrieval term"):
        TrainSpec(steps=10, batch_size=4, lr_peak=0.01, select="best_val_coverage")
    TrainSpec(steps=10, batch_size=4, lr_peak=0.01, select="best_val_coverage", retrieval={"name": "list_ce"})
    selector = make_selector("best_val_coverage")
    module = torch.nn.Linear(2, 1)
    for step, (match, coverage) in enumerate([(0.9, 0.40), (0.5, 0.55), (0.4, 0.50)], start=1):
        with torch.no_grad():
            module.weight.fill_(step)
        selector.observe(step, {"val_match_rate": match, "val_list_coverage": coverage}, module)
    chosen = selector.apply(module, 3)
    assert chosen == {"select": "best_val_coverage", "selected_step": 2, "selected_val_list_coverage": 0.55}
    assert float(module.weight[0, 0]) == 2.0


def test_patience_stops_once_the_selection_metric_stops_improving(tiny_problem):
    spec = ModelSpec(kind="keynet", resnet=True, depth=2, wx_inject=2, width=32)
    data, evaluate, _ = _degrading_case(tiny_problem)
    full = train_model(build_model(spec, 16, 600, seed=0), data,
                       _spec(steps=200, eval_every=20, lr_peak=5e-3, select="best_val"), eval_fn=evaluate)
    early = train_model(build_model(spec, 16, 600, seed=0), data,
                        _spec(steps=200, eval_every=20, lr_peak=5e-3, select="best_val", patience=2),
                        eval_fn=evaluate)
    curve = [(h["step"], h["val_match_rate"]) for h in full.history if "val_match_rate" in h]
    best = full.selection["selected_step"]
    assert best + 40 < 200, "the degrading case peaks early"
    # the same steps up to the stop (same seed), then two evaluations without a new best: stop
    assert early.selection["stopped_at_step"] == best + 40
    assert early.selection["selected_step"] == best
    assert early.selection["selected_val_match_rate"] == full.selection["selected_val_match_rate"]
    assert [h["step"] for h in early.history if "val_match_rate" in h] == [s for s, _ in curve if s <= best + 40]
    with pytest.raises(ValueError, match="patience must be >= 0 and needs a selection"):
        _spec(steps=100, eval_every=5, select="last", patience=2)
