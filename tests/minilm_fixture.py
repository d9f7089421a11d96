"""The packaged MiniLM-L6 as a real sentiment classifier, cheaply: its pretrained weights under
``BertForSequenceClassification``'s names, and the top of it (last layer, pooler, classifier)
trained one epoch on cached hidden states. Shared by the tests that need real weights on real
sentences (activation quantization, dynamic int8)."""

import numpy as np
import torch

from bertq.bench.minilm import packaged_classifier  # noqa: F401 (the tests import it from here)
from bertq.models.encoder import BertClassifier


def finetune_top(model: BertClassifier, split, seed: int = 0) -> None:
    """One epoch over ``split`` training the last encoder layer, the pooler and the classifier
    on the frozen lower layers' cached hidden states (AdamW, lr 2e-4, batch 32)."""
    lower, top = model.bert.encoder.layer[:-1], model.bert.encoder.layer[-1]
    cached = []
    with torch.no_grad():
        order = np.argsort(split.lengths(), kind="stable")
        for batch in split.batches(32, order):
            ids, mask = torch.as_tensor(batch["input_ids"]), torch.as_tensor(batch["attention_mask"])
            additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
            x = model.bert.embeddings(ids, torch.as_tensor(batch["token_type_ids"]))
            for layer in lower:
                x = layer(x, additive)
            cached.append((x, additive, torch.as_tensor(batch["labels"])))
    params = [*top.parameters(), *model.bert.pooler.parameters(), *model.classifier.parameters()]
    optimizer = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.01)
    for k in np.random.default_rng(seed).permutation(len(cached)):
        x, additive, labels = cached[k]
        logits = model.classifier(model.bert.pooler(top(x, additive)))
        loss = torch.nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
