"""Activation quantization at the encoder's sites (Bondarenko et al., 2021): a typed config, the
calibration that turns it into static per-site ranges, and the quantizers that apply them.

- :class:`ActivationConfig` says which sites (globs over :mod:`bertq.models.sites` names), at how
  many bits (mixed precision: per-site overrides, Table 4), with which range estimator
  (:mod:`bertq.quantization.estimators`) over how many calibration batches of what size
  (Appendix B.2), and where per-embedding-group ranges apply (:class:`PegConfig`, eq. 5, Table 5).
- :func:`calibrate` runs the model over calibration batches with an observer at every chosen
  site. As in the authors' code, each observer updates its estimator and passes the batch on
  quantized with the range so far, so later sites see quantized earlier ones; statistics are
  taken over each sequence's real tokens only (padding never enters a range). With range-based
  permutation, an fp32 pass first records every PEG site's per-channel range over all calibration
  data. The result is :class:`SiteRange` per site, saved as JSON by :func:`save_ranges`.
- :func:`apply_ranges` swaps the chosen sites for :class:`ActivationQuantizer` modules: static
  asymmetric fake quantization (eqs. 1-2), elementwise, so one sequence's output never depends on
  the rest of its batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..models.sites import (
    KINDS,
    TOKENS,
    Site,
    any_site_names,
    check_pattern,
    kind_of,
    select,
    site_modules,
)
from .affine import affine_grid, fake_quantize
from .estimators import ESTIMATORS, make_estimator, peg_groups

ACTIVATION_BITS = (2, 16)
"""Bit-widths an activation site may have."""
PEG_SITES = ("*.attention.norm", "*.ffn.output", "*.ffn.residual_sum")
"""The paper's PEG sites: FFN input, output and residual sum (Table 5, "only FFN")."""
RANGES_FORMAT = "bertq-activation-ranges-v1"


def _check_bits(bits, key: str) -> None:
    lo, hi = ACTIVATION_BITS
    if isinstance(bits, bool) or not isinstance(bits, int) or not lo <= bits <= hi:
        raise ValueError(f"{key}: activation bit-widths are integers from {lo} to {hi}, not {bits!r}")


@dataclass(frozen=True)
class PegConfig:
    """Per-embedding-group ranges (eq. 5): ``groups`` evenly sized groups over the hidden
    dimension (``groups`` = hidden is per-embedding), contiguous or, with ``permute``, over the
    channels sorted by their calibration range; at the sites matching ``sites``."""

    groups: int
    permute: bool = False
    sites: tuple[str, ...] = PEG_SITES

    def check(self, key: str = "peg") -> None:
        if isinstance(self.groups, bool) or not isinstance(self.groups, int) or self.groups < 1:
            raise ValueError(f"{key}.groups: expected a positive integer, got {self.groups!r}")
        probe = any_site_names(2)
        for i, p in enumerate(self.sites):
            try:
                check_pattern(p)
            except ValueError as exc:
                raise ValueError(f"{key}.sites[{i}]: {exc}") from None
            flat = [n for n in select([p], probe, 2) if KINDS[kind_of(n)].layout != TOKENS]
            if flat:
                raise ValueError(
                    f"{key}.sites[{i}]: {p!r} selects {kind_of(flat[0])}, which has no embedding dimension to "
                    "group; per-embedding-group ranges apply to (batch, tokens, hidden) sites"
                )


