"""Quantize a Hugging Face BERT or ALBERT from Python: a config and one call.

::

    from bertq import QuantizationConfig, quantize, to_engine, save_quantized, load_quantized

    qmodel = quantize(hf_model, QuantizationConfig(method="kmeans", bits=4, granularity="channel"))
    qmodel(**batch).logits             # the weights the pipeline evaluates (fake quantization)
    engine = to_engine(qmodel, "int8")  # integer kernels on the CPU
    save_quantized(qmodel, "out/")      # safetensors: bit-packed codes + codebooks or scales
    qmodel = load_quantized("out/")

Training-based quantization (Bondarenko et al., 2021) starts from the same config::

    qmodel = adaround(hf_model, QuantizationConfig("mse", 4), calibration, AdaRoundConfig(iterations=1000))
    qmodel = qat(from_transformers(hf_model), QuantizationConfig("mse", 4), train,
                 {"learning_rate": 1e-4, "epochs": 1}, activations={"estimator": "running_minmax"})

The same weights are quantized as in the pipeline (:func:`bertq.quantization.model.quantize_state`:
embedding tables and encoder linears, never the task head), so the model evaluates as the
pipeline's does; :attr:`QUANTIZED_ATTRIBUTE` on it holds the
:class:`~bertq.quantization.model.QuantizedModel` (codes, codebooks, size).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

QUANTIZED_ATTRIBUTE = "bertq_quantized"
"""The attribute of a quantized model that holds its :class:`~bertq.quantization.model.QuantizedModel`."""
CONFIG_FILE, WEIGHTS_FILE, CODES_FILE = "config.json", "model.safetensors", "quantized.safetensors"


def _check_bits(field_name: str, value, method: str, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(
            f"QuantizationConfig.{field_name}: method {method!r} quantizes to {lo} to {hi} bits, not {value!r}"
        )


@dataclass(frozen=True)
class QuantizationConfig:
    """What to quantize with: a registered ``method`` (``lq``, ``aciq``, ``ocs``, ``mse``,
    ``linear_clustering``, ``kmeans``, ``kmeans_optimal``), ``bits``, ``granularity`` (``tensor``,
    ``channel`` or a number of groups of output channels), the method's other ``params`` (e.g.
    ``{"iterations": 3, "seed": 0}`` for k-means) and ``embedding_bits`` for the token embeddings
    (default: ``bits``). Bad values raise a ``ValueError`` naming the field."""

    method: str
    bits: int
    granularity: str | int = "tensor"
    params: dict = field(default_factory=dict)
    embedding_bits: int | None = None

    def __post_init__(self) -> None:
        from .quantization.granularity import check_granularity
        from .quantization.methods import METHOD_BITS, METHOD_PARAMS, METHODS

        if self.method not in METHODS:
            raise ValueError(
                f"QuantizationConfig.method: unknown method {self.method!r}; registered: {', '.join(sorted(METHODS))}"
            )
        lo, hi = METHOD_BITS[self.method]
        _check_bits("bits", self.bits, self.method, lo, hi)
        if self.embedding_bits is not None:
            _check_bits("embedding_bits", self.embedding_bits, self.method, lo, hi)
        try:
            check_granularity(self.granularity)
        except ValueError as exc:
            raise ValueError(f"QuantizationConfig.granularity: {exc}") from None
        if not isinstance(self.params, dict):
            raise TypeError(f"QuantizationConfig.params must be a dict, got {type(self.params).__name__}")
        allowed = sorted(set(METHOD_PARAMS[self.method]) - {"granularity"})
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            hint = " (give granularity as QuantizationConfig.granularity)" if "granularity" in unknown else ""
            raise ValueError(
                f"QuantizationConfig.params: method {self.method!r} has no parameter(s) {unknown}; "
                f"it takes {allowed}{hint}"
            )
        object.__setattr__(self, "params", dict(self.params))

    def method_params(self) -> dict:
        """The parameters as the pipeline's config gives them to the method."""
        return {**self.params, "granularity": self.granularity}


def _float_state(model) -> dict[str, np.ndarray]:
    return {
        k: (v.detach().cpu().float() if v.is_floating_point() else v.detach().cpu()).numpy()
        for k, v in model.state_dict().items()
    }


