"""The integer inference engine: quantized linear modules that run bertq's CPU kernels, and the
whole BERT encoder on them."""
