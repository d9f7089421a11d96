"""Quantization-aware training with learned ranges (Bondarenko et al., 2021, section 4; App. B.3-B.4).

A variant's post-training quantized model is its start: every quantized weight gets a
:class:`~bertq.quantization.learned.LearnedWeightQuantizer` whose step starts at the PTQ step
(the latent weight starts at the fine-tuned fp32 weight), every calibrated activation site a
:class:`~bertq.quantization.learned.LearnedActivationQuantizer` whose grid starts at the calibrated
range ("we initialize all quantization parameters from the PTQ setup"). The network then trains on
the task with fake quantization in the forward pass and straight-through gradients: Adam (AdamW
without weight decay) over weights and quantization parameters alike, a linear warm-up over the
first 10% of the steps then linear decay to zero, sequences of at most 128 tokens (the tokenised
data's), the attention dropout of the entry (the paper's search space: learning rate, batch size,
epochs, attention dropout; Tables 10-11). No mixed precision: rounding to an 8-bit grid needs
float32 values.

The result is what post-training quantization writes: the weights as codes and steps
(:func:`~bertq.quantization.model.save_quantized`) and the activation ranges whose grids are the
trained ones (:func:`~bertq.quantization.activation.save_ranges`), so evaluation, size, ACE and the
integer engine take it unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ..models.sites import site_modules
from ..quantization.activation import SiteRange
from ..quantization.learned import LearnedActivationQuantizer, LearnedWeightQuantizer
from ..quantization.model import QuantizedModel
from ..quantization.tensor import QuantizedTensor
from .finetune import changed_float_tensors
from .supervision import LabelledSequences, Supervised  # noqa: F401 (the QAT API's names)

QAT_DEFAULTS = {
    "learning_rate": 2e-5,
    "batch_size": 32,
    "epochs": 3,
    "attention_dropout": 0.1,
    "warmup_ratio": 0.1,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "max_train_examples": None,
}
"""A QAT entry's hyper-parameters when it gives none (Tables 10-11 search learning rate, batch size,
epochs and attention dropout per task; these are the fine-tuning defaults of BERT)."""


def attach_learned_quantizers(model: nn.Module, quantized: QuantizedModel, ranges: dict[str, SiteRange]) -> dict:
    """Give ``model`` (a bertq BERT, fp32 weights) a trainable weight quantizer on every weight of
    ``quantized`` and a trainable activation quantizer at every site of ``ranges``, in place.
    Returns ``{"weights": {weight name: quantizer}, "sites": {site name: quantizer}}``."""
    weights = {}
    for name, module in model.named_modules():
        qt = quantized.tensors.get(f"{name}.weight")
        if qt is None:
            continue
        if not isinstance(qt, QuantizedTensor):
            raise TypeError(f"{name}: QAT learns the step of a linear grid; a codebook weight has none")
        if qt.n_split:
            raise ValueError(f"{name}: QAT learns one weight per code; OCS split channels have none")
        if not isinstance(module, (nn.Linear, nn.Embedding)):
            raise TypeError(f"{name}: cannot train the quantized weight of a {type(module).__name__}")
        output_dim = 0 if isinstance(module, nn.Linear) else 1
        quantizer = LearnedWeightQuantizer(qt.scale, qt.bits, module.weight.shape[output_dim], output_dim)
        parametrize.register_parametrization(module, "weight", quantizer, unsafe=True)
        weights[f"{name}.weight"] = quantizer
    missing = sorted(set(quantized.tensors) - set(weights))
    if missing:
        raise ValueError(f"quantized weights with no module in the model: {missing[:5]}")
    modules = site_modules(model)
    unknown = sorted(set(ranges) - set(modules))
    if unknown:
        raise ValueError(f"ranges for sites this model does not have: {unknown[:5]}")
    sites = {}
    for name, r in ranges.items():
        path, module = modules[name]
        sites[name] = LearnedActivationQuantizer(module.kind, r)
        parent, _, child = path.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, sites[name])
    return {"weights": weights, "sites": sites}


def trained_result(
    model: nn.Module, quantized: QuantizedModel, attached: dict, before: dict[str, torch.Tensor] | None = None
) -> tuple[QuantizedModel, dict[str, SiteRange]]:
    """The trained weights as a :class:`QuantizedModel` (settings of ``quantized``), with every
    unquantized parameter that training changed against ``before`` (the state before
    :func:`attach_learned_quantizers`: biases, LayerNorm, a float head) as its float tensors, and
    the trained activation ranges."""
    tensors = {}
    for name, quantizer in attached["weights"].items():
        module = model.get_submodule(name[: -len(".weight")])
        tensors[name] = quantizer.quantized(module.parametrizations.weight.original)
    floats = changed_float_tensors(model, before or {}, tensors)
    ranges = {name: q.site_range() for name, q in attached["sites"].items()}
    return quantized.with_tensors(tensors, floats), ranges


def qat_param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Matrices (latent weights) with ``weight_decay``; biases, LayerNorm and every quantization
    parameter (vectors) without."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_quantized(
    model: nn.Module,
    quantized: QuantizedModel,
    ranges: dict[str, SiteRange],
    objective,
    params: dict,
    rng: np.random.Generator,
    device: torch.device,
    *,
    desc: str = "QAT",
    progress: bool = False,
) -> tuple[QuantizedModel, dict[str, SiteRange], dict]:
    """QAT of ``model`` (a bertq classifier or token classifier, fp32 weights, changed in place) from the PTQ
    start ``quantized`` and ``ranges`` on ``objective`` (a task's
    :class:`~bertq.training.objectives.SequenceObjective` or :class:`LabelledSequences`) with
    ``params`` over :data:`QAT_DEFAULTS`. Returns the trained weights, the trained ranges and a
    record of the run."""
    from .finetune import train, training_record

    params = {**QAT_DEFAULTS, **params}
    for layer in model.layers:
        layer.get_submodule(model.config.family.attention).dropout.p = float(params["attention_dropout"])
    before = {k: v.detach().cpu().numpy().copy() for k, v in model.named_parameters()}
    attached = attach_learned_quantizers(model, quantized, ranges)
    wrapped = objective.supervision.wrap(model).to(device)
    log, steps, _, seconds = train(
        wrapped,
        objective,
        qat_param_groups(wrapped, params["weight_decay"]),
        {**params, "amp": False},
        rng,
        device,
        desc=desc,
        progress=progress,
    )
    model.eval().cpu()
    tuned, tuned_ranges = trained_result(model, quantized, attached, before)
    record = training_record(log, steps, seconds, objective, params, device)
    record.update(learned_sites=len(tuned_ranges), learned_weights=len(tuned.tensors))
    return tuned, tuned_ranges, record


def run_qat(
    finetuned_dir: str | Path,
    quantized: str | Path,
    ranges: str | Path | None,
    spec,
    tokenized_path: str | Path,
    params: dict,
    seed: int,
    *,
    checkpoint: str | Path,
    ranges_out: str | Path | None,
    base_summary: str | Path,
    device: str = "cpu",
    threads: int = 1,
    progress: bool = False,
) -> dict:
    """Train a PTQ variant (``quantized``, and its calibrated ``ranges`` when its activations are
    quantized) on its task from the fine-tuned checkpoint; write the trained checkpoint (and
    ranges) and return the quantize summary extended by the training record."""
    from ..models.checkpoint import build_model, load_state
    from ..quantization.activation import load_ranges, save_ranges
    from ..quantization.job import trained_summary
    from ..quantization.model import load_quantized, save_quantized
    from .finetune import pick_device, seed_everything
    from .objectives import load_objective

    if spec.is_span:
        raise ValueError(f"{spec.name}: QAT trains sequence classifiers (bertq's encoder has no span training)")
    torch.set_num_threads(threads)
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(seed)
    params = {**QAT_DEFAULTS, **params}
    objective = load_objective(spec, tokenized_path, params)
    rng = np.random.default_rng(seed)
    if params.get("max_train_examples"):
        objective.subsample(rng, params["max_train_examples"])
    tuned, tuned_ranges, record = train_quantized(
        build_model(finetuned_dir),
        load_quantized(quantized),
        load_ranges(ranges) if ranges is not None else {},
        objective,
        params,
        rng,
        dev,
        desc=f"QAT {spec.name}",
        progress=progress,
    )
    save_quantized(tuned, checkpoint)
    if ranges_out is not None:
        save_ranges(tuned_ranges, ranges_out, {"qat": {"from": str(ranges)}})
    return trained_summary(base_summary, tuned, load_state(finetuned_dir), "qat", record)