def _set_dequantized(model, quantized) -> None:
    import torch

    from .quantization.model import from_input_major

    with torch.no_grad():
        for name, value in quantized.float_tensors.items():  # what training changed besides the codes
            model.get_parameter(name).copy_(torch.from_numpy(value))
        for name, qt in quantized.tensors.items():
            param = model.get_parameter(name)
            param.copy_(torch.from_numpy(from_input_major(name, qt.dequantize())))
    setattr(model, QUANTIZED_ATTRIBUTE, quantized)


def quantize(model, config: QuantizationConfig, *, inplace: bool = False):
    """``model`` (a transformers ``BertModel``, ``BertForSequenceClassification``,
    ``BertForQuestionAnswering``, ``AlbertForSequenceClassification``, ... or bertq's own encoder)
    with its embedding tables and encoder linears replaced by their quantized values (a copy
    unless ``inplace``). The :class:`~bertq.quantization.model.QuantizedModel` is on it as
    ``model.bertq_quantized``."""
    from .quantization.model import quantize_state

    if not isinstance(config, QuantizationConfig):
        raise TypeError(f"config must be a QuantizationConfig, got {type(config).__name__}")
    target = model if inplace else copy.deepcopy(model)
    quantized = quantize_state(
        _float_state(target), config.method, config.bits, config.method_params(), config.embedding_bits
    )
    _set_dequantized(target, quantized)
    return target


def quantized_model(model):
    """The :class:`~bertq.quantization.model.QuantizedModel` of a model from :func:`quantize`."""
    quantized = getattr(model, QUANTIZED_ATTRIBUTE, None)
    if quantized is None:
        raise ValueError("this model was not quantized by bertq.quantize (it has no bertq_quantized)")
    return quantized


DYNAMIC_BACKENDS = ("i8", "i8_twin")


def to_engine(model, backend: str = "int8", *, dynamic=None, **options):
    """A copy of a quantized model on bertq's integer engine (:mod:`bertq.engine`): every quantized
    linear runs on ``backend`` (``int8``: int8 codes x 7-bit activations on the CPU kernels;
    ``codebook``: packed codes on the lookup-table kernels; ``fake``: their torch twin, bit for
    bit; ``i8``: El-Kurdi et al.'s dynamic int8, 8-bit symmetric activations per sequence over its
    real tokens, with ``dynamic`` a :class:`~bertq.quantization.dynamic.DynamicConfig` or its dict,
    ``{"bits": 8, "tm_iqr": {"sites": [...], "scale": 1.5}}``; ``i8_twin``: its torch twin);
    ``options`` go to the modules (e.g. ``path`` for the kernel instruction path)."""
    from .engine.dynamic import apply_tm_iqr
    from .engine.model import quantize_modules
    from .models.tokens import publish_attention_mask
    from .quantization.dynamic import DynamicConfig

    quantized = quantized_model(model)
    if backend not in DYNAMIC_BACKENDS:
        if dynamic is not None:
            raise ValueError(f"dynamic settings are for the {' and '.join(DYNAMIC_BACKENDS)} backends, not {backend!r}")
        return quantize_modules(copy.deepcopy(model), quantized, backend, **options).eval()
    config = dynamic if isinstance(dynamic, DynamicConfig) else DynamicConfig.from_dict(dynamic)
    config.check("dynamic")
    engine = quantize_modules(copy.deepcopy(model), quantized, backend, bits=config.bits, **options)
    apply_tm_iqr(engine, config)
    publish_attention_mask(engine)
    return engine.eval()


def save_quantized(model, directory: str | Path) -> None:
    """Write ``directory``: ``quantized.safetensors`` (bit-packed codes with their codebooks or
    scales, the format of the pipeline's quantize job), ``model.safetensors`` (every other
    tensor, fp32) and the model's ``config.json`` (with its class in ``architectures``)."""
    from safetensors.numpy import save_file

    from .quantization.model import save_quantized as save_codes

    quantized = quantized_model(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rest = {k: np.ascontiguousarray(v) for k, v in _float_state(model).items() if k not in quantized.tensors}
    save_file(rest, str(directory / WEIGHTS_FILE))
    save_codes(quantized, directory / CODES_FILE)
    config = model.config.to_dict() if hasattr(model.config, "to_dict") else dict(vars(model.config))
    config["architectures"] = [type(model).__name__]
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=1))


