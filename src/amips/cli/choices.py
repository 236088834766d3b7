"""Choices and defaults the command line shows, without importing torch (so that ``amips --help`` is instant)."""

from __future__ import annotations

# Each constant mirrors a registry or a dataclass default defined next to the code that uses it;
# tests/cli/test_cli.py::test_cli_names_mirror_the_registries fails if one drifts.

SYNTHETIC_SOURCES = ("structured", "gaussian")  # amips.data.sets.SYNTHETIC_SOURCES
MODEL_KINDS = ("supportnet", "keynet")  # amips.models.homogenize.KINDS
HOMOGENIZATIONS = ("none", "radial", "gauge", "homogeneous_icnn")  # amips.models.homogenize.HOMOGENIZATIONS
RECTIFIERS = ("identity", "softplus", "relu")  # amips.models.skipmlp.RECTIFIERS
SELECTIONS = ("best_val", "best_val_coverage", "last")  # amips.training.selection.SELECTORS
RETRIEVAL_TERMS = ("list_ce", "list_margin")  # amips.training.retrieval.RETRIEVAL_TERMS
ROUTING_TERMS = ("oracle_ce",)  # amips.training.routing_terms.ROUTING_TERMS
SEARCH_OUTPUTS = (".npz", ".npy", ".json")  # amips.search.OUTPUT_SUFFIXES
PREDICT_OUTPUTS = (".npy", ".npz")  # amips.search.save_predictions
RANK_TIES = ("index", "strict")  # amips.evaluation.metrics.RANK_TIES
RECALL_1PCT = ("ceil", "floor")  # amips.evaluation.metrics.RECALL_1PCT
MODEL_DEFAULTS = {"homogenization": "radial", "parameters_fraction": 0.2, "depth": 8, "wx_inject": 4,  # ModelSpec
                  "rectifier": "identity", "budget_rule": "official", "activation_slope": 0.1, "activation_beta": 20.0,
                  "output_activation": True, "use_bias": True, "principled_init": True, "init_bias_sign": 1,
                  "resnet": False}
TRAIN_DEFAULTS = {"ema_decay": 0.96849, "log_every": 100, "select": "best_val",  # amips.training.train.TrainSpec
                  "lr_init": 0.0, "lr_end": 0.0, "grad_clip": 1.0, "score_weight": 0.01, "key_weight": 1.0,
                  "patience": 0}
LABEL_DEFAULTS = {"noise_copies": 4, "noise_std": 0.02, "validation_fraction": 0.1,  # the config schema's labels
                  "split": "by_source", "query_norms": "unit", "test_size": 0.2, "num_clusters": 1}
