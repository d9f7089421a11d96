"""Benchmark quantization-aware training and AdaRound (Bondarenko et al., 2021) on MiniLM-L6; write JSON.

    python bench/qat.py [--out bench/out/qat.json] [--repeats 5] [--adaround-iterations 1000]

One thread. (1) Training steps, round-robin in one run, on the packaged MiniLM-L6 at batch 32 x 128
tokens (the paper's sequence length): fp32 fine-tuning as the finetune job trains
(transformers' ``BertForSequenceClassification``), and QAT with learned ranges at W4A32, W4A8 and
W8A8 (every weight and, with activations, every activation site quantized). An epoch is the same
number of such steps, so its time ratio is the step-time ratio: target QAT <= 2x fp32 fine-tuning
(issue 15). (2) AdaRound of every MiniLM-L6 linear at 4 bits (MSE grid), 256 training-length
sequences x ``--adaround-iterations`` per layer (batches of 32 sequences), timed per layer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# ``python bench/qat.py`` puts bench/ first on the path, where bench/kernels.py would stand in for the
# ``kernels`` package that transformers looks for: take it off.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bertq.bench import results  # noqa: E402
from bertq.bench.minilm import packaged_classifier  # noqa: E402
from bertq.bench.timing import paired, time_round_robin  # noqa: E402
from bertq.models.encoder import BertClassifier, EncoderConfig  # noqa: E402
from bertq.models.sources import packaged_path  # noqa: E402
from bertq.quantization.activation import ActivationConfig, calibrate  # noqa: E402
from bertq.quantization.adaround import AdaRoundConfig, adaround_model  # noqa: E402
from bertq.quantization.model import quantize_state  # noqa: E402
from bertq.training.qat import Supervised, attach_learned_quantizers  # noqa: E402

TARGET = 2.0
BATCH, TOKENS = 32, 128


def _batch(config: EncoderConfig, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, config.vocab_size, (BATCH, TOKENS), generator=g)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": torch.zeros_like(ids),
        "labels": torch.randint(0, 2, (BATCH,), generator=g),
    }


def _hf_model(config: EncoderConfig, state: dict):
    from transformers import BertConfig, BertForSequenceClassification

    hf = BertForSequenceClassification(
        BertConfig(**{**json.loads((packaged_path() / "config.json").read_text()), "num_labels": 2})
    )
    hf.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=False)
    return hf


def training_steps(repeats: int) -> dict:
    config, state = packaged_classifier()
    batch = _batch(config)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    calibration = [inputs]
    candidates, models = {}, {}

    def step_of(model):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

        def step():
            loss = model(**inputs, labels=batch["labels"]).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    models["fp32 fine-tuning (transformers)"] = _hf_model(config, state).train()
    for name, (method, bits, activations) in {
        "QAT W4A32": ("mse", 4, False),
        "QAT W4A8": ("mse", 4, True),
        "QAT W8A8": ("lq", 8, True),
    }.items():
        qm = quantize_state(state, method, bits, scope="all")
        ranges = {}
        if activations:
            ranges = calibrate(
                BertClassifier.from_state(config, qm.dequantized_state(state)), calibration, ActivationConfig()
            )
        model = BertClassifier.from_state(config, state)
        attach_learned_quantizers(model, qm, ranges)
        models[name] = Supervised(model, regression=False).train()
    for name, model in models.items():
        candidates[name] = step_of(model)
    t = time_round_robin(candidates, repeats, warmup=1)
    base = "fp32 fine-tuning (transformers)"
    slowdown = {name: 1.0 / r for name, r in paired(t, base).items()}
    return {"batch_size": BATCH, "sequence_length": TOKENS, "seconds": t, "vs_fp32_finetuning_paired": slowdown}


def adaround_speed(iterations: int, sequences: int = 256) -> dict:
    from transformers import AutoTokenizer

    from bertq.data.loading import load_rotten_tomatoes
    from bertq.data.tokenized import tokenize_examples

    config, state = packaged_classifier()
    model = BertClassifier.from_state(config, state)
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_path()))
    split = tokenize_examples(tokenizer, load_rotten_tomatoes("train"), TOKENS)
    batch = split.batch(np.random.default_rng(0).choice(len(split), sequences, replace=False))
    qm = quantize_state({k: v.detach().numpy() for k, v in model.state_dict().items()}, "mse", 4, scope="all")
    settings = AdaRoundConfig(sequences=sequences, iterations=iterations)
    started = time.perf_counter()
    _, layers = adaround_model(model, qm, batch, settings)
    return {
        "settings": settings.to_dict(),
        "tokens": int(np.asarray(batch["attention_mask"]).sum()),
        "padded_length": int(np.asarray(batch["input_ids"]).shape[1]),
        "seconds": time.perf_counter() - started,
        "layers": {
            n: {
                "seconds": r.seconds,
                "error_nearest": r.error_nearest,
                "error_adaround": r.error_adaround,
                "not_hard": r.not_hard,
            }
            for n, r in layers.items()
        },
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/out/qat.json")
    ap.add_argument("--repeats", type=int, default=5, help="rounds of training steps (default 5, at least 3)")
    ap.add_argument("--adaround-iterations", type=int, default=1000, help="per layer (0: skip AdaRound)")
    args = ap.parse_args(argv)
    if args.repeats < 3:
        ap.error("--repeats must be at least 3")
    torch.set_num_threads(1)
    started = time.time()
    steps = training_steps(args.repeats)
    for name, s in steps["seconds"].items():
        ratio = steps["vs_fp32_finetuning_paired"][name]
        print(f"{name}: {s['median_seconds']:.2f} s per step of {BATCH} x {TOKENS}, {ratio:.2f}x fp32", flush=True)
    result = {
        "machine": results.machine(torch=torch.__version__, threads=1),
        "training_steps": steps,
        "targets": [
            results.target(
                f"{name} epoch <= {TARGET}x an fp32 fine-tuning epoch (MiniLM-L6, {BATCH} x {TOKENS}; step-time ratio)",
                steps["vs_fp32_finetuning_paired"][name],
                TARGET,
                at_most=True,
            )
            for name in steps["seconds"]
            if name.startswith("QAT")
        ],
    }
    if args.adaround_iterations:
        result["adaround"] = adaround_speed(args.adaround_iterations)
        print(
            f"AdaRound of every MiniLM-L6 linear at 4 bits, 256 sequences x {args.adaround_iterations} iterations: "
            f"{result['adaround']['seconds']:.0f} s",
            flush=True,
        )
    result["wall_seconds"] = time.time() - started
    results.write(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
