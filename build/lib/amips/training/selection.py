"""Which weights a training run keeps (``training.select``), behind a small registry.

* ``last`` — the EMA weights after the last step (the official code);
* ``best_val`` — the EMA weights at the evaluation step with the highest validation match rate (ties keep the
  earlier step). Evaluations happen every ``eval_every`` steps and after the last step, on the validation split
  carved from the training queries by source (never the test split);
* ``best_val_coverage`` — the same with the validation list coverage at one probe (``val_list_coverage``: the
  fraction of validation queries whose exact top-1 key lies in the IVF list ĝ(x) ranks first), the metric of a model
  used as the IVF probe (a retrieval-trained run; needs the partition the term trains on).

A selector observes ``(step, metrics, module)`` after each evaluation, can be saved in and restored from a
checkpoint (so that a resumed run selects exactly what an uninterrupted one selects), and finally loads the
selected weights into the EMA module.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch


class LastWeights:
    """Keep the weights of the last step."""

    needs_validation = False

    def observe(self, step: int, metrics: dict[str, float], module: torch.nn.Module) -> None:
        """Nothing to remember."""

    def state(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    def apply(self, module: torch.nn.Module, last_step: int) -> dict[str, Any]:
        """Leave ``module`` as it is; returns what was selected."""
        return {"select": "last", "selected_step": last_step}


class BestValidation:
    """Keep the weights with the highest ``metric`` (default: the validation match rate)."""

    needs_validation = True

    def __init__(self, metric: str = "val_match_rate", name: str = "best_val") -> None:
        self.metric = metric
        self.name = name
        self.best_value = -math.inf
        self.best_step = -1
        self.best_state: dict[str, torch.Tensor] | None = None

    def observe(self, step: int, metrics: dict[str, float], module: torch.nn.Module) -> None:
        """Remember ``module``'s weights if ``metrics[metric]`` beats every earlier value (NaN never does)."""
        value = metrics.get(self.metric)
        if value is not None and value > self.best_value:
            self.best_value, self.best_step = float(value), step
            self.best_state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}

    def state(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_step": self.best_step, "best_state": self.best_state}

    def load(self, state: dict[str, Any]) -> None:
        self.best_value = float(state["best_value"])
        self.best_step = int(state["best_step"])
        self.best_state = state["best_state"]

    def apply(self, module: torch.nn.Module, last_step: int) -> dict[str, Any]:
        """Load the best weights into ``module``; returns the selected step and its validation value."""
        if self.best_state is None:
            raise ValueError(f"select: {self.name} found no {self.metric} to select on (was the model evaluated"
                             + ("? it needs the IVF partition of a retrieval term)" if "coverage" in self.metric
                                else "?)"))
        module.load_state_dict(self.best_state)
        return {"select": self.name, "selected_step": self.best_step, f"selected_{self.metric}": self.best_value}


SELECTORS: dict[str, Callable[[], LastWeights | BestValidation]] = {
    "last": LastWeights,
    "best_val": BestValidation,
    "best_val_coverage": lambda: BestValidation("val_list_coverage", "best_val_coverage"),
}


def make_selector(name: str) -> LastWeights | BestValidation:
    """The selector registered as ``name``."""
    if name not in SELECTORS:
        raise ValueError(f"unknown select {name!r}; choose one of {sorted(SELECTORS)}")
    return SELECTORS[name]()
