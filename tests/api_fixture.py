"""A tiny random ``BertForSequenceClassification`` saved as the pipeline's fine-tune job saves one,
for the tests of the Python API (``bertq.quantize``, ``bertq.adaround``, ``bertq.qat``)."""

import torch

CONFIG = dict(
    vocab_size=60,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=32,
    num_labels=3,
)


def random_classifier(path):
    """``(path, model)``: the model (seed 0) in eval mode, saved in ``path``."""
    import transformers

    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(transformers.BertConfig(**CONFIG)).eval()
    model.save_pretrained(path)
    return path, model