def load_quantized(directory: str | Path):
    """The model :func:`save_quantized` wrote, as the transformers class it was, in eval mode,
    with its quantized weights dequantized and ``model.bertq_quantized`` set."""
    import torch
    import transformers
    from safetensors.numpy import load_file

    from .quantization.model import load_quantized as load_codes

    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE, CODES_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory}: no {name}; write it with bertq.save_quantized")
    architecture = (json.loads((directory / CONFIG_FILE).read_text()).get("architectures") or [""])[0]
    cls = getattr(transformers, architecture, None)
    if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
        raise ValueError(
            f"{directory / CONFIG_FILE}: architectures names {architecture!r}, not a transformers model class"
        )
    model = cls(transformers.AutoConfig.from_pretrained(str(directory))).eval()
    quantized = load_codes(directory / CODES_FILE)
    state = {k: torch.from_numpy(v) for k, v in load_file(str(directory / WEIGHTS_FILE)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if m not in quantized.tensors and not m.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(
            f"{directory}: weights do not fit {architecture}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    _set_dequantized(model, quantized)
    return model


def from_transformers(model):
    """bertq's own encoder (:class:`~bertq.models.encoder.BertClassifier`, or the span extractor of
    a question-answering model, or the token classifier of a token-classification one; the head as
    the model's class names it) with the weights of a transformers BERT, RoBERTa, XLM-R,
    DistilBERT or MobileBERT, in eval mode: the model the pipeline evaluates, whose activation sites
    :func:`qat` quantizes."""
    from .models.encoder import FAMILIES, EncoderConfig, build_inference_model

    if getattr(getattr(model, "config", None), "model_type", None) not in FAMILIES:
        raise TypeError(
            f"from_transformers takes a transformers {', '.join(FAMILIES)} model with a task head, "
            f"not {type(model).__name__}"
        )
    state = {k: v for k, v in _float_state(model).items() if not k.endswith("position_ids")}
    try:
        config = EncoderConfig.from_dict({**model.config.to_dict(), "architectures": [type(model).__name__]})
        return build_inference_model(config, state)
    except ValueError as exc:
        raise TypeError(f"{type(model).__name__}: not a BERT with a classification or span head ({exc})") from None


def _bertq_classifier(model, what: str):
    """A float copy of ``model`` as bertq's BERT classifier, which the training steps run on."""
    from .models.encoder import BertClassifier, _BertModel

    bert = copy.deepcopy(model) if isinstance(model, _BertModel) else from_transformers(model)
    if not isinstance(bert, BertClassifier):
        raise TypeError(f"{what} trains sequence classifiers; {type(model).__name__} is not one")
    return bert


def _linear_grid(model, config: QuantizationConfig, what: str):
    """``(copy of model, its QuantizedModel)`` for a method that gives a linear grid."""
    from .quantization.model import quantize_state
    from .quantization.tensor import QuantizedTensor

    if not isinstance(config, QuantizationConfig):
        raise TypeError(f"config must be a QuantizationConfig, got {type(config).__name__}")
    target = copy.deepcopy(model)
    quantized = quantize_state(
        _float_state(target), config.method, config.bits, config.method_params(), config.embedding_bits
    )
    for name, qt in quantized.tensors.items():
        if not isinstance(qt, QuantizedTensor) or qt.n_split:
            kind = "split (OCS) channels" if isinstance(qt, QuantizedTensor) else "a codebook"
            raise ValueError(
                f"QuantizationConfig.method: {what} learns on a linear grid (lq, mse or aciq); "
                f"{config.method} gives {name} {kind}"
            )
    return target, quantized


def adaround(model, config: QuantizationConfig, calibration: dict, settings=None, *, seed: int = 0, device="cpu"):
    """``model`` (a transformers ``BertForSequenceClassification`` or bertq's classifier) quantized
    with ``config`` on a linear grid, then the rounding of every linear learned by AdaRound
    (Nagel et al., 2020; :mod:`bertq.quantization.adaround`) on every sequence of ``calibration``
    (a padded batch: ``input_ids``, ``attention_mask``, optional ``token_type_ids``; the paper
    takes 1024 training sequences). ``settings``: an
    :class:`~bertq.quantization.adaround.AdaRoundConfig` or its dict (default: the paper's; its
    ``sequences`` is the count the pipeline draws, here ``calibration`` gives them). Returns a
    copy as :func:`quantize` does, with each layer's
    :class:`~bertq.quantization.adaround.LayerResult` in ``model.bertq_adaround``."""
    import torch

    from .data.tokenized import padded_arrays
    from .models.device import pick_device
    from .quantization.adaround import AdaRoundConfig, adaround_model

    settings = settings if isinstance(settings, AdaRoundConfig) else AdaRoundConfig.from_dict(settings or {})
    settings.check("settings")
    target, quantized = _linear_grid(model, config, "AdaRound")
    bert = _bertq_classifier(model, "AdaRound").to(pick_device(device))
    batch = padded_arrays(calibration)
    torch.manual_seed(seed)
    tensors, results = adaround_model(bert, quantized, batch, settings, seed=seed)
    _set_dequantized(target, quantized.with_tensors(tensors))
    target.bertq_adaround = results
    return target


def qat(
    model,
    config: QuantizationConfig,
    train: dict,
    settings: dict | None = None,
    *,
    activations=None,
    seed: int = 0,
    device="cpu",
    progress: bool = False,
):
    """Quantization-aware training with learned ranges (Bondarenko et al., 2021, section 4;
    :mod:`bertq.training.qat`): ``model`` (a transformers ``BertForSequenceClassification`` or
    bertq's classifier) quantized with ``config`` on a linear grid and, with ``activations`` (an
    :class:`~bertq.quantization.activation.ActivationConfig` or its dict; bertq's classifier only,
    see :func:`from_transformers`), its activations calibrated on sequences of ``train``; then
    trained on ``train`` (a padded batch with ``labels``: class ids, or scores for a one-output
    regressor) with ``settings`` over :data:`~bertq.training.qat.QAT_DEFAULTS` (learning rate,
    batch size, epochs, attention dropout, ...). Returns a trained copy as :func:`quantize` does;
    with ``activations`` its sites quantize with the trained ranges (``model.bertq_ranges``).
    ``model.bertq_training`` records the run."""
    from .data.tokenized import TokenizedSplit
    from .models.checkpoint import model_from_state
    from .models.device import pick_device
    from .models.encoder import _BertModel
    from .quantization.activation import ActivationConfig, apply_ranges, calibrate
    from .quantization.calibration import calibration_batches
    from .training.finetune import seed_everything
    from .training.qat import QAT_DEFAULTS, LabelledSequences, train_quantized

    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(QAT_DEFAULTS))
    if unknown:
        raise ValueError(f"qat settings: unknown {unknown}; known: {sorted(QAT_DEFAULTS)}")
    if activations is not None and not isinstance(model, _BertModel):
        raise TypeError(
            "activation quantization runs on bertq's encoder, whose sites it quantizes: "
            "pass bertq.from_transformers(model)"
        )
    target, quantized = _linear_grid(model, config, "QAT")
    bert = _bertq_classifier(model, "QAT")
    split = TokenizedSplit.from_padded(train)
    regression = bert.config.num_labels == 1
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    ranges = {}
    if activations is not None:
        act = activations if isinstance(activations, ActivationConfig) else ActivationConfig.from_dict(activations)
        act.check()
        start = model_from_state(bert.config, quantized.dequantized_state(_float_state(bert)))
        ranges = calibrate(start, calibration_batches(split, act.batch_size, act.batches, seed), act)
    objective = LabelledSequences(split, regression)
    if settings.get("max_train_examples") and settings["max_train_examples"] < len(split):
        objective.train = split.subset(np.sort(rng.choice(len(split), settings["max_train_examples"], replace=False)))
    tuned, tuned_ranges, record = train_quantized(
        bert, quantized, ranges, objective, settings, rng, pick_device(device), progress=progress
    )
    _set_dequantized(target, tuned)
    if activations is not None:
        apply_ranges(target, tuned_ranges)
        target.bertq_ranges = tuned_ranges
    target.bertq_training = record
    return target.eval()
