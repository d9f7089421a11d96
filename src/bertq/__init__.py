"""bertq: a reproducible benchmark pipeline for quantizing BERT-family models."""
__version__ = "0.1.0"
