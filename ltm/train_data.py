"""What `ltm train` trains on: corpus names → sources → held-out split → token blocks, losing no token.

Data path: corpus text → held-out tail split off → tokenised in bounded pieces → one token
stream (or whole documents, `training.documents`) → cut into blocks of `max_length` (the last
block shorter, never dropped) → a weighted mixture repeats each corpus's blocks. trl's default
`bfd` packing truncates each example to `max_length` and silently dropped about half of chunked
text in our measurements, so we pack ourselves and hand trl pre-tokenised blocks. Kept apart
from the training run (ltm/train.py) because `ltm estimate` counts steps from the same blocks.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from . import corpora
from .errors import LtmError


@dataclass
class Source:
    """What one adapter is trained on: one corpus, or a named weighted mixture."""

    name: str
    parts: list[tuple[corpora.Corpus, float]]  # (corpus, weight); weight = relative passes

    @property
    def sha256(self) -> str:
        blob = json.dumps([(c.sha256, w) for c, w in self.parts])
        return self.parts[0][0].sha256 if len(self.parts) == 1 and self.parts[0][1] == 1 else hashlib.sha256(blob.encode()).hexdigest()


def split_heldout(text: str, fraction: float) -> tuple[str, str]:
    """Keep the last `fraction` of the text (cut at a paragraph break) out of training."""
    if fraction <= 0 or len(text) < 200:
        return text, ""
    target = int(len(text) * (1 - fraction))
    cut = text.rfind("\n\n", 0, target)
    if cut < len(text) * (1 - 2 * fraction):
        cut = text.rfind(" ", 0, target)
    cut = cut if cut > 0 else target
    return text[:cut], text[cut:].lstrip()


def pack(ids: list[int], block: int) -> list[list[int]]:
    """Cut a token stream into blocks of `block` tokens; the remainder is its own shorter block."""
    return [ids[i:i + block] for i in range(0, len(ids), block)]


class Block(list):
    """One training sequence of token ids holding whole documents side by side; `lengths` are
    their token counts, from which the trainer restarts positions and keeps each document's
    attention to itself."""

    def __init__(self) -> None:
        super().__init__()
        self.lengths: list[int] = []


def split_documents(text: str, mode: str) -> list[str]:
    """The documents of `training.documents` mode: lines, or blank-line-separated paragraphs."""
    parts = text.splitlines() if mode == "lines" else re.split(r"\n[ \t]*\n", text)
    return [part.strip() for part in parts if part.strip()]


def pack_documents(documents: list[list[int]], block: int) -> list[Block]:
    """Whole documents, in order, into blocks of at most `block` tokens.

    A short corpus of independent notes trained as one stream teaches each note in the context
    of the notes before it; a scene is read alone from position 0. Packed this way (with the
    trainer's per-document positions and attention) each note is read the way it is tested.
    Measured on the syllogism corpus: docs/benchmarks.md. A document longer than a block is cut
    into block-sized pieces, each its own document."""
    out: list[Block] = []
    current = Block()
    for ids in documents:
        for piece in pack(ids, block):
            if len(current) + len(piece) > block:
                out.append(current)
                current = Block()
            current.extend(piece)
            current.lengths.append(len(piece))
    if current:
        out.append(current)
    return out


def mixture_blocks(streams: list[tuple[list[list[int]], float]]) -> list[list[int]]:
    """Weighted mixture: weight = relative passes, the smallest weight is one full pass.

    {a: 1, b: 2.5} → every block of a once, every block of b twice plus half of them once
    more. So every corpus in a mixture is trained on completely at least once."""
    smallest = min(w for _, w in streams)
    out: list[list[int]] = []
    for blocks, weight in streams:
        passes = weight / smallest
        whole = int(passes)
        out.extend(blocks * whole)
        out.extend(blocks[: round((passes - whole) * len(blocks))])
    return out


def load_sources(config, names: list[str]) -> list[Source]:
    """Resolve names (corpus names, mixture names, or paths) to training sources."""
    shelf = config.corpora_root
    sources = []
    for name in names:
        if name in config.corpora.mixtures:
            weights = config.corpora.mixtures[name]
            paths = corpora.select(shelf, list(weights))
            parts = [(corpora.read_corpus(p), w) for p, w in zip(paths, weights.values(), strict=True)]
            sources.append(Source(name, parts))
        else:
            corpus = corpora.read_corpus(corpora.resolve(shelf, [name])[0])
            sources.append(Source(corpus.name, [(corpus, 1.0)]))
    for source in sources:
        for corpus, _ in source.parts:
            if not corpus.text.strip():
                raise LtmError(f"{corpus.path}: corpus has no readable text — " +
                               (corpus.warnings[0] if corpus.warnings else "add .txt or .md files"))
    return sources


def training_blocks(config, source: Source, tokenizer) -> tuple[list[list[int]], list[dict], dict[str, str]]:
    """The sequences one pass trains on (every token kept), what each corpus gave, and the held-out text.

    Also what `ltm estimate` counts steps from, so the estimate and the run agree."""
    block = config.training.max_length
    streams, part_info, heldout = [], [], {}
    for corpus, weight in source.parts:
        train_text, heldout_text = split_heldout(corpus.text, config.corpora.heldout_fraction)
        if config.training.documents == "stream":
            ids = corpora.tokenize(train_text, tokenizer)
            tokens_train = len(ids)
            streams.append((pack(ids, block), weight))
        else:
            documents = [corpora.tokenize(d, tokenizer) for d in split_documents(train_text, config.training.documents)]
            tokens_train = sum(len(document) for document in documents)
            streams.append((pack_documents(documents, block), weight))
        heldout[corpus.name] = heldout_text
        part_info.append({"corpus": corpus.name, "path": str(corpus.path), "sha256": corpus.sha256, "weight": weight,
                          "tokens_train": tokens_train, "words": corpus.words, "pages": round(corpus.pages, 2)})
    return mixture_blocks(streams), part_info, heldout
