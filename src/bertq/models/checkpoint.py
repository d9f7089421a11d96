"""Loading a fine-tuned checkpoint, BERT or ALBERT, fp32 or with a quantized checkpoint's weights.

A fine-tuned checkpoint is a directory with Hugging Face's ``config.json`` and a
``model.safetensors`` state dict. Evaluation, the integer engine, the cost count, timing and
centroid fine-tuning all load it here:

- :func:`load_finetuned`: ``(config, state)``, the config as :class:`~bertq.models.encoder.EncoderConfig`
  (BERT) or ``transformers.AlbertConfig`` (ALBERT, imported only then), the state as numpy arrays;
- :func:`load_state`: the state, with a quantized checkpoint's weights replaced by their
  dequantized values (fake quantization, as every evaluation of the papers does);
- :func:`build_model`: the inference model with the head the state holds (classifier or span
  extractor), in eval mode.

Layering: this module sits above :mod:`bertq.quantization` (it reads quantized checkpoints) and
below the engine, evaluation, cost, timing and training, which import it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from torch import nn

from .albert import albert_config, albert_model, build_albert_inference_model
from .encoder import EncoderConfig, build_inference_model, model_class

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def _file(directory: str | Path, name: str) -> Path:
    path = Path(directory) / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory}: no {name}; is it a fine-tuned checkpoint directory "
            f"(Hugging Face {CONFIG_FILE} + {WEIGHTS_FILE})?"
        )
    return path


def is_albert_config(config) -> bool:
    return not isinstance(config, EncoderConfig)


def read_config(config_json: str | Path):
    """``config.json`` as an :class:`EncoderConfig` (BERT) or a ``transformers.AlbertConfig``."""
    config_json = Path(config_json)
    if json.loads(config_json.read_text()).get("model_type") == "albert":
        return albert_config(config_json)
    return EncoderConfig.from_json(config_json)


def load_state(directory: str | Path, quantized=None) -> dict[str, np.ndarray]:
    """The checkpoint's state dict (numpy); with ``quantized`` (a path to a quantized checkpoint
    or a :class:`~bertq.quantization.model.QuantizedModel`), every quantized weight replaced by
    its dequantized value."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = _file(directory, WEIGHTS_FILE)
    try:
        state = load_file(str(path))
    except SafetensorError as exc:
        raise ValueError(
            f"{path}: not a readable safetensors file ({exc}); delete it and rerun the job that wrote it"
        ) from None
    if quantized is None:
        return state
    from ..quantization.model import QuantizedModel, load_quantized

    if not isinstance(quantized, QuantizedModel):
        quantized = load_quantized(quantized)
    missing = sorted(set(quantized.tensors) - set(state))
    if missing:
        raise ValueError(f"the quantized checkpoint has weights {missing[:3]} that {directory} does not")
    return quantized.dequantized_state(state)


def load_finetuned(directory: str | Path, quantized=None) -> tuple[object, dict[str, np.ndarray]]:
    """``(config, state)`` of a fine-tuned checkpoint directory (see :func:`load_state`)."""
    return read_config(_file(directory, CONFIG_FILE)), load_state(directory, quantized)


def empty_model(config, head: str) -> nn.Module:
    """The inference model for ``config`` and ``head`` (``sequence`` or ``span``) with parameters
    as initialised; built under ``torch.device("meta")`` it takes no memory (the cost count)."""
    if is_albert_config(config):
        return albert_model(config, head)
    return model_class(head)(config).eval()


def model_from_state(config, state: dict) -> nn.Module:
    """The inference model of ``config`` with ``state`` loaded (every weight must fit), in eval mode."""
    if is_albert_config(config):
        return build_albert_inference_model(config, state)
    return build_inference_model(config, state)


def build_model(directory: str | Path, quantized=None) -> nn.Module:
    """The fine-tuned encoder of ``directory`` (classifier or span extractor, as its weights say),
    fp32 or with ``quantized``'s dequantized weights, in eval mode."""
    return model_from_state(*load_finetuned(directory, quantized))
