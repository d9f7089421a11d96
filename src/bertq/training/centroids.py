"""Centroid fine-tuning of a quantized model (Zhao et al., 2021, sec. 3.1 and 4.2).

After quantization the model is fine-tuned again while staying quantized: the forward pass
rebuilds each quantized weight from its codes and its centroids, ``W = centroids[group, codes]``;
a centroid's gradient is the *mean* of the gradients of the weights that use it; the quantized
layers train at ``lr_multiplier`` (10 in the paper) times the learning rate, every other
parameter (LayerNorm, biases, the task head) at the learning rate itself. Codes never change, so
every weight stays one of its layer's centroids.

The rebuild is a :func:`torch.nn.utils.parametrize` parametrization of the module's ``weight``,
whose trainable original is the ``(groups, 2**bits)`` centroid table. Gathering gives each
centroid the *sum* of its members' gradients; a gradient hook divides by the member counts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ..quantization.model import QuantizedModel, load_quantized, save_quantized
from ..quantization.tensor import CodebookTensor, QuantizedWeight


class CentroidParametrization(nn.Module):
    """The parametrization ``centroids -> weight``: ``centroids[group of column, codes]`` in the
    input-major layout, transposed for ``nn.Linear`` (whose weight is ``(out, in)``)."""

    def __init__(self, qt: QuantizedWeight, transpose: bool):
        super().__init__()
        if qt.n_split:
            raise ValueError("centroid fine-tuning needs one code per weight; OCS split channels have none")
        cw = qt.as_codebook()
        codes = torch.from_numpy(cw.codes.astype(np.int64))
        group = torch.arange(codes.shape[1]) // cw.group_size
        self.register_buffer("codes", codes)
        self.register_buffer("group", group.expand_as(codes).contiguous())
        counts = torch.zeros(cw.codebook.shape, dtype=torch.float64)
        counts.index_put_(
            (self.group.reshape(-1), codes.reshape(-1)), torch.ones(codes.numel(), dtype=torch.float64), accumulate=True
        )
        self.register_buffer("members", counts.clamp(min=1).float())
        self.transpose = transpose
        self.bits = cw.bits
        self.initial = torch.from_numpy(cw.codebook.astype(np.float32))

    def forward(self, centroids: torch.Tensor) -> torch.Tensor:
        w = centroids[self.group, self.codes]
        return w.T if self.transpose else w

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        """At registration: the original becomes the centroid table (the weight it replaces is
        the dequantized codebook weight, not needed further)."""
        return self.initial.to(weight.dtype).clone()


def attach_centroids(model: nn.Module, quantized: QuantizedModel) -> dict[str, nn.Parameter]:
    """Parametrize every quantized weight of ``model`` by its centroids; returns the centroid
    parameters by weight name. Their gradients are averaged over each centroid's members."""
    centroids = {}
    for name, module in model.named_modules():
        qt = quantized.tensors.get(f"{name}.weight")
        if qt is None:
            continue
        if not isinstance(module, (nn.Linear, nn.Embedding)):
            raise TypeError(f"{name}: cannot fine-tune centroids of a {type(module).__name__}")
        param = CentroidParametrization(qt, transpose=isinstance(module, nn.Linear))
        expected = tuple(module.weight.shape)
        parametrize.register_parametrization(module, "weight", param, unsafe=True)
        if tuple(module.weight.shape) != expected:
            raise ValueError(f"{name}: quantized weight {qt.codes.shape} does not fit {expected}")
        original = module.parametrizations.weight.original
        members = param.members
        original.register_hook(lambda g, members=members: g / members)
        centroids[f"{name}.weight"] = original
    missing = set(quantized.tensors) - set(centroids)
    if missing:
        raise ValueError(f"quantized weights with no module in the model: {sorted(missing)[:5]}")
    return centroids


def parameter_groups(
    model: nn.Module,
    centroids: dict[str, nn.Parameter],
    learning_rate: float,
    lr_multiplier: float,
    weight_decay: float,
) -> list[dict]:
    """Centroids at ``lr_multiplier x learning_rate`` without weight decay (decay would pull
    centroids, not weights, towards zero); the rest as in fine-tuning (no decay for biases and
    LayerNorm)."""
    ids = {id(p) for p in centroids.values()}
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if id(p) in ids:
            continue
        (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    return [
        {"params": list(centroids.values()), "lr": learning_rate * lr_multiplier, "weight_decay": 0.0},
        {"params": decay, "lr": learning_rate, "weight_decay": weight_decay},
        {"params": no_decay, "lr": learning_rate, "weight_decay": 0.0},
    ]


def trained_codebooks(
    quantized: QuantizedModel, centroids: dict[str, nn.Parameter], floats: dict[str, np.ndarray] | None = None
) -> QuantizedModel:
    """The quantized model with each weight's codebook replaced by its trained centroids (a
    linear grid becomes a codebook: its levels moved independently) and ``floats``, the
    unquantized parameters training changed, as its float tensors."""
    tensors = {}
    for name, qt in quantized.tensors.items():
        cw = qt.as_codebook()
        tensors[name] = CodebookTensor(cw.codes, centroids[name].detach().float().cpu().numpy(), cw.bits)
    return quantized.with_tensors(tensors, floats or {})


def run_centroid_finetune(
    finetuned_dir: str | Path,
    quantized: str | Path,
    spec,
    tokenized_path: str | Path,
    params: dict,
    seed: int,
    *,
    checkpoint: str | Path,
    base_summary: str | Path,
    device: str = "cpu",
    threads: int = 1,
    progress: bool = False,
) -> dict:
    """Fine-tune the centroids (and every unquantized parameter) of a quantized checkpoint on the
    task it was fine-tuned for; write the new checkpoint to ``checkpoint`` and return the quantize
    summary it came with updated (size now counts each codebook) and extended by the training record."""
    from ..models.checkpoint import load_state
    from ..models.sources import load_for_task, parse_source
    from ..quantization.job import trained_summary
    from .finetune import changed_float_tensors, pick_device, seed_everything, train, training_record
    from .objectives import load_objective

    torch.set_num_threads(threads)
    dev = pick_device(device)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(seed)
    qm = load_quantized(quantized)
    objective = load_objective(spec, tokenized_path, params)
    rng = np.random.default_rng(seed)
    if params.get("max_train_examples"):
        objective.subsample(rng, params["max_train_examples"])
    model = load_for_task(parse_source(f"path:{Path(finetuned_dir).resolve()}"), spec, seed)
    # unquantized parameters start from the fine-tuned model; quantized ones from their codebooks
    state = load_state(finetuned_dir)
    for name in qm.tensors:
        if name not in state:
            raise ValueError(f"{quantized}: weight {name} is not in {finetuned_dir}")
    centroids = attach_centroids(model, qm)
    model.to(dev)
    groups = parameter_groups(
        model, centroids, params["learning_rate"], params["lr_multiplier"], params["weight_decay"]
    )
    log, steps, amp, seconds = train(
        model, objective, groups, params, rng, dev, desc=f"centroid fine-tune {spec.name}", progress=progress
    )
    tuned = trained_codebooks(qm, centroids, changed_float_tensors(model, state, qm.tensors))
    save_quantized(tuned, checkpoint)
    record = {**training_record(log, steps, seconds, objective, params, dev), "amp": str(amp) if amp else None}
    return trained_summary(base_summary, tuned, state, "centroid_finetune", record)
