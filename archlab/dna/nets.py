"""DNA-native networks: models that read the codes directly rather than as tokens of a mixer
stack (registry ``DNA_NETS``).

Every DNA command accepts ``--model NAME`` with a name from this registry or from the mixers
(:data:`archlab.registry.MIXERS`). An entry names its config class (``--set`` fields are
validated against it), how to build it, what the theory rules read (its
:class:`~archlab.models.model.ModelFeatures`) and its default learning rate. A run's record
stores the entry's name as ``model.kind``, so ``archlab theory check`` rebuilds the config.

Adding a network is one :class:`DnaNet` entry here; the tests loop over the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archlab.config import StrictModel
from archlab.dna.cnn import CNNConfig, build_cnn, cnn_features
from archlab.dna.pairmap import PairMapConfig, build_pairmap, pairmap_features
from archlab.registry import DNA_NETS

__all__ = ["DNA_NETS", "DnaNet", "dna_net_for", "is_dna_net"]


@dataclass(frozen=True)
class DnaNet:
    """One DNA-native network: ``config`` (a pydantic class), ``build(cfg, n_outputs, device,
    seed)``, ``features(cfg, n_outputs, seq_len)``, the default ``lr`` and a one-line ``summary``."""

    name: str
    config: type[StrictModel]
    build: Callable[..., Any]
    features: Callable[..., Any]
    lr: float
    summary: str


for _net in (
    DnaNet("cnn", CNNConfig, build_cnn, cnn_features, 2e-3, "one-hot CNN baseline (Koo & Ploenzke 2021)"),
    DnaNet(
        "pairmap",
        PairMapConfig,
        build_pairmap,
        pairmap_features,
        3e-3,
        "2-D convolutions over the L × L map of base pairs (UFold/SPOT-RNA-style pair map)",
    ),
):
    DNA_NETS.register(_net.name)(_net)


def is_dna_net(spec: object) -> bool:
    """Whether ``spec`` is the config of a registered DNA-native network."""
    return any(isinstance(spec, net.config) for _, net in DNA_NETS.items())


def dna_net_for(spec: object) -> DnaNet:
    """The registry entry whose config class ``spec`` is (TypeError for anything else)."""
    for _, net in DNA_NETS.items():
        if isinstance(spec, net.config):
            return net
    names = ", ".join(DNA_NETS.names())
    raise TypeError(f"not a DNA network config ({names}): {type(spec).__name__}")
