"""bertq: a reproducible benchmark pipeline for quantizing BERT-family models.

The Python API (:mod:`bertq.api`) is imported on first use, so ``import bertq.<module>`` stays
cheap (no torch until something needs it)::

    from bertq import QuantizationConfig, quantize
"""

__version__ = "0.1.0"

_API = (
    "QuantizationConfig",
    "quantize",
    "quantized_model",
    "to_engine",
    "save_quantized",
    "load_quantized",
    "from_transformers",
    "adaround",
    "qat",
)
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'bertq' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
