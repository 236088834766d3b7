"""Named presets: complete sets of settings that reproduce a protocol exactly (``--preset`` / config overlays).

``official`` is the official ml-amips code (../shared/reference/method.md §1–§6) with its FiQA training config
(``train_amips_fiqa.yaml``, the BEIR-sized one): depth 8, ``parameters_fraction`` 0.2, skip into every 4th layer,
soft-leaky-ReLU (slope 0.1, β 20) on every layer including the output, SupportNet with the identity rectifier,
principled init with the fixed path's +β bias and the radial wrapper, KeyNet without wrapper or residual; Adam
lr 0 → 2.828e-3 → 0 (1000 warm-up steps, cosine), 100k steps of 4096, clip 1.0, EMA 0.96849, loss 0.01 · score +
1.0 · key; 50 noise copies (std 0.02, the FiQA notebook), the pooled split, the last EMA weights (no validation
split); evaluation conventions: strict-greater rank counting, recall@1 % over ⌊0.01·m⌋ keys, faiss k-means seed
1234 (faiss' default) for the IVF lists. amips' own conventions (the defaults elsewhere) are the labels' exact
order for ranks (equal scores: the lower index ahead), ⌈0.01·m⌉ and IVF seed 0.

``recommended`` (the default of ``amips fit``) is the best recipe measured on real text (WordNet-50k, MiniLM,
``config/medium.yaml``, README "which model to use"): a residual KeyNet of depth 4 with the input re-injected every
2nd layer, a budget of 0.01·m·d, trained with the retrieval-aligned term (list_ce, weight 0.1, temperature 0.05)
for 1200 steps of 1024 at peak lr 0.002 (100 warm-up steps), 2 noisy copies per query, best-validation weights.
Measured there (3 seeds): match rate 0.732 ± 0.004 and IVF coverage above the query itself at every probe count
1…16, where the official KeyNet reached 0.458. With ``--model supportnet`` the same recipe is the medium config's
``supportnet_retrieval`` (radial SupportNet, match rate 0.786 ± 0.006, slower to train: second-order autodiff).
No wrapper in it is a no-op on unit-norm queries (the KeyNet takes ``none``). It stops after 3 validation evaluations
without a better match rate (``patience``): on WordNet-50k the same weights (step 150, test match rate 0.728) in 600
instead of 1200 steps, 88 s instead of 165 s (``paper_figures/early_peak/``).
"""

from __future__ import annotations

from typing import Any

OFFICIAL_MODEL: dict[str, Any] = {
    "depth": 8, "parameters_fraction": 0.2, "budget_rule": "official", "wx_inject": 4, "use_bias": True,
    "activation_slope": 0.1, "activation_beta": 20.0, "output_activation": True, "rectifier": "identity",
    "principled_init": True, "init_bias_sign": 1, "resnet": False,
}
OFFICIAL_HOMOGENIZATION = {"supportnet": "radial", "keynet": "none"}
OFFICIAL_TRAINING: dict[str, Any] = {
    "steps": 100000, "batch_size": 4096, "lr_init": 0.0, "lr_peak": 0.002828, "lr_end": 0.0, "warmup_steps": 1000,
    "grad_clip": 1.0, "ema_decay": 0.96849, "score_weight": 0.01, "key_weight": 1.0, "select": "last",
}
OFFICIAL_LABELS: dict[str, Any] = {"noise_std": 0.02, "noise_copies": 50, "split": "pooled", "validation_fraction": 0.0}
OFFICIAL_EVALUATION: dict[str, Any] = {"rank_ties": "strict", "recall_at_1pct": "floor"}
OFFICIAL_IVF: dict[str, Any] = {"seed": 1234}

RECOMMENDED_MODEL: dict[str, Any] = {"depth": 4, "wx_inject": 2, "parameters_fraction": 0.01}
RECOMMENDED_MODEL_BY_KIND: dict[str, dict[str, Any]] = {"keynet": {"resnet": True}}
RECOMMENDED_HOMOGENIZATION = {"supportnet": "radial", "keynet": "none"}
RECOMMENDED_TRAINING: dict[str, Any] = {
    "steps": 1200, "batch_size": 1024, "lr_peak": 0.002, "warmup_steps": 100, "select": "best_val", "patience": 3,
    "retrieval": {"name": "list_ce", "weight": 0.1, "temperature": 0.05},
}
RECOMMENDED_LABELS: dict[str, Any] = {"noise_std": 0.02, "noise_copies": 2, "split": "by_source",
                                      "validation_fraction": 0.1}

SECTIONS = ("model", "model_by_kind", "homogenization", "training", "labels", "evaluation", "ivf")
PRESETS: dict[str, dict[str, Any]] = {
    "official": {"model": OFFICIAL_MODEL, "model_by_kind": {}, "homogenization": OFFICIAL_HOMOGENIZATION,
                 "training": OFFICIAL_TRAINING, "labels": OFFICIAL_LABELS, "evaluation": OFFICIAL_EVALUATION,
                 "ivf": OFFICIAL_IVF},
    "recommended": {"model": RECOMMENDED_MODEL, "model_by_kind": RECOMMENDED_MODEL_BY_KIND,
                    "homogenization": RECOMMENDED_HOMOGENIZATION, "training": RECOMMENDED_TRAINING,
                    "labels": RECOMMENDED_LABELS, "evaluation": {}, "ivf": {}},
}


# The training settings a run without a preset starts from (TrainSpec requires them): 2000 steps of 512 at the
# official peak learning rate; the warm-up is 5 % of the steps and validation runs 10 times (amips.cli.options).
PLAIN_TRAINING: dict[str, Any] = {"steps": 2000, "batch_size": 512, "lr_peak": 0.002828}


def preset_fields(name: str | None, section: str, kind: str | None = None) -> dict[str, Any]:
    """The fields preset ``name`` sets in ``section`` (``model``: with those of ``kind``; ``homogenization``: the
    wrapper of ``kind`` as ``{"homogenization": …}``); empty for None."""
    chosen = preset(name)
    if section == "homogenization":
        return {"homogenization": chosen["homogenization"][kind]} if kind in chosen["homogenization"] else {}
    fields = dict(chosen[section])
    if section == "model" and kind is not None:
        fields.update(chosen["model_by_kind"].get(kind, {}))
    return fields


def training_fields(name: str | None, given: dict[str, Any]) -> dict[str, Any]:
    """The TrainSpec fields of preset ``name`` with ``given`` on top, over :data:`PLAIN_TRAINING`: the warm-up is 5 %
    of the steps unless set (or when the preset's is longer than the steps given), validation runs 10 times."""
    fields = {**PLAIN_TRAINING, **preset_fields(name, "training"), **given}
    if "warmup_steps" not in fields or ("warmup_steps" not in given and fields["warmup_steps"] > fields["steps"]):
        fields["warmup_steps"] = fields["steps"] // 20
    fields.setdefault("eval_every", max(1, fields["steps"] // 10))
    return fields


def preset(name: str | None) -> dict[str, Any]:
    """The settings of preset ``name`` by section (empty sections for None)."""
    if name is None:
        return {section: {} for section in SECTIONS}
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
