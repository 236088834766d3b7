"""models — SupportNet / KeyNet models, homogenization wrappers, sizing and serialisation.

May import: ``data``, ``core``.
"""

from amips.models.factory import build_model, load_model, parameter_count, save_model
from amips.models.networks import AmipsModel, KeyNet, SupportNet
from amips.models.homogenize import HOMOGENIZATIONS, HOMOGENIZERS, is_noop
from amips.models.spec import MODEL_KINDS, ModelSpec

__all__ = [
    "AmipsModel", "KeyNet", "SupportNet", "ModelSpec", "MODEL_KINDS", "HOMOGENIZATIONS", "HOMOGENIZERS", "is_noop",
    "build_model", "load_model", "save_model", "parameter_count",
]
