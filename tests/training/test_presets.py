"""The official preset equals the official code's values (../shared/reference/method.md §1–§6), in the CLI
(`amips fit --preset official`) and in the config overlay (config/presets/official.yaml)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from amips.cli import _model_spec, _train_spec, build_parser
from amips.evaluation.metrics import retrieval_metrics, target_ranks
from amips.training.presets import PRESETS
from clitools import REPO

# method.md, transcribed: §1.5/§4/§6.3 architecture, §5.2–§5.3 and train_amips_fiqa.yaml optimisation, §6.2 labels,
# §5.5/§1 conventions (faiss default k-means seed 1234, floor(0.01·m), strictly greater).
METHOD_MD = {
    "model": {"depth": 8, "parameters_fraction": 0.2, "wx_inject": 4, "use_bias": True, "activation_slope": 0.1,
              "activation_beta": 20.0, "output_activation": True, "rectifier": "identity", "principled_init": True,
              "init_bias_sign": 1, "resnet": False, "budget_rule": "official"},
    "training": {"steps": 100000, "batch_size": 4096, "lr_init": 0.0, "lr_peak": 2.828e-3, "lr_end": 0.0,
                 "warmup_steps": 1000, "grad_clip": 1.0, "ema_decay": 0.96849, "score_weight": 0.01,
                 "key_weight": 1.0, "select": "last"},
    "labels": {"noise_std": 0.02, "noise_copies": 50, "split": "pooled", "validation_fraction": 0.0},
    "evaluation": {"rank_ties": "strict", "recall_at_1pct": "floor"},
}


def _parse(*argv: str):
    return build_parser().parse_args(["fit", "--keys", "k.npy", "--queries", "q.npy", "--out", "m.pt", *argv])


@pytest.mark.parametrize("kind,homogenization", [("supportnet", "radial"), ("keynet", "none")])
def test_fit_preset_official_sets_every_official_value(kind, homogenization):
    args = _parse("--preset", "official", "--model", kind)
    spec, training = _model_spec(args), _train_spec(args)
    for field, value in METHOD_MD["model"].items():
        assert getattr(spec, field) == value, field
    assert spec.homogenization == homogenization
    for field, value in METHOD_MD["training"].items():
        assert getattr(training, field) == pytest.approx(value), field


def test_explicit_options_override_the_preset():
    args = _parse("--preset", "official", "--steps", "3000", "--rectifier", "softplus", "--select", "best_val")
    assert _train_spec(args).steps == 3000 and _model_spec(args).rectifier == "softplus"
    assert _train_spec(args).select == "best_val" and _train_spec(args).warmup_steps == 1000


def test_without_a_preset_the_cli_defaults_apply():
    args = _parse("--preset", "none")
    training = _train_spec(args)
    assert (training.steps, training.batch_size, training.warmup_steps, training.select) == (2000, 512, 100, "best_val")


def test_every_training_knob_of_the_config_is_a_fit_option():
    from amips.training.train import TrainSpec
    from dataclasses import fields

    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    options = {a.dest for a in commands["fit"]._actions}  # noqa: SLF001
    cli_name = {"lr_peak": "lr"}
    router_only = {"routing"}  # fit trains single-output MIPS models; routers are trained by `amips train`
    for field in fields(TrainSpec):
        if field.name not in router_only:
            assert cli_name.get(field.name, field.name) in options, field.name
    assert router_only <= {a.dest for a in commands["train"]._actions}  # noqa: SLF001


def test_config_overlay_and_module_agree_with_method_md():
    overlay = yaml.safe_load((REPO / "config/presets/official.yaml").read_text())
    for section in ("training", "labels", "evaluation"):
        assert overlay[section] == METHOD_MD[section], section
        assert PRESETS["official"][section] == METHOD_MD[section], section
    assert overlay["experiments"]["ivf"]["seed"] == PRESETS["official"]["ivf"]["seed"] == 1234
    assert {k: PRESETS["official"]["model"][k] for k in METHOD_MD["model"]} == METHOD_MD["model"]


def test_official_counting_conventions():
    keys = np.eye(4, dtype=np.float32)
    pred = np.array([[1.0, 1.0, 0.0, 0.0]], np.float32)  # the target (key 1) ties with key 0
    assert target_ranks(pred, keys, np.array([1]), rank_ties="strict")[0] == 0  # strict: a tie is not "higher"
    ranks = np.array([0, 1, 2, 3])
    assert retrieval_metrics(ranks, 250, "ceil")["recall@1%"] == 0.75  # ceil(2.5) = 3 keys
    assert retrieval_metrics(ranks, 250, "floor")["recall@1%"] == 0.5  # floor(2.5) = 2 keys
