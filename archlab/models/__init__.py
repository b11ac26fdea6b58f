"""Sequence models: mixers (a registry), the scans behind them, the search axes, SequenceModel.

Importing this package registers every mixer in :data:`MIXERS`.
"""

from archlab.models import (  # noqa: F401  (fill the registry)
    attention,
    conv,
    gated_delta,
    plugins,
    recurrent,
    ssm,
    xlstm,
)
from archlab.models.model import ModelFeatures, SequenceModel, build_model, model_features, resolve_device
from archlab.registry import MIXERS

__all__ = ["MIXERS", "ModelFeatures", "SequenceModel", "build_model", "model_features", "resolve_device"]
