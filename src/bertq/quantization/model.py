"""Quantizing a BERT (or ALBERT) checkpoint: which weights, how they are stored, what it costs.

The weight *scope*: ``encoder`` follows Hu et al. (2022, section 3.2), the embedding tables and
every linear layer inside the encoder layers, never the task head (the pooler and classifier of
a sequence classifier, the span head of a QA model); ``all`` follows Bondarenko et al. (2021,
section 5: "we quantize all layer's weights"), the pooler and the head's linear as well. The
quantization ratio is quantized weights over all parameters; Hu et al. report 99.6% for BERT.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from ..kernels.packing import pack_codes, unpack_codes
from ..models.families import head_linear_names, layer_linear_names
from .bits import SymmetricInt
from .methods import quantize_weight
from .quantizer import mse
from .tensor import CodebookTensor, MixedPrecisionTensor, QuantizedTensor, QuantizedWeight

EMBEDDING = re.compile(r"(^|\.)embeddings\.(word|position|token_type)_embeddings\.weight$")
TOKEN_EMBEDDING = re.compile(r"(^|\.)embeddings\.word_embeddings\.weight$")
"""The token embedding table, which may get its own bit-width (Bondarenko et al., 2021, Table 7)."""
ENCODER_LINEAR = re.compile(
    "|".join(layer_linear_names())
    + r"|(^|\.)encoder\.albert_layer_groups\.\d+\.albert_layers\.\d+\..*\.weight$"
    + r"|(^|\.)encoder\.embedding_hidden_mapping_in\.weight$"
    + r"|(^|\.)embeddings\.embedding_transformation\.weight$"
)
"""Linear weights inside the encoder: each family's per-layer linears
(:func:`~bertq.models.families.layer_linear_names`, MobileBERT's bottlenecks and stacked FFNs
included); ALBERT's shared layer (stored, and so quantized, once) and its embedding projection
(the factorisation's second matrix); MobileBERT's embedding transformation (its 3-gram's
linear)."""
HEAD_LINEAR = re.compile(
    r"(^|\.)("
    + "|".join(sorted(re.escape(n) for n in set.union(*head_linear_names())))
    + r"|pooler|qa_outputs)\.weight$"
)
"""The pooler's and the task head's linear weights (scope ``all`` only): each family's head
(BERT's pooler and classifier, RoBERTa's dense head, DistilBERT's pre-classifier and
classifier), a span head."""
SCOPES = ("encoder", "all")


def is_quantized_weight(name: str, array: np.ndarray, scope: str = "encoder") -> bool:
    """Embedding tables and the 2-D weights of encoder linears; with scope ``all`` also the
    pooler's and the head's. Never LayerNorm or biases."""
    if scope not in SCOPES:
        raise ValueError(f"unknown weight scope {scope!r}; expected one of {SCOPES}")
    if array.ndim != 2:
        return False
    if scope == "all" and HEAD_LINEAR.search(name):
        return True
    return bool(EMBEDDING.search(name) or ENCODER_LINEAR.search(name))


def to_input_major(name: str, array: np.ndarray) -> np.ndarray:
    """Embedding tables are already ``(inputs, hidden)``; torch linears store ``(out, in)``."""
    return array if EMBEDDING.search(name) else array.T


def from_input_major(name: str, array: np.ndarray) -> np.ndarray:
    return array if EMBEDDING.search(name) else np.ascontiguousarray(array.T)


@dataclass
class QuantizedModel:
    method: str
    bits: int
    params: dict
    tensors: dict[str, QuantizedWeight]
    layer_mse: dict[str, float]
    total_params: int
    embedding_bits: int | None = None
    """The token embeddings' bit-width when it differs from ``bits``."""
    scope: str = "encoder"
    float_tensors: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    """Unquantized tensors that a training step after quantization changed (biases, LayerNorm, a
    float head): they replace the fine-tuned checkpoint's wherever this model is loaded."""

    @property
    def quantized_params(self) -> int:
        return sum(t.numel for t in self.tensors.values())

    @property
    def quantization_ratio(self) -> float:
        return self.quantized_params / self.total_params

    def size_bits(self) -> int:
        """Storage in bits: codes at their bit-width, scales, OCS duplicates, the rest at 32 bits
        but for the biases of pruned output channels (a mixed-precision weight's 0-bit groups)."""
        quantized = sum(t.storage_bits() for t in self.tensors.values())
        return quantized + 32 * (self.total_params - self.quantized_params - self.pruned_biases)

    @property
    def pruned_biases(self) -> int:
        return sum(t.pruned_channels().size for t in self.tensors.values() if isinstance(t, MixedPrecisionTensor))

    def with_tensors(
        self, tensors: dict[str, QuantizedWeight], float_tensors: dict[str, np.ndarray] | None = None
    ) -> QuantizedModel:
        """The same quantization (method, bits, parameters, scope) with ``tensors`` in place of its
        weights and ``float_tensors`` (see :attr:`float_tensors`): what a training step after
        quantization writes (its layer errors are recounted by
        :func:`bertq.quantization.job.trained_summary`)."""
        floats = dict(self.float_tensors if float_tensors is None else float_tensors)
        overlap = sorted(set(floats) & set(tensors))
        if overlap:
            raise ValueError(f"{overlap[:3]} are quantized weights, not float tensors")
        return dataclasses.replace(
            self, tensors=tensors, params=dict(self.params), layer_mse=dict(self.layer_mse), float_tensors=floats
        )

    def dequantized_state(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``state`` with every quantized weight replaced by its dequantized effective weight."""
        unknown = sorted(set(self.float_tensors) - set(state))
        if unknown:
            raise ValueError(f"the quantized checkpoint replaces tensors {unknown[:3]} that the model does not have")
        out = {**state, **{k: v.astype(state[k].dtype) for k, v in self.float_tensors.items()}}
        for name, qt in self.tensors.items():
            out[name] = from_input_major(name, qt.dequantize()).astype(state[name].dtype)
            bias = name.removesuffix(".weight") + ".bias"
            if isinstance(qt, MixedPrecisionTensor) and bias in out:  # a pruned neuron has no bias either
                out[bias] = out[bias].copy()
                out[bias][qt.pruned_channels()] = 0
        return out

    def summary(self) -> dict:
        return {
            "method": self.method,
            "bits": self.bits,
            "embedding_bits": self.embedding_bits if self.embedding_bits is not None else self.bits,
            "scope": self.scope,
            "params": self.params,
            "total_params": self.total_params,
            "quantized_params": self.quantized_params,
            "quantization_ratio": self.quantization_ratio,
            "split_channels": {n: t.n_split for n, t in self.tensors.items() if t.n_split},
            "size_bits": self.size_bits(),
            "size_bytes": self.size_bits() / 8,
            "mean_layer_mse": float(np.mean(list(self.layer_mse.values()))) if self.layer_mse else 0.0,
            "layer_mse": self.layer_mse,
        }


def quantize_state(
    state: dict[str, np.ndarray],
    method: str,
    bits: int,
    params: dict | None = None,
    embedding_bits: int | None = None,
    scope: str = "encoder",
) -> QuantizedModel:
    """Quantize every weight of ``scope`` in ``state`` (:func:`is_quantized_weight`) with
    ``method`` at ``bits`` (the token embeddings at ``embedding_bits`` when given). A weight the
    method rejects (a group count that does not divide it) is named in the error."""
    params = dict(params or {})
    tensors, layer_mse = {}, {}
    for name, array in state.items():
        if not is_quantized_weight(name, array, scope):
            continue
        w = to_input_major(name, array.astype(np.float64))
        b = embedding_bits if embedding_bits is not None and TOKEN_EMBEDDING.search(name) else bits
        try:
            qt = quantize_weight(method, w, b, **params)
        except ValueError as exc:
            raise ValueError(f"{name} (input-major {w.shape[0]} x {w.shape[1]}): {exc}") from None
        tensors[name] = qt
        layer_mse[name] = mse(w, qt.dequantize())
    if not tensors:
        raise ValueError("no embedding or encoder linear weights found: is this a BERT checkpoint?")
    total = sum(int(a.size) for a in state.values())
    return QuantizedModel(method, bits, params, tensors, layer_mse, total, embedding_bits, scope)


CODES_FORMAT = "bitpacked-v3"
"""On-disk codes, bit-packed as by :func:`bertq.kernels.packing.pack_codes` with the shape and the
bit-width beside them: a linear grid stores ``codes - qmin`` and its scales (one per group), a
codebook stores its codes and its ``(groups, 2**bits)`` table; both store their OCS split indices;
a mixed-precision weight stores its codes at its widest group's bits with each group's bits, minimum
and step. v3 adds those and the float tensors a training step changed (``<name>::float``)."""
READABLE_FORMATS = (CODES_FORMAT, "bitpacked-v2", "bitpacked-offset-v1")


def save_quantized(model: QuantizedModel, path: str | Path) -> None:
    """Write bit-packed codes, scales or codebooks and split indices as safetensors (a 4-bit
    weight takes half a byte per element on disk), and the method's settings as metadata."""
    arrays = {}
    for name, qt in model.tensors.items():
        arrays[f"{name}::shape"] = np.array(qt.codes.shape, dtype=np.int64)
        arrays[f"{name}::bits"] = np.array([qt.bits], dtype=np.int64)
        if isinstance(qt, MixedPrecisionTensor):
            arrays[f"{name}::bits"] = np.array([max(qt.bits, 1)], dtype=np.int64)
            arrays[f"{name}::codes"] = pack_codes(qt.codes, max(qt.bits, 1))
            for part in ("group_bits", "lo", "step"):
                arrays[f"{name}::{part}"] = getattr(qt, part)
        elif isinstance(qt, CodebookTensor):
            arrays[f"{name}::codes"] = pack_codes(qt.codes, qt.bits)
            arrays[f"{name}::codebook"] = qt.codebook
        else:
            offset = qt.codes.astype(np.int16) - qt.int_type.qmin
            arrays[f"{name}::codes"] = pack_codes(offset.astype(np.uint8), qt.bits)
            arrays[f"{name}::scale"] = qt.scale
        arrays[f"{name}::split_index"] = qt.split_index
    for name, value in model.float_tensors.items():
        arrays[f"{name}::float"] = np.ascontiguousarray(value)
    meta = {
        "method": model.method,
        "bits": str(model.bits),
        "params": json.dumps(model.params),
        "embedding_bits": json.dumps(model.embedding_bits),
        "scope": model.scope,
        "total_params": str(model.total_params),
        "layer_mse": json.dumps(model.layer_mse),
        "codes": CODES_FORMAT,
        "layout": "input-major codes; split rows duplicate the input channels in split_index",
    }
    save_file(arrays, str(path), metadata=meta)


def load_quantized(path: str | Path) -> QuantizedModel:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except SafetensorError as exc:
        raise ValueError(f"{path}: not a readable safetensors file ({exc}); delete it and rerun its job") from None
    if meta.get("codes") not in READABLE_FORMATS or "bits" not in meta:
        raise ValueError(
            f"{path}: not a bertq quantized checkpoint in format {CODES_FORMAT!r} "
            f"(found codes={meta.get('codes')!r}); rerun its quantize job"
        )
    arrays = load_file(str(path))
    floats = {k.removesuffix("::float"): v for k, v in arrays.items() if k.endswith("::float")}
    names = sorted({k.split("::")[0] for k in arrays if not k.endswith("::float")})
    tensors = {}
    for n in names:
        shape = tuple(int(d) for d in arrays[f"{n}::shape"])
        bits = int(arrays[f"{n}::bits"][0]) if f"{n}::bits" in arrays else int(meta["bits"])
        stream = unpack_codes(arrays[f"{n}::codes"], bits, int(np.prod(shape))).reshape(shape)
        split_index = arrays.get(f"{n}::split_index", np.zeros(0, np.int64))
        if f"{n}::group_bits" in arrays:
            grids = (arrays[f"{n}::{part}"] for part in ("group_bits", "lo", "step"))
            tensors[n] = MixedPrecisionTensor(stream, *grids)
        elif f"{n}::codebook" in arrays:
            tensors[n] = CodebookTensor(stream, arrays[f"{n}::codebook"], bits, split_index)
        else:
            int_type = SymmetricInt(bits)
            codes = (stream.astype(np.int16) + int_type.qmin).astype(np.int8)
            tensors[n] = QuantizedTensor(codes, arrays[f"{n}::scale"], int_type, split_index)
    return QuantizedModel(
        meta["method"],
        int(meta["bits"]),
        json.loads(meta["params"]),
        tensors,
        json.loads(meta["layer_mse"]),
        int(meta["total_params"]),
        json.loads(meta.get("embedding_bits", "null")),
        meta.get("scope", "encoder"),
        floats,
    )
