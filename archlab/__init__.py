"""archlab: a lab for testing theories about sequence-model architectures."""

__version__ = "0.1.0"
