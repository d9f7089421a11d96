"""AdaRound (Nagel et al., 2020), as Bondarenko et al. (2021, Table 7) use it for 4-bit BERT weights:
per linear layer, learn whether each weight rounds down or up so that the layer's output on
calibration data changes least.

This follows the authors' implementation (``quantization/adaround`` of Qualcomm's
transformer-quantization) and its defaults:

- the grid is the PTQ weight's (its step per group of output channels, e.g. the MSE estimator's);
  the weight is ``s (floor(w/s) + h(alpha))`` clamped to the grid, with the rectified sigmoid
  ``h(a) = clamp(sigmoid(a) (zeta - gamma) + gamma, 0, 1)``, ``zeta = 1.1``, ``gamma = -0.1``
  (Nagel et al., eq. 23), and ``alpha`` initialised so that ``h(alpha) = w/s - floor(w/s)`` (the
  soft weight starts as the float one);
- loss = reconstruction + ``lambda sum(1 - |2 h - 1|**beta)`` (eq. 24, ``lambda = 0.01``): the
  reconstruction is the squared error of the layer's output, summed over a sequence's tokens and
  averaged over sequences and output channels (the authors' ``mse_loss(...).sum(1).mean()`` on
  ``(batch, tokens, channels)``; bertq counts real tokens only); ``beta`` anneals from 20 to 2 on a
  cosine after a warm-up of 20% of the iterations, during which the regulariser is off;
- Adam on ``alpha`` at lr 1e-3, one random batch of calibration sequences per iteration;
- the target is the float model's output of the layer after its activation function (GELU after
  the FFN's first linear, tanh after the pooler's), the input is what the already AdaRounded
  preceding layers give (activations in float: the authors' ``post_adaround`` mode quantizes them
  afterwards, which bertq's calibrate job does from the AdaRounded checkpoint);
- after the last iteration each weight rounds up where ``alpha >= 0`` (``h(alpha) >= 1/2``).

Linears only: an embedding table's "output" is its rows, whose best rounding is the nearest
one, which the PTQ weight already has.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..models.families import ACTIVATED_ROLES
from .tensor import QuantizedTensor

ZETA, GAMMA = 1.1, -0.1
"""The rectified sigmoid's stretch (Nagel et al., 2020, eq. 23)."""


