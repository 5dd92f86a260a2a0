"""The model zoo: ``build(name, data_shape, **config)`` and the list of names ``MODELS``."""

from genlib.models.registry import REGISTRY, build

MODELS = tuple(REGISTRY)

__all__ = ["MODELS", "REGISTRY", "build"]