@dataclass(frozen=True)
class ActivationConfig:
    """How a model's activations are quantized; ``check`` names the field at fault."""

    estimator: str = "current_minmax"
    bits: int = 8
    batch_size: int = 1
    batches: int = 1
    sites: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    site_bits: dict[str, int] = field(default_factory=dict)
    momentum: float = 0.9
    percentile: float = 99.99
    candidates: int = 100
    peg: PegConfig | None = None

    @classmethod
    def from_dict(cls, d: dict) -> ActivationConfig:
        d = dict(d)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown activation setting(s) {unknown}; known: {sorted(known)}")
        if d.get("peg") is not None:
            peg = dict(d["peg"])
            if "sites" in peg:
                peg["sites"] = tuple(peg["sites"])
            d["peg"] = PegConfig(**peg)
        for key in ("sites", "exclude"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sites"], d["exclude"] = list(self.sites), list(self.exclude)
        if self.peg is not None:
            d["peg"]["sites"] = list(self.peg.sites)
        return d

    def check(self, key: str = "activations") -> None:
        if self.estimator not in ESTIMATORS:
            raise ValueError(
                f"{key}.estimator: unknown range estimator {self.estimator!r}; known: {', '.join(ESTIMATORS)}"
            )
        _check_bits(self.bits, f"{key}.bits")
        for name in ("batch_size", "batches", "candidates"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{key}.{name}: expected a positive integer, got {v!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"{key}.momentum: expected a value in [0, 1), got {self.momentum!r}")
        if not 50 < self.percentile <= 100:
            raise ValueError(f"{key}.percentile: expected a value in (50, 100], got {self.percentile!r}")
        for field_name in ("sites", "exclude"):
            for i, p in enumerate(getattr(self, field_name)):
                try:
                    check_pattern(p)
                except ValueError as exc:
                    raise ValueError(f"{key}.{field_name}[{i}]: {exc}") from None
        for p, bits in self.site_bits.items():
            try:
                check_pattern(p)
            except ValueError as exc:
                raise ValueError(f"{key}.site_bits.{p}: {exc}") from None
            _check_bits(bits, f"{key}.site_bits.{p}")
        if self.peg is not None:
            self.peg.check(f"{key}.peg")
            if not ESTIMATORS[self.estimator].per_group:
                raise ValueError(
                    f"{key}.peg: the {self.estimator} estimator gives per-tensor ranges only; "
                    "per-embedding-group ranges take current_minmax or running_minmax"
                )

    def plan(self, names: list[str], num_layers: int) -> dict[str, tuple[int, int | None]]:
        """``{site: (bits, PEG groups or None)}`` of the sites this config quantizes, given the
        model's site ``names``; a site matching several ``site_bits`` globs takes the last."""
        chosen = select(self.sites, names, num_layers)
        dropped = set(select(self.exclude, names, num_layers)) if self.exclude else set()
        peg = set(select(self.peg.sites, names, num_layers)) if self.peg else set()
        overrides = {p: set(select([p], names, num_layers)) for p in self.site_bits}
        plan = {}
        for name in chosen:
            if name in dropped:
                continue
            bits = self.bits
            for p, hits in overrides.items():
                if name in hits:
                    bits = self.site_bits[p]
            plan[name] = (bits, self.peg.groups if name in peg else None)
        return plan

    def site_bits_of(self, names: list[str], num_layers: int) -> dict[str, int]:
        """Each site's activation bits (32 where it stays float): what ACE counts."""
        plan = self.plan(names, num_layers)
        return {n: plan[n][0] if n in plan else 32 for n in names}


@dataclass
class SiteRange:
    """A calibrated site: its bits and range ``lo``/``hi`` per group; ``index`` maps each channel
    to its group (None: one range for the whole tensor)."""

    bits: int
    lo: list[float]
    hi: list[float]
    index: list[int] | None = None

    def expanded(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = torch.tensor(self.lo), torch.tensor(self.hi)
        if self.index is None:
            return lo.reshape(()), hi.reshape(())
        index = torch.tensor(self.index)
        return lo[index], hi[index]


class ActivationQuantizer(nn.Module):
    """Static asymmetric fake quantization of one site (eqs. 1-2; per channel with PEG ranges)."""

    def __init__(self, kind: str, r: SiteRange):
        super().__init__()
        self.kind, self.bits = kind, r.bits
        self.groups = 1 if r.index is None else len(r.lo)
        scale, zero = affine_grid(*r.expanded(), r.bits)
        self.register_buffer("scale", scale)
        self.register_buffer("zero", zero)

    def forward(self, x):
        return fake_quantize(x, self.scale, self.zero, self.bits)

    def extra_repr(self) -> str:
        return f"{self.kind}, a{self.bits}" + (f", {self.groups} groups" if self.groups > 1 else "")


class _Tokens:
    """The real-token mask ``(batch, tokens)`` of the batch being run, shared by the observers."""

    mask: torch.Tensor | None = None


def real_rows(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``(rows, channels)`` of ``x``'s values at real tokens: ``(b, t, c)`` rows are tokens,
    ``(b, h, t, t)`` entries count where query and key token are both real, ``(b, c)`` rows are
    sequences."""
    if x.dim() == 3 and mask is not None:
        return x[mask]
    if x.dim() == 4 and mask is not None:
        real = mask[:, None, :, None] & mask[:, None, None, :]
        return x[real.expand_as(x)].reshape(-1, 1)
    return x.reshape(-1, x.shape[-1])


class _Observer(nn.Module):
    """A site during calibration: updates its estimator with the batch's real values and passes
    the batch on quantized with the range so far (or unchanged in the fp32 ranging pass)."""

    def __init__(self, kind: str, tokens: _Tokens, estimator=None, bits: int = 8, index=None):
        super().__init__()
        self.kind, self.tokens, self.estimator, self.bits = kind, tokens, estimator, bits
        self.index = index
        self.channel_min = self.channel_max = None

    def forward(self, x):
        rows = real_rows(x.detach(), self.tokens.mask)
        if self.estimator is None:  # ranging pass: per-channel min and max, x unchanged
            lo, hi = rows.amin(0), rows.amax(0)
            self.channel_min = lo if self.channel_min is None else torch.minimum(self.channel_min, lo)
            self.channel_max = hi if self.channel_max is None else torch.maximum(self.channel_max, hi)
            return x
        lo, hi = self.estimator.update(rows)
        if self.index is None:
            lo, hi = lo.reshape(()), hi.reshape(())
        else:
            lo, hi = lo[self.index], hi[self.index]
        scale, zero = affine_grid(lo, hi, self.bits)
        return fake_quantize(x, scale, zero, self.bits)


def _swap(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, child = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _restore(model: nn.Module, swapped: dict[str, str]) -> None:
    for path, kind in swapped.items():
        _swap(model, path, Site(kind))


def model_sites(model: nn.Module) -> tuple[list[str], int]:
    """The site names of ``model`` and its number of encoder layers."""
    names = list(site_modules(model))
    layers = {int(n[5 : n.index(".")]) for n in names if n.startswith("layer")}
    if not names:
        raise ValueError(
            "this model has no activation sites: activation quantization needs a BERT encoder "
            "of bertq.models.encoder (ALBERT runs Hugging Face's modules)"
        )
    return names, len(layers)


def _run(model: nn.Module, batches: Iterable[dict], tokens: _Tokens) -> None:
    with torch.no_grad():
        for batch in batches:
            t = {k: torch.as_tensor(batch[k]) for k in ("input_ids", "attention_mask", "token_type_ids")}
            tokens.mask = t["attention_mask"].bool()
            model(t["input_ids"], t["attention_mask"], t["token_type_ids"])
    tokens.mask = None


def calibrate(model: nn.Module, batches: list[dict], config: ActivationConfig) -> dict[str, SiteRange]:
    """Static ranges of every site ``config`` quantizes, from ``batches`` (padded batches as
    :meth:`bertq.data.tokenized.TokenizedSplit.batch` gives them). ``model`` is left as it was."""
    config.check()
    names, num_layers = model_sites(model)
    plan = config.plan(names, num_layers)
    modules = site_modules(model)
    tokens = _Tokens()
    groups_of: dict[str, torch.Tensor] = {}
    swapped = {}
    try:
        permuted = [n for n, (_, k) in plan.items() if k is not None and config.peg.permute]
        if permuted:
            for n in permuted:
                path, module = modules[n]
                _swap(model, path, _Observer(module.kind, tokens))
                swapped[path] = module.kind
            _run(model, batches, tokens)
            for n in permuted:
                obs = model.get_submodule(modules[n][0])
                groups_of[n] = peg_groups(len(obs.channel_min), plan[n][1], obs.channel_max - obs.channel_min)
            _restore(model, swapped)
            swapped.clear()
        observers = {}
        for n, (bits, groups) in plan.items():
            path, module = modules[n]
            index = groups_of.get(n)
            if groups is not None and index is None:
                width = _width(model, n)
                index = peg_groups(width, groups)
            estimator = make_estimator(
                config.estimator,
                bits,
                index,
                groups or 1,
                momentum=config.momentum,
                percentile=config.percentile,
                candidates=config.candidates,
            )
            observers[n] = _Observer(module.kind, tokens, estimator, bits, index)
            _swap(model, path, observers[n])
            swapped[path] = module.kind
        _run(model, batches, tokens)
    finally:
        _restore(model, swapped)
    ranges = {}
    for n, obs in observers.items():
        lo, hi = obs.estimator.result()
        index = None if obs.index is None else obs.index.tolist()
        ranges[n] = SiteRange(obs.bits, lo.tolist(), hi.tolist(), index)
    return ranges


def _width(model: nn.Module, name: str) -> int:
    """The channel count of a token-layout site (the hidden size, or the FFN width)."""
    config = getattr(model, "config", None)
    kind = kind_of(name)
    if kind == "ffn.intermediate":
        return config.intermediate_size
    if KINDS[kind].layout != TOKENS:
        raise ValueError(f"{name}: per-embedding-group ranges need a (batch, tokens, hidden) site")
    return config.hidden_size


def apply_ranges(model: nn.Module, ranges: dict[str, SiteRange]) -> nn.Module:
    """Swap each site of ``ranges`` for its :class:`ActivationQuantizer`, in place; returns ``model``."""
    modules = site_modules(model)
    missing = sorted(set(ranges) - set(modules))
    if missing:
        raise ValueError(f"ranges for sites this model does not have: {missing[:5]}")
    for name, r in ranges.items():
        path, module = modules[name]
        _swap(model, path, ActivationQuantizer(module.kind, r))
    return model


def save_ranges(ranges: dict[str, SiteRange], path: str | Path, extra: dict | None = None) -> None:
    doc = {"format": RANGES_FORMAT, **(extra or {}), "sites": {n: asdict(r) for n, r in ranges.items()}}
    Path(path).write_text(json.dumps(doc, indent=1))


def load_ranges(path: str | Path) -> dict[str, SiteRange]:
    doc = json.loads(Path(path).read_text())
    if doc.get("format") != RANGES_FORMAT:
        raise ValueError(f"{path}: not a bertq activation-ranges file ({RANGES_FORMAT}); rerun its calibrate job")
    return {n: SiteRange(**r) for n, r in doc["sites"].items()}
