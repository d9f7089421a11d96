"""Acceptance test of AQ-BERT's size loss (Zhao et al., 2021, eqs. 3-6) on real weights and a real
task: the packaged MiniLM-L6 (tests/minilm_fixture.py) on Rotten Tomatoes, every encoder linear in
12 subgroups choosing 0, 2, 4 or 8 bits, searched with two size targets. Each search must end with
an assignment within the tolerance of its target (printed with ``pytest -s``).

The budget is small (72 steps of 8 sentences), so the bit logits learn at 5 rather than the paper's
0.1 (a logit then moves in tens of steps what it moves in thousands over a full GLUE task), with the
size weight at 0.2."""

import numpy as np
import torch
from minilm_fixture import finetune_top, packaged_classifier

from bertq.data.loading import Examples, load_rotten_tomatoes
from bertq.data.tokenized import tokenize_examples
from bertq.models.encoder import BertClassifier
from bertq.models.sources import packaged_path
from bertq.quantization.bit_search import SearchSpace
from bertq.training.bit_search import MIB_BITS, attach_search, fix_assignment, fixed_bits, search
from bertq.training.supervision import Supervision

TRAIN_EXAMPLES = 640
MAX_LENGTH = 64
TOLERANCE = 0.1
SETTINGS = {
    "epochs": 1,
    "delay_epochs": 0,
    "batch_size": 8,
    "tolerance": TOLERANCE,
    "size_weight": 0.2,
    "arch_learning_rate": 5.0,
}


def test_searches_end_within_the_tolerance_of_their_targets():
    from transformers import AutoTokenizer

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_path()))
    examples = load_rotten_tomatoes("train")
    examples = Examples(examples.text_a[:TRAIN_EXAMPLES], None, examples.labels[:TRAIN_EXAMPLES])
    split = tokenize_examples(tokenizer, examples, MAX_LENGTH)
    config, state = packaged_classifier()
    fp32 = BertClassifier.from_state(config, state)
    finetune_top(fp32, split)
    order = np.random.default_rng(0).permutation(len(split))
    held_out, train = split.subset(np.sort(order[:64])), split.subset(np.sort(order[64:]))

    sizes = {}
    for target in (3.5, 7.0):  # MiB of the encoder layers: all at 2 bits is 2.6, all at 8 bits 10.2
        torch.manual_seed(0)
        model = BertClassifier.from_state(config, fp32.state_dict())
        layers = attach_search(model, SearchSpace((0, 2, 4, 8), 12))
        fixed = fixed_bits(model, layers)
        record = search(
            model, layers, train, held_out, Supervision(), {**SETTINGS, "target_mb": target}, np.random.default_rng(1),
            torch.device("cpu"),
        )  # fmt: skip
        assignment = fix_assignment(layers)
        bits = np.concatenate([np.asarray(b) for b in assignment.values()])
        size = (fixed + sum(np.sum(b) * layers[n].group_weights for n, b in assignment.items())) / MIB_BITS
        print(f"target {target} MiB: {size:.3f} MiB after {record['steps']} steps; groups per width:",
              {b: int((bits == b).sum()) for b in (0, 2, 4, 8)})  # fmt: skip
        assert size == record["size_mb"]
        assert abs(size - target) <= TOLERANCE * target, (target, size)
        assert len(set(bits.tolist())) >= 3  # a mixed assignment, not one width everywhere
        sizes[target] = size
    assert sizes[7.0] > sizes[3.5] * 1.5
