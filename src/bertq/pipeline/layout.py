"""Where every result lives: the one set of path templates the rules fill in.

Report collection does not parse these paths: each result carries its labels (model, task,
seed, method, bits) in its JSON, written by :mod:`bertq.pipeline.jobs`.
"""

FINETUNED = "results/finetuned/{model}/{task}/seed{seed}"
TOKENIZED = "results/tokenized/{tokenizer}/{task}/len{max_length}.safetensors"
TOKENIZED_SPAN = (
    "results/tokenized/{tokenizer}/{task}/len{max_length}-stride{doc_stride}-q{max_query_length}.safetensors"
)
"""A span task's (SQuAD, TyDi QA, NQ) windows: one file per task, tokenizer and window settings."""
QUANTIZED = "results/quantized/{model}/{task}/seed{seed}/{method}/w{bits}"
"""A quantized variant: ``.safetensors`` (codes, scales) and ``.json`` (size, ACE, settings)."""
BEFORE_TUNING = QUANTIZED + ".ptq"
"""A variant before centroid fine-tuning (temporary)."""
FP32 = ("fp32", 32)
"""The (method, bits) label of the unquantized model."""
BASELINE = QUANTIZED.format(model="{model}", task="{task}", seed="{seed}", method=FP32[0], bits=FP32[1])
RANGES = "results/ranges/{model}/{task}/seed{seed}/{method}/w{bits}.json"
"""A variant's calibrated activation ranges (:mod:`bertq.quantization.calibration`), or for a QAT
variant its trained ones."""
RANGES_BEFORE_TUNING = "results/ranges/{model}/{task}/seed{seed}/{method}/w{bits}.ptq.json"
"""A QAT variant's calibrated ranges, where its training starts (kept: training reads them again
when only its hyper-parameters change)."""
CAPTURE = "results/capture/{model}/{task}/seed{seed}"
"""The fp32 model's FFN activations on the first dev sequences: ``.safetensors`` and ``.json``."""
EVALUATED = "results/eval/{model}/{task}/seed{seed}/{method}/w{bits}.json"
THROUGHPUT = "results/throughput/{model}.json"
"""A model's timing: every backend of every timed variant, interleaved in one job (bertq.bench.throughput)."""
TIMED_CHECKPOINT = "results/throughput/checkpoints/{model}/{method}/w{bits}.safetensors"
"""The first task and seed's checkpoint of a timed variant, kept for its model's timing job (the
quantized one may be temporary), so that changing one timed variant requantizes only that one."""
SUMMARY = "results/summary.csv"
THROUGHPUT_TABLE = "results/throughput.csv"
TIDY = "results/tidy.csv"
REPORTS = "reports"
MANIFEST = "reports/all"

LABELS = ("model", "task", "seed", "method", "bits")
"""The labels of a result, in its JSON under ``labels``; ``seed`` and ``bits`` are integers."""
INTEGER_WILDCARDS = ("seed", "bits", "max_length", "doc_stride", "max_query_length")
