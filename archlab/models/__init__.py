"""Sequence models: mixers (a registry), the scans behind them, the search axes, SequenceModel.

Importing this package registers every mixer in :data:`MIXERS`.
"""

from archlab.models import attention, conv, plugins, recurrent  # noqa: F401  (fill the registry)
from archlab.models.model import ModelFeatures, SequenceModel, build_model, model_features, resolve_device
from archlab.registry import MIXERS

__all__ = ["MIXERS", "ModelFeatures", "SequenceModel", "build_model", "model_features", "resolve_device"]
