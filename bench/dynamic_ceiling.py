"""How far can the dynamic int8 engine get past torch's dynamic int8 by its linears alone? Write JSON.

    python bench/dynamic_ceiling.py [--out bench/out/dynamic-ceiling-<path>.json] [--path avx2] [--repeats 9]

BERT-Base, 8 x 128 tokens, one thread, round-robin in one run: torch's dynamic int8 (fbgemm), bertq's
I8 engine, and the same engine with every linear's activation codes computed once beforehand, so
that its forward pass is the integer GEMMs plus what both share (embeddings, attention, GELU,
LayerNorm, residual adds). The last is the ceiling of any work on the linears' activation
quantization: if it stays below 1.15x torch's dynamic int8 (issue 14's end-to-end target), only
taking over the shared float work can reach that target. For the AVX2 path on an AVX-512 machine,
pin the baseline with ``ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2
FBGEMM_ENABLE_INSTRUCTIONS=AVX2`` (see ``bench/dynamic.py``).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings

import numba
import torch

from bertq.bench import results
from bertq.bench.encoder import bert_config
from bertq.bench.timing import paired, time_round_robin
from bertq.engine.dynamic import DynamicIntegerLinear
from bertq.engine.model import quantize_modules
from bertq.kernels import simd
from bertq.models.encoder import BertClassifier
from bertq.quantization.model import quantize_state

TARGET = 1.15


def precompute_codes(model: torch.nn.Module) -> None:
    """Make every dynamic linear of ``model`` return the codes of its first input from then on."""
    for module in model.modules():
        if isinstance(module, DynamicIntegerLinear):
            first = module._codes
            kept = {}

            def codes(x, first=first, kept=kept):
                if "codes" not in kept:
                    kept["codes"] = first(x)
                return kept["codes"]

            module._codes = codes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="default bench/out/dynamic-ceiling-<path>.json")
    ap.add_argument("--path", default=None, help=f"kernel path (default: fastest of {simd.available_paths()})")
    ap.add_argument("--repeats", type=int, default=9, help="rounds (default 9, at least 5)")
    args = ap.parse_args(argv)
    if args.repeats < 5:
        ap.error("--repeats must be at least 5")
    path = simd.resolve_path(args.path) if args.path else simd.default_path()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    started = time.time()
    torch.manual_seed(0)
    config = bert_config("base")
    fp32 = BertClassifier(config).eval()
    state = {k: v.detach().numpy().copy() for k, v in fp32.state_dict().items()}
    qm = quantize_state(state, "lq", 8, scope="all")
    engine = quantize_modules(copy.deepcopy(fp32), qm, "i8", path=path)
    ceiling = quantize_modules(copy.deepcopy(fp32), qm, "i8", path=path)
    precompute_codes(ceiling)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32), {torch.nn.Linear}, dtype=torch.qint8)
    ids = torch.randint(1000, config.vocab_size, (8, 128), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    candidates = {
        "torch dynamic int8": lambda: baseline(ids, mask),
        "bertq I8 engine": lambda: engine(ids, mask),
        "bertq I8 engine, codes precomputed": lambda: ceiling(ids, mask),
    }
    with torch.no_grad():
        t = time_round_robin(candidates, args.repeats, warmup=1)
    speedup = paired(t, "torch dynamic int8")
    for name, v in t.items():
        print(f"{name}: {v['median_seconds'] * 1000:.1f} ms, {speedup[name]:.3f}x torch dynamic int8", flush=True)
    result = {
        "machine": results.machine(torch=torch.__version__, threads=1, kernel_path=path),
        "batch_size": 8,
        "sequence_length": 128,
        "seconds": t,
        "vs_torch_dynamic_int8_paired": speedup,
        "targets": [
            results.target(
                f"the I8 engine with free activation quantization reaches {TARGET}x torch dynamic int8 "
                "(BERT-Base 8 x 128): if not, the linears alone cannot",
                speedup["bertq I8 engine, codes precomputed"],
                TARGET,
            )
        ],
        "wall_seconds": time.time() - started,
    }
    results.write(result, args.out or f"bench/out/dynamic-ceiling-{path}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
