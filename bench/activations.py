"""Benchmark activation quantization (Bondarenko et al., 2021) on the packaged MiniLM-L6; write JSON.

    python bench/activations.py [--out bench/out/activations.json] [--quick]

One thread. (a) Calibration of every activation site over 16 batches x 32 Rotten Tomatoes training
sentences (real lengths) with each range estimator, against one fp32 pass over the same batches
timed in the same run; target: each estimator <= 60 s. (b) Scoring ~500 dev sentences with static
8-bit fake quantization at every site against fp32, timed round-robin; target: <= 2x fp32. The JSON
holds every timing, the machine, and the targets with whether each was met.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bertq.bench import results
from bertq.bench.activations import (
    CONFIGS,
    bench_calibration,
    bench_evaluation,
    calibrated,
    minilm_classifier,
    rotten_tomatoes,
)
from bertq.quantization.activation import ActivationConfig

CALIBRATION_LIMIT_S = 60.0
EVALUATION_LIMIT_X = 2.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/out/activations.json")
    ap.add_argument("--batches", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--eval-sequences", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="4 batches, 128 evaluation sentences, 2 repeats")
    args = ap.parse_args(argv)
    if args.quick:
        args.batches, args.eval_sequences, args.repeats = 4, 128, 2
    torch.set_num_threads(1)
    started = time.time()
    model = minilm_classifier()
    train = rotten_tomatoes("train", args.batches * args.batch_size, seed=0)
    order = np.arange(len(train))  # already a random draw: consecutive batches, as the calibrate job
    batches = [train.batch(order[i : i + args.batch_size]) for i in range(0, len(train), args.batch_size)]
    calib = bench_calibration(model, batches, CONFIGS)
    for name, r in calib["estimators"].items():
        print(
            f"calibrate {r['sites']} sites, {calib['batches']} x {calib['batch_size']} sentences "
            f"({calib['tokens']} tokens), {name}: {r['seconds']:.1f} s ({r['vs_fp32_pass']:.1f}x one fp32 pass "
            f"of {calib['fp32_pass_seconds']['best_seconds']:.1f} s)",
            flush=True,
        )
    dev = rotten_tomatoes("dev", args.eval_sequences, seed=1)
    quantized = calibrated(model, batches[:4], ActivationConfig(estimator="running_minmax", bits=8))
    evaluation = bench_evaluation(model, quantized, dev, repeats=args.repeats)
    s = evaluation["seconds"]
    print(
        f"score {evaluation['sequences']} dev sentences ({evaluation['tokens']} tokens): fp32 "
        f"{s['fp32']['best_seconds']:.2f} s, every site quantized {s['activation-quantized']['best_seconds']:.2f} s "
        f"({evaluation['slowdown_vs_fp32']:.2f}x)",
        flush=True,
    )
    targets = [
        results.target(
            f"calibration, {name}, {calib['batches']} x {calib['batch_size']} sentences, one thread <= "
            f"{CALIBRATION_LIMIT_S:.0f} s",
            r["seconds"],
            CALIBRATION_LIMIT_S,
            at_most=True,
        )
        for name, r in calib["estimators"].items()
    ]
    targets.append(
        results.target(
            f"evaluation with every site quantized <= {EVALUATION_LIMIT_X:.0f}x fp32 (time ratio)",
            evaluation["slowdown_vs_fp32"],
            EVALUATION_LIMIT_X,
            at_most=True,
        )
    )
    for t in targets:
        unit = "x" if t["target"].startswith("evaluation") else " s"
        print(f"[{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['value']:.2f}{unit}", flush=True)
    result = {
        "machine": results.machine(torch=torch.__version__, threads=1),
        "model": "packaged:all-MiniLM-L6-v2 (random classifier head)",
        "calibration": calib,
        "evaluation": evaluation,
        "targets": targets,
        "wall_seconds": time.time() - started,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
