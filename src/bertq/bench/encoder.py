"""End-to-end encoder benchmark: a BERT-size classifier (random weights: speed does not depend on
them) on torch fp32, torch's dynamic int8 and bertq's integer engine (7-bit per-token activations),
and with ``dynamic`` on bertq's dynamic int8 engine without and with TM-IQR clipping (El-Kurdi et
al., 2022: 8-bit per-sequence activations), same batch, same threads, timed round-robin in one
run."""

from __future__ import annotations

import copy
import time
import warnings

import torch

from ..models.encoder import BertClassifier, EncoderConfig
from ..models.sources import PAPER_SIZES
from .timing import paired, ratios, time_round_robin


def bert_config(size: str) -> EncoderConfig:
    layers, hidden, heads, intermediate = PAPER_SIZES[size]
    return EncoderConfig(
        num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads, intermediate_size=intermediate
    )


def bench_encoder(
    size: str = "base",
    batch_size: int = 8,
    sequence_length: int = 128,
    repeats: int = 5,
    method: str = "lq",
    bits: int = 8,
    path: str | None = None,
    seed: int = 0,
    dynamic: bool = False,
) -> dict:
    from ..engine.dynamic import apply_tm_iqr
    from ..engine.model import quantize_modules
    from ..quantization.dynamic import DynamicConfig
    from ..quantization.model import quantize_state

    torch.manual_seed(seed)
    config = bert_config(size)
    fp32 = BertClassifier(config).eval()
    state = {k: v.detach().numpy().copy() for k, v in fp32.state_dict().items()}
    start = time.perf_counter()
    qm = quantize_state(state, method, bits)
    quantize_seconds = time.perf_counter() - start
    engine = quantize_modules(copy.deepcopy(fp32), qm, "int8", path=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch_dynamic = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(fp32), {torch.nn.Linear}, dtype=torch.qint8
        )
    ids = torch.randint(
        1000, config.vocab_size, (batch_size, sequence_length), generator=torch.Generator().manual_seed(seed)
    )
    mask = torch.ones_like(ids)
    candidates = {
        "torch fp32": lambda: fp32(ids, mask),
        "torch dynamic int8": lambda: torch_dynamic(ids, mask),
        "bertq int8 engine": lambda: engine(ids, mask),
    }
    if dynamic:
        qm_all = quantize_state(state, method, bits, scope="all")  # El-Kurdi et al.: every linear
        for name, settings in (("bertq I8 engine", {}), ("bertq TM-IQR engine", {"tm_iqr": {}})):
            model = quantize_modules(copy.deepcopy(fp32), qm_all, "i8", path=path)
            apply_tm_iqr(model, DynamicConfig.from_dict(settings))
            candidates[name] = lambda model=model: model(ids, mask)
    with torch.no_grad():
        start = time.perf_counter()
        engine(ids, mask)
        first_call = time.perf_counter() - start
        t = time_round_robin(candidates, repeats, warmup=1)
        if dynamic:  # TM-IQR's cost is a few per cent at most: time the two alone, call by call
            pair = {name: candidates[name] for name in ("bertq I8 engine", "bertq TM-IQR engine")}
            tm_iqr_pair = time_round_robin(pair, 3 * repeats, warmup=0)
    kernel_path = next(m.path for m in engine.modules() if hasattr(m, "packed"))
    return {
        "size": size,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "method": method,
        "bits": bits,
        "kernel_path": kernel_path,
        "engine_first_call_seconds": first_call,
        "quantize_seconds": quantize_seconds,
        "seconds": t,
        "sequences_per_second": {k: batch_size / v["median_seconds"] for k, v in t.items()},
        "words_per_second": {k: batch_size * sequence_length / v["median_seconds"] for k, v in t.items()},
        "vs_torch_fp32": ratios(t, "torch fp32"),
        "vs_torch_dynamic_int8": ratios(t, "torch dynamic int8"),
        "vs_torch_fp32_median": ratios(t, "torch fp32", "median_seconds"),
        "vs_torch_dynamic_int8_median": ratios(t, "torch dynamic int8", "median_seconds"),
        "vs_torch_fp32_paired": paired(t, "torch fp32"),
        "vs_torch_dynamic_int8_paired": paired(t, "torch dynamic int8"),
        **(
            {
                "tm_iqr_pair": tm_iqr_pair,
                "tm_iqr_cost": 1.0 - paired(tm_iqr_pair, "bertq I8 engine")["bertq TM-IQR engine"],
            }
            if dynamic
            else {}
        ),
    }
