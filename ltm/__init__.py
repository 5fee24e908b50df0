"""ltm: which of my texts make a language model reason better?

Train one LoRA/QLoRA adapter per corpus, test each on reasoning scenes and standard
benchmarks, score them, and let Optuna search corpora and mixtures. See README.md.
"""

__version__ = "0.1.0"
