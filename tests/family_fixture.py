"""Tiny random checkpoints of the encoder families, made offline: a tokenizer trained with the
``tokenizers`` library on a small English corpus (byte-level BPE for RoBERTa and XLM-R,
WordPiece for DistilBERT), and a transformers model of the family built from a local config at
that vocabulary's size, saved as a hub directory
(``config.json``, ``model.safetensors``, the tokenizer's files) that a study reads as
``path:<dir>``. Random weights: for structure, cost and the DAG, never for accuracy. XLM-R's own
tokenizer is a SentencePiece unigram; its checkpoint here shares the BPE one (the model's
structure is what is tested)."""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "the",
    "a",
    "cat",
    "dog",
    "man",
    "woman",
    "child",
    "house",
    "car",
    "tree",
    "river",
    "city",
    "sees",
    "likes",
    "runs",
    "walks",
    "reads",
    "writes",
    "big",
    "small",
    "old",
    "new",
    "red",
    "green",
    "happy",
    "sad",
    "quickly",
    "slowly",
    "not",
    "never",
    "always",
    "and",
    "or",
    "but",
    "because",
    "is",
    "was",
    "are",
    "were",
    "has",
    "had",
    "will",
    "would",
    "can",
    "could",
    "today",
    "yesterday",
    "tomorrow",
    "here",
    "there",
)
SIZE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def corpus(n: int = 400, seed: int = 0) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, rng.integers(4, 14))) + "." for _ in range(n)]


def bpe_tokenizer(directory: Path, vocab_size: int = 400):
    """A RoBERTa tokenizer (byte-level BPE, ``<s> </s> <pad> <unk> <mask>``) trained on
    :func:`corpus`, saved in ``directory``."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        corpus(), vocab_size=vocab_size, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    )
    bpe.save_model(str(directory))
    tokenizer = RobertaTokenizerFast(
        vocab=str(directory / "vocab.json"), merges=str(directory / "merges.txt"), model_max_length=64
    )
    tokenizer.save_pretrained(directory)
    return tokenizer


def wordpiece_tokenizer(directory: Path, vocab_size: int = 400):
    """A DistilBERT (BERT uncased) tokenizer, WordPiece trained on :func:`corpus`, saved in
    ``directory``."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import DistilBertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(corpus(), vocab_size=vocab_size, min_frequency=1)
    wordpiece.save_model(str(directory))
    tokenizer = DistilBertTokenizerFast(vocab=str(directory / "vocab.txt"), model_max_length=64)
    tokenizer.save_pretrained(directory)
    return tokenizer


def tiny_checkpoint(directory: Path, family: str, seed: int = 0) -> Path:
    """``directory`` holding a tiny random ``family`` encoder (``roberta``, ``xlm-roberta``,
    ``distilbert`` or ``mobilebert``) with its tokenizer; returns it."""
    import torch
    import transformers

    if family == "mobilebert":  # BERT uncased's WordPiece, as google/mobilebert-uncased
        tokenizer = wordpiece_tokenizer(directory)
        config = transformers.MobileBertConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            embedding_size=16,
            intra_bottleneck_size=16,
            true_hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            num_feedforward_networks=2,
            max_position_embeddings=64,
            pad_token_id=tokenizer.pad_token_id,
            classifier_activation=False,  # as the hub checkpoint
        )
        torch.manual_seed(seed)
        model = transformers.MobileBertModel(config, add_pooling_layer=False)
        model.save_pretrained(directory, safe_serialization=True)
        return directory
    if family == "distilbert":
        tokenizer = wordpiece_tokenizer(directory)
        config = transformers.DistilBertConfig(
            vocab_size=len(tokenizer), dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64
        )
        torch.manual_seed(seed)
        transformers.DistilBertModel(config).save_pretrained(directory, safe_serialization=True)
        return directory
    tokenizer = bpe_tokenizer(directory)
    config_cls, model_cls = {
        "roberta": (transformers.RobertaConfig, transformers.RobertaModel),
        "xlm-roberta": (transformers.XLMRobertaConfig, transformers.XLMRobertaModel),
    }[family]
    config = config_cls(
        vocab_size=len(tokenizer),
        max_position_embeddings=64 + tokenizer.pad_token_id + 1,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **SIZE,
    )
    torch.manual_seed(seed)
    model_cls(config, add_pooling_layer=False).save_pretrained(directory, safe_serialization=True)
    return directory


def qat_with_activations(model, train: dict) -> tuple[int, int]:
    """One epoch of QAT (MSE weights at 4 bits, running min-max activation quantizers) over
    ``train`` in batches of 16: the steps taken and the activation quantizers the model got."""
    from bertq import QuantizationConfig, qat
    from bertq.quantization.activation import ActivationQuantizer

    trained = qat(
        model,
        QuantizationConfig("mse", 4),
        train,
        {"learning_rate": 1e-3, "epochs": 1, "batch_size": 16},
        activations={"estimator": "running_minmax", "batch_size": 8, "batches": 2},
    )
    quantizers = sum(isinstance(m, ActivationQuantizer) for m in trained.modules())
    return trained.bertq_training["steps"], quantizers
