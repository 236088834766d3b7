"""Width from a parameter budget (``parameters_fraction × m × d``), as the official ``rectangular_dims``.

The budget P = ceil(fraction · m · d) counts the parameters of a depth-``L`` network of constant width w:

    (L−1)·w² + (d + K + bias·L + num_wx·d)·w + bias·(K−1) = P

solved for the positive root, rounded to the nearest multiple of 4 (banker's rounding at .5, minimum 4).
K is ``num_outputs`` for SupportNet and ``d`` for KeyNet (also in router mode). ``num_wx`` counts skip
matrices on the L−1 hidden-to-hidden positions only; the skip into the output is not counted, so the real
model is slightly larger than the budget (:func:`exact_parameter_count`).
"""

from __future__ import annotations

import math

from amips.models.wiring import injection_mask


def parameter_budget(fraction: float, num_keys: int, dim: int) -> int:
    """P = ceil(fraction · m · d)."""
    if fraction <= 0:
        raise ValueError(f"parameters_fraction must be > 0, got {fraction}")
    return math.ceil(fraction * num_keys * dim)


def count_budgeted_skips(depth: int, wx_inject: bool | int) -> int:
    """Skip matrices counted by the official solver: over hidden positions 1..depth−1 only."""
    if isinstance(wx_inject, bool):
        return depth - 1 if wx_inject else 0
    return sum(1 for i in range(1, depth) if i % wx_inject == 0)


BUDGET_RULES = ("official", "exact")


def solve_width(
    budget: int, dim: int, out_dim: int, depth: int, wx_inject: bool | int, use_bias: bool = True,
    rule: str = "official",
) -> int:
    """Width w of a depth-``depth`` network whose parameter count is ``budget``.

    ``rule='official'`` reproduces ``rectangular_dims`` (output skip not counted, w rounded to a multiple of 4).
    ``rule='exact'`` counts every parameter (output skip included) and rounds w to the nearest integer, so the
    real count is within a few % of the budget even for small models.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if rule not in BUDGET_RULES:
        raise ValueError(f"unknown budget rule {rule!r}; choose one of {BUDGET_RULES}")
    a = depth - 1
    if rule == "official":
        num_wx = count_budgeted_skips(depth, wx_inject)
        b = dim + out_dim + int(use_bias) * depth + num_wx * dim
        c = int(use_bias) * (out_dim - 1) - budget
    else:
        mask = injection_mask(depth, wx_inject)
        b = dim + out_dim + int(use_bias) * depth + sum(mask[:-1]) * dim
        c = int(use_bias) * out_dim + int(mask[-1]) * dim * out_dim - budget
    w = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return max(4, 4 * round(w / 4)) if rule == "official" else max(1, round(w))


def exact_parameter_count(
    dim: int, width: int, depth: int, out_dim: int, wx_inject: bool | int, use_bias: bool = True
) -> int:
    """Real parameter count of the ICNN/KeyNet graph (first layer, z-path, every skip matrix)."""
    first = dim * width + int(use_bias) * width
    hidden = (depth - 1) * (width * width + int(use_bias) * width)
    last = width * out_dim + int(use_bias) * out_dim
    mask = injection_mask(depth, wx_inject)
    skips = sum(dim * (out_dim if i == depth - 1 else width) for i, on in enumerate(mask) if on)
    return first + hidden + last + skips


def budget_note(num_parameters: int, budget: int, rule: str, tolerance: float = 0.05) -> str | None:
    """Why a model has more than ``tolerance`` above its parameter budget (None when it has not): the rule that
    made its width, stated in the words ``fit`` and ``evaluate`` print."""
    if num_parameters <= budget * (1 + tolerance):
        return None
    if rule == "official":
        why = ("the official budget rule (rectangular_dims) leaves the input skip into the output layer uncounted "
               "and rounds the width to a multiple of 4 (at least 4); --budget-rule exact counts every parameter")
    else:
        why = "the exact budget rule still needs a width of at least 1 and rounds it to an integer"
    return f"{num_parameters:,} parameters for a budget of {budget:,}: {why}"