@dataclass(frozen=True)
class AdaRoundConfig:
    """The paper's setting: 1024 calibration sequences and 10**4 iterations per layer (Bondarenko
    et al., Table 7); the rest are the authors' defaults."""

    sequences: int = 1024
    iterations: int = 10000
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight: float = 0.01
    beta_start: float = 20.0
    beta_end: float = 2.0
    warmup: float = 0.2

    def check(self, key: str = "adaround") -> None:
        for name in ("sequences", "iterations", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{key}.{name}: expected a positive integer, got {v!r}")
        for name in ("learning_rate", "weight", "beta_start", "beta_end"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ValueError(f"{key}.{name}: expected a positive number, got {v!r}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"{key}.warmup: expected a fraction in [0, 1), got {self.warmup!r}")

    @classmethod
    def from_dict(cls, d: dict | None) -> AdaRoundConfig:
        d = dict(d or {})
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown AdaRound setting(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


def rectified_sigmoid(alpha: torch.Tensor) -> torch.Tensor:
    """``h(alpha)`` in [0, 1] (eq. 23)."""
    return torch.clamp(torch.sigmoid(alpha) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def inverse_rectified_sigmoid(rest: torch.Tensor) -> torch.Tensor:
    """``alpha`` with ``h(alpha) = rest`` for ``rest`` in [0, 1)."""
    return -torch.log((ZETA - rest) / (rest - GAMMA))


def rounding_regularizer(h: torch.Tensor, beta: float) -> torch.Tensor:
    """``sum(1 - |2 h - 1|**beta)`` (eq. 24): 0 where every ``h`` is 0 or 1."""
    return (1 - (2 * (h - 0.5)).abs().pow(beta)).sum()


def beta_at(iteration: int, config: AdaRoundConfig) -> float:
    """``beta`` at ``iteration`` (1-based): ``beta_start`` through the warm-up, then a cosine down
    to ``beta_end`` at the last iteration (the authors' ``TempDecay``, cosine)."""
    start = config.warmup * config.iterations
    if iteration < start:
        return config.beta_start
    t = (iteration - start) / (config.iterations - start)
    return config.beta_end + 0.5 * (config.beta_start - config.beta_end) * (1 + math.cos(t * math.pi))


@dataclass
class LayerResult:
    """What AdaRound did to one layer: the reconstruction error with nearest and with learned
    rounding (the same loss, on the same calibration data), the share of weights whose rounding
    changed, and the share of ``h`` not yet hard (strictly between 0 and 1) at the end."""

    error_nearest: float
    error_adaround: float
    flipped: float
    not_hard: float
    seconds: float


class _SoftLinear(nn.Module):
    """``act(x W_soft^T + b)`` with ``W_soft = s clamp(floor(w/s) + h(alpha), -q, q)``."""

    def __init__(self, weight: torch.Tensor, bias, step: torch.Tensor, qmax: int, act):
        super().__init__()
        x = weight / step
        self.register_buffer("floor", torch.floor(x))
        self.register_buffer("step", step)
        self.register_buffer("bias", bias)
        self.alpha = nn.Parameter(inverse_rectified_sigmoid(x - self.floor))
        self.qmax, self.act = qmax, act

    def codes(self, soft: bool) -> torch.Tensor:
        up = rectified_sigmoid(self.alpha) if soft else (self.alpha >= 0).float()
        return torch.clamp(self.floor + up, -self.qmax, self.qmax)

    def forward(self, x, soft: bool = True):
        y = F.linear(x, self.step * self.codes(soft), self.bias)
        return y if self.act is None else self.act(y)


def reconstruction_error(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Squared error summed over each sequence's real tokens, averaged over sequences and channels."""
    err = (pred - target).pow(2) * mask[..., None]
    return err.sum(1).mean()


def adaround_linear(
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    qt: QuantizedTensor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    config: AdaRoundConfig,
    act: Callable | None = None,
    generator: torch.Generator | None = None,
) -> tuple[QuantizedTensor, LayerResult]:
    """AdaRound one ``nn.Linear`` (``weight`` ``(out, in)``) on the grid of its PTQ weight ``qt``:
    ``inputs`` ``(sequences, tokens, in)`` from the quantized preceding layers, ``targets`` the
    float layer's outputs after ``act``, ``mask`` the real tokens. Returns the weight with the
    learned rounding and what it did."""
    import time

    started = time.perf_counter()
    if qt.n_split:
        raise ValueError("AdaRound learns one rounding per weight; OCS split channels have none")
    step = torch.as_tensor(qt.column_scales(), dtype=torch.float32, device=weight.device)[:, None]
    layer = _SoftLinear(
        weight.detach().float(), None if bias is None else bias.detach().float(), step, qt.int_type.qmax, act
    )
    mask = mask.to(inputs.dtype)
    optimizer = torch.optim.Adam([layer.alpha], lr=config.learning_rate)
    n = inputs.shape[0]
    for it in range(1, config.iterations + 1):
        idx = torch.randperm(n, generator=generator)[: config.batch_size].to(inputs.device)
        x, m = inputs[idx], mask[idx]
        loss = reconstruction_error(layer(x), targets[idx], m)
        if it >= config.warmup * config.iterations:
            loss = loss + config.weight * rounding_regularizer(rectified_sigmoid(layer.alpha), beta_at(it, config))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        h = rectified_sigmoid(layer.alpha)
        codes = layer.codes(soft=False)
        nearest = torch.clamp(torch.round(weight.float() / step), -layer.qmax, layer.qmax)
        errors = []
        for c in (nearest, codes):
            total = 0.0
            for i in range(0, n, config.batch_size):
                y = F.linear(inputs[i : i + config.batch_size], step * c, layer.bias)
                y = y if act is None else act(y)
                pred_err = reconstruction_error(y, targets[i : i + config.batch_size], mask[i : i + config.batch_size])
                total += float(pred_err) * min(config.batch_size, n - i)
            errors.append(total / n)
        result = LayerResult(
            error_nearest=errors[0],
            error_adaround=errors[1],
            flipped=float((codes != nearest).float().mean()),
            not_hard=float(((h > 0) & (h < 1)).float().mean()),
            seconds=time.perf_counter() - started,
        )
    out = QuantizedTensor(np.ascontiguousarray(codes.T.to(torch.int8).cpu().numpy()), qt.scale, qt.int_type)
    return out, result


class _Stop(Exception):
    """Raised by a capture hook: the rest of the forward pass is not needed."""


def _capture(module: nn.Module, run: Callable[[], object], want: str) -> torch.Tensor:
    """``module``'s input (``want="input"``) or output during ``run()``, which stops there."""
    box = {}

    def hook(_m, args, out):
        box["value"] = (args[0] if want == "input" else out).detach()
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        run()
    except _Stop:
        pass
    finally:
        handle.remove()
    return box["value"]


def _collect(module: nn.Module, layer: nn.Module, x, additive, parts, want: str) -> torch.Tensor:
    """``module``'s input or output as ``layer`` runs on ``x``, chunk by chunk of sequences."""
    with torch.no_grad():
        return torch.cat([_capture(module, lambda p=p: layer(x[p], additive[p]), want) for p in parts])


def _chunked(n: int, size: int):
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def adaround_model(
    model: nn.Module, qm, batch: dict, config: AdaRoundConfig, seed: int = 0, chunk: int = 64
) -> tuple[dict[str, QuantizedTensor], dict[str, LayerResult]]:
    """AdaRound every linear of a bertq classifier (:class:`~bertq.models.encoder.BertClassifier` or
    :class:`~bertq.models.encoder.BertTokenClassifier`, fp32 weights) whose weight ``qm``
    (:class:`~bertq.quantization.model.QuantizedModel`) holds on a linear grid, layer by layer in
    forward order, on the calibration sequences of ``batch``
    (``input_ids``, ``attention_mask``, ``token_type_ids``, padded). Returns the new weights by
    name (the others of ``qm`` unchanged) and each AdaRounded layer's :class:`LayerResult`."""
    import copy

    from ..models.encoder import BertClassifier, BertTokenClassifier
    from .model import from_input_major

    if not isinstance(model, BertClassifier | BertTokenClassifier):
        raise TypeError(f"AdaRound runs on bertq's BertClassifier or BertTokenClassifier, not {type(model).__name__}")
    quantized = copy.deepcopy(model)
    state = quantized.state_dict()
    with torch.no_grad():
        for name, qt in qm.tensors.items():
            state[name].copy_(torch.from_numpy(from_input_major(name, qt.dequantize())))
    ids, mask, types = (torch.as_tensor(batch[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    n = ids.shape[0]
    parts = _chunked(n, chunk)
    real = mask.bool()
    device = next(model.parameters()).device
    ids, mask, types = ids.to(device), mask.to(device), types.to(device)
    additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    generator = torch.Generator().manual_seed(seed)
    tensors, results = dict(qm.tensors), {}

    def learn(name: str, float_linear: nn.Linear, quant_linear: nn.Linear, inputs, targets, token_mask, act):
        qt = tensors.get(f"{name}.weight")
        if not isinstance(qt, QuantizedTensor):
            return
        new, result = adaround_linear(
            float_linear.weight, float_linear.bias, qt, inputs, targets, token_mask, config, act, generator
        )
        tensors[f"{name}.weight"] = new
        results[name] = result
        with torch.no_grad():
            quant_linear.weight.copy_(torch.from_numpy(from_input_major(f"{name}.weight", new.dequantize())))

    family = model.config.family
    emb_fp, emb_q = model.body.embeddings, quantized.body.embeddings
    if getattr(emb_fp, "transform", False):  # MobileBERT's embedding transformation, on every token
        name = f"{family.body}.embeddings.embedding_transformation"
        lin_fp, lin_q = emb_fp.embedding_transformation, emb_q.embedding_transformation
        with torch.no_grad():
            inputs = torch.cat([_capture(lin_q, lambda p=p: emb_q(ids[p], types[p]), "input") for p in parts])
            targets = torch.cat([_capture(lin_fp, lambda p=p: emb_fp(ids[p], types[p]), "output") for p in parts])
        learn(name, lin_fp, lin_q, inputs, targets, real, None)
    with torch.no_grad():
        x_fp = torch.cat([emb_fp(ids[p], types[p]) for p in parts])
        x_q = torch.cat([emb_q(ids[p], types[p]) for p in parts])
    layers = zip(model.layers, quantized.layers)
    for i, (layer_fp, layer_q) in enumerate(layers):
        for role, sub in family.layer_linears(model.config.num_feedforward_networks):
            lin_fp, lin_q = layer_fp.get_submodule(sub), layer_q.get_submodule(sub)
            act = layer_fp.ffn_act if role in ACTIVATED_ROLES else None  # an FFN's first linear
            inputs = _collect(lin_q, layer_q, x_q, additive, parts, "input")
            targets = _collect(lin_fp, layer_fp, x_fp, additive, parts, "output")
            name = f"{family.body}.{family.layers}.{i}.{sub}"
            learn(name, lin_fp, lin_q, inputs, act(targets) if act else targets, real, act)
        with torch.no_grad():
            x_fp = torch.cat([layer_fp(x_fp[p], additive[p]) for p in parts])
            x_q = torch.cat([layer_q(x_q[p], additive[p]) for p in parts])
    if isinstance(model, BertTokenClassifier):  # a classifier on every token
        with torch.no_grad():
            target = model.classifier(x_fp)
        learn("classifier", model.classifier, quantized.classifier, x_q, target, real, None)
        return tensors, results
    ones = torch.ones(n, 1, device=x_q.device)
    # the head: BERT's pooler dense -> tanh -> classifier, RoBERTa's classifier.dense -> tanh ->
    # out_proj, DistilBERT's pre_classifier -> ReLU -> classifier, MobileBERT's pooler (if any)
    pooler, last = model.head_linears
    if pooler is not None:
        dense_fp, dense_q = model.get_submodule(pooler), quantized.get_submodule(pooler)
        act = torch.tanh if family.head_act == "tanh" else torch.relu
        learn(pooler, dense_fp, dense_q, x_q[:, :1], act(dense_fp(x_fp[:, :1])).detach(), ones, act)
    with torch.no_grad():
        pooled_fp, pooled_q = model.pooled(x_fp)[:, None], quantized.pooled(x_q)[:, None]
        target = model.get_submodule(last)(pooled_fp)
    learn(last, model.get_submodule(last), quantized.get_submodule(last), pooled_q, target, ones, None)
    return tensors, results
