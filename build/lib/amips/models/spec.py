"""Model specification: every architectural choice, as plain data (config → spec → model)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from amips.models.activations import ACTIVATIONS
from amips.models.homogenize import HOMOGENIZATIONS, homogenizer_class
from amips.models.homogenize import KINDS as MODEL_KINDS
from amips.core.settings import from_mapping

__all__ = ["ModelSpec", "MODEL_KINDS", "HOMOGENIZATIONS"]


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of a SupportNet or KeyNet.

    Defaults are the official ml-amips settings (depth 8, fraction 0.2, wx every 4th layer, soft-leaky-ReLU
    0.1/20 also on the output, identity rectifier with principled init for SupportNet, radial homogenization).

    Attributes:
        kind: ``supportnet`` (ICNN potential; key = ∇f) or ``keynet`` (key regressed directly; score = ⟨g(x), x⟩).
        homogenization: a wrapper of :mod:`amips.models.homogenize` (``radial``, the official one: SupportNet
            f(x) = ‖x‖ h(x/‖x‖), KeyNet g(x) = k(x/‖x‖); ``none``; ``gauge``; ``homogeneous_icnn``).
        depth: number of hidden layers L.
        parameters_fraction: parameter budget as a fraction of m·d (ignored when ``width`` is set).
        width: explicit hidden width (overrides the budget).
        budget_rule: ``official`` (rectangular_dims: output skip uncounted, width a multiple of 4) or ``exact``
            (every parameter counted, so the real count is within a few % of the budget).
        wx_inject: skip rule: bool, or int k (every k-th z-layer incl. the output).
        use_bias: biases on first and z-path layers.
        activation: σ, ``soft_leaky_relu`` (official) or ``leaky_relu`` (piecewise linear, 1-homogeneous).
        activation_slope, activation_beta: soft-leaky-ReLU a and β (leaky-ReLU: a only).
        output_activation: σ on the output layer (official) vs a linear head.
        rectifier: SupportNet z-weight reparametrisation: identity (official), softplus or relu (provably convex).
        principled_init: SupportNet log-normal z-path init (Hoedt & Klambauer).
        init_bias_sign: +1 (official code's fixed path) or −1 (Hoedt & Klambauer's reference) for the init bias.
        init_row_sum: principled init only: rescale each z-path layer's log-normal weights so their expected row
            sum R is this value (None: official, R ≈ 1.85 per hidden layer, so with the +β bias the initial output
            grows ×1.85 per layer; R < 1, e.g. 0.5, bounds it at β/(1 − R) at any depth — measured to let softplus
            SupportNets converge at short budgets; see amips.models.init.principled_moments).
        resnet: KeyNet g(x) = u + net(u).
        final_layer_scale: KeyNet scale of the final kernels (None → 0.01 with resnet, else 1).
        num_outputs: C > 1 makes a multi-output model (cluster router).
    """

    kind: str
    homogenization: str = "radial"
    depth: int = 8
    parameters_fraction: float = 0.2
    width: int | None = None
    budget_rule: str = "official"
    wx_inject: bool | int = 4
    use_bias: bool = True
    activation: str = "soft_leaky_relu"
    activation_slope: float = 0.1
    activation_beta: float = 20.0
    output_activation: bool = True
    rectifier: str = "identity"
    principled_init: bool = True
    init_bias_sign: int = 1
    init_row_sum: float | None = None
    resnet: bool = False
    final_layer_scale: float | None = None
    num_outputs: int = 1

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; choose one of {MODEL_KINDS}")
        homogenizer_class(self.homogenization, self.kind)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of {ACTIVATIONS}")
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        if not self.parameters_fraction > 0:
            raise ValueError(f"parameters_fraction must be > 0, got {self.parameters_fraction}")
        if self.budget_rule not in ("official", "exact"):
            raise ValueError(f"unknown budget_rule {self.budget_rule!r}; choose official or exact")
        if self.width is not None and self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")
        if self.num_outputs < 1:
            raise ValueError(f"num_outputs must be >= 1, got {self.num_outputs}")
        if self.init_row_sum is not None and not self.init_row_sum > 0:
            raise ValueError(f"init_row_sum must be > 0, got {self.init_row_sum}")
        if self.init_bias_sign not in (1, -1):
            raise ValueError(f"init_bias_sign must be +1 or -1, got {self.init_bias_sign}")
        if self.kind == "keynet" and self.resnet and self.num_outputs > 1:
            raise ValueError("a resnet KeyNet cannot have num_outputs > 1")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelSpec":
        """Build from a config mapping; unknown keys are an error naming the key."""
        return from_mapping(cls, values, "model")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> "ModelSpec":
        return ModelSpec.from_dict({**self.to_dict(), **changes})
