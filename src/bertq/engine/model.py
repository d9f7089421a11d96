"""Whole encoders on quantized modules: swap every quantized ``nn.Linear`` of a model for the
backend's module, keep everything else (embeddings dequantized, LayerNorm, attention matmuls,
softmax, the task head) in float32.

Embedding tables are looked up, not multiplied, so they are stored as codes on disk and expanded
to float at load time. The attention score and context matmuls multiply activations by
activations and stay float (Hu et al., 2022 quantize weights only; these are the ``attention``
MACs of :mod:`bertq.cost.ace`).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..models.checkpoint import build_model
from ..quantization.dynamic import DynamicConfig
from ..quantization.model import EMBEDDING, QuantizedModel, from_input_major, load_quantized
from . import static  # noqa: F401  (registers the static integer linears)
from .dynamic import apply_tm_iqr
from .linear import QUANTIZED_MODULES

BACKENDS = ("int8", "codebook", "fake", "i8", "i8_twin", "static_int8", "static_twin")


def quantize_modules(model: nn.Module, quantized: QuantizedModel, backend: str = "int8", **options) -> nn.Module:
    """Replace, in place, each module whose ``<name>.weight`` the quantized model holds by the
    backend's registered module; returns ``model``. Embedding tables get their dequantized values."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    replaced = set()
    for name, module in list(model.named_modules()):
        qt = quantized.tensors.get(f"{name}.weight")
        if qt is None:
            continue
        if isinstance(module, nn.Embedding) and EMBEDDING.search(f"{name}.weight"):
            module.weight.data.copy_(module.weight.new_tensor(from_input_major(f"{name}.weight", qt.dequantize())))
        else:
            cls = QUANTIZED_MODULES.get((type(module), backend))
            if cls is None:
                raise TypeError(f"{name}: no {backend!r} quantized module for {type(module).__name__}")
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, cls.from_float(module, qt, **options))
        replaced.add(f"{name}.weight")
    missing = set(quantized.tensors) - replaced
    if missing:
        raise ValueError(f"quantized weights with no module in the model: {sorted(missing)[:5]}")
    return model


def load_engine_model(
    finetuned_dir: str | Path, quantized: str | Path | QuantizedModel, backend: str = "int8", **options
) -> nn.Module:
    """The fine-tuned encoder with its quantized weights on ``backend`` (``int8``: int8 codes on
    the CPU kernels; ``codebook``: packed codes on the lookup-table kernels; ``fake``: their torch
    twin), in eval mode."""
    if not isinstance(quantized, QuantizedModel):
        quantized = load_quantized(quantized)
    return quantize_modules(build_model(finetuned_dir, quantized), quantized, backend, **options).eval()


DYNAMIC_BACKENDS = {"engine": "i8", "twin": "i8_twin"}
"""Where a dynamic variant runs: on the integer kernels, or on their torch twin."""


def load_dynamic_model(
    finetuned_dir: str | Path,
    quantized: str | Path | QuantizedModel,
    config: DynamicConfig | dict,
    backend: str = "engine",
    path: str | None = None,
) -> nn.Module:
    """The fine-tuned encoder with every linear the quantized model holds replaced by a dynamic
    int8 linear (``backend``: ``engine`` or ``twin``), TM-IQR where ``config`` asks, in eval mode."""
    if backend not in DYNAMIC_BACKENDS:
        raise ValueError(f"unknown dynamic backend {backend!r}; expected one of {sorted(DYNAMIC_BACKENDS)}")
    if not isinstance(config, DynamicConfig):
        config = DynamicConfig.from_dict(config)
    config.check()
    if not isinstance(quantized, QuantizedModel):
        quantized = load_quantized(quantized)
    options = {"bits": config.bits} | ({"path": path} if backend == "engine" else {})
    model = quantize_modules(build_model(finetuned_dir, quantized), quantized, DYNAMIC_BACKENDS[backend], **options)
    apply_tm_iqr(model, config)
    return model.eval()


STATIC_BACKENDS = {"engine": "static_int8", "twin": "static_twin"}


def load_static_model(
    finetuned_dir: str | Path,
    quantized: str | Path | QuantizedModel,
    ranges: dict,
    backend: str = "engine",
    path: str | None = None,
) -> tuple[nn.Module, list[str]]:
    """The fine-tuned encoder in static W8A8 fake quantization (dequantized weights, every site of
    ``ranges`` quantized) with :func:`static_linears` and :func:`static_products` in place; returns
    the model (eval mode) and the names of the linears and products on the integer kernels (or
    their twin)."""
    from ..quantization.activation import apply_ranges

    if not isinstance(quantized, QuantizedModel):
        quantized = load_quantized(quantized)
    model = apply_ranges(build_model(finetuned_dir, quantized), ranges)
    on_kernels = static_linears(model, quantized, ranges, backend, path) + static_products(model, ranges, backend)
    return model.eval(), on_kernels


def static_linears(
    model: nn.Module, quantized: QuantizedModel, ranges: dict, backend: str = "engine", path: str | None = None
) -> list[str]:
    """Replace, in place, each quantized linear whose input site has a per-tensor range of at most
    8 bits by a static integer linear on that site's grid (``backend``: ``engine``, the kernels,
    or ``twin``); returns their names. The others (PEG or 16-bit input sites, float inputs) stay."""
    from ..models.sites import linear_input_site

    if backend not in STATIC_BACKENDS:
        raise ValueError(f"unknown static backend {backend!r}; expected one of {sorted(STATIC_BACKENDS)}")
    cls = QUANTIZED_MODULES[(nn.Linear, STATIC_BACKENDS[backend])]
    options = {"path": path} if backend == "engine" else {}
    layers, ffns = model.config.num_hidden_layers, getattr(model.config, "num_feedforward_networks", 1)
    head = getattr(model, "head", "sequence")
    on_kernels = []
    for name, module in list(model.named_modules()):
        qt = quantized.tensors.get(f"{name}.weight")
        grid = _integer_grid(ranges.get(linear_input_site(f"{name}.weight", layers, ffns, head=head) or ""))
        if not isinstance(module, nn.Linear) or qt is None or grid is None:
            continue
        scale, zero, bits = grid
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, cls.from_float(module, qt, scale=scale, zero=zero, bits=bits, **options))
        on_kernels.append(name)
    return on_kernels


def _integer_grid(r) -> tuple | None:
    """``(scale, zero, bits)`` of a per-tensor range of at most 8 bits, else None."""
    from ..quantization.affine import affine_grid

    if r is None or r.index is not None or r.bits > 8:
        return None
    scale, zero = affine_grid(*r.expanded(), r.bits)
    return scale, zero, r.bits


def static_products(model: nn.Module, ranges: dict, backend: str = "engine") -> list[str]:
    """Replace, in place, each attention product (:class:`~bertq.models.encoder.MatMul`) both of
    whose operand sites have per-tensor ranges of at most 8 bits by an
    :class:`~bertq.engine.static.IntegerProduct`; returns their names."""
    from ..models.encoder import MatMul
    from ..models.sites import PRODUCT_OPERANDS, site_name
    from .static import IntegerProduct

    if backend not in STATIC_BACKENDS:
        raise ValueError(f"unknown static backend {backend!r}; expected one of {sorted(STATIC_BACKENDS)}")
    swapped = []
    for name, module in list(model.named_modules()):
        if not isinstance(module, MatMul):
            continue
        grids = [_integer_grid(ranges.get(site_name(name, kind))) for kind in PRODUCT_OPERANDS[module.product]]
        if None in grids:
            continue
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, IntegerProduct(module.product, *grids, twin=backend == "twin"))
        swapped.append(name)
    return swapped
