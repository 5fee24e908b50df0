"""Discover, decode, clean, count and hash corpora.

A corpus is one file or one folder (a book split into chapters) under a shelf folder such
as `corpora/`. Files are decoded faithfully (see `encoding.py`), whitespace is normalised,
and nothing is dropped silently: every skipped file and every removed control character is
reported. The sha256 of the cleaned text identifies the corpus in adapter hashes.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .encoding import BinaryFileError, iter_decode_file
from .errors import LtmError

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text", ".rst"}
WORDS_PER_PAGE = 500  # one A4 page of prose
_SLICE = 1 << 22  # characters per slice when counting or hashing big texts
_SHELF_SKIP = re.compile(r"^(readme|license|licence)(\.\w+)?$", re.IGNORECASE)
# Any whitespace but newline (tabs, NBSP, thin spaces…), except a lone plain space, which is
# already normal: matching every single space made re.sub build a list of tens of millions
# of pieces on a 200 MB corpus (3.5 GB peak).
_SPACES = re.compile(r"[^\S\n]{2,}|[^\S \n]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANKS = re.compile(r"\n{3,}")


@dataclass
class SourceFile:
    path: Path
    encoding: str = ""
    chars: int = 0
    skipped: str | None = None  # why the file was not used, if it was not


@dataclass
class Corpus:
    name: str
    path: Path
    files: list[SourceFile]
    text: str
    warnings: list[str] = field(default_factory=list)
    tokens: int | None = None

    @property
    def chars(self) -> int:
        return len(self.text)

    @functools.cached_property
    def words(self) -> int:
        # In slices: `text.split()` on a 200 MB corpus builds a 40-million-item list (GBs).
        total, previous_ends_in_word = 0, False
        for start in range(0, len(self.text), _SLICE):
            piece = self.text[start:start + _SLICE]
            total += len(piece.split())
            if previous_ends_in_word and piece[:1] and not piece[0].isspace():
                total -= 1  # a word cut in two by the slice boundary
            previous_ends_in_word = bool(piece) and not piece[-1].isspace()
        return total

    @property
    def pages(self) -> float:
        return self.words / WORDS_PER_PAGE

    @functools.cached_property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for start in range(0, len(self.text), _SLICE):  # no second full-size copy as bytes
            digest.update(self.text[start:start + _SLICE].encode("utf-8"))
        return digest.hexdigest()

    @property
    def encodings(self) -> list[str]:
        return sorted({f.encoding for f in self.files if f.encoding and not f.skipped})

    def summary(self) -> dict:
        return {
            "corpus": self.name,
            "path": str(self.path),
            "files": sum(1 for f in self.files if not f.skipped),
            "skipped_files": [{"path": str(f.path), "reason": f.skipped} for f in self.files if f.skipped],
            "encodings": self.encodings,
            "chars": self.chars,
            "words": self.words,
            "tokens": self.tokens,
            "pages": round(self.pages, 2),
            "sha256": self.sha256,
            "warnings": self.warnings,
        }


def normalize_whitespace(text: str) -> tuple[str, int]:
    """NFC, unified newlines, single spaces, at most one blank line; returns (text, removed controls)."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text, removed = _CONTROL.subn("", text.replace("\ufeff", ""))
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip(" ") for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip(), removed


def _natural_key(path: Path):
    """Sort chapter2 before chapter10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def _files_of(path: Path) -> list[Path]:
    """Every regular file under a corpus folder, following no symlink loops, sorted naturally."""
    found, seen = [], set()
    for root, dirs, files in os.walk(path, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / f for f in files if not f.startswith("."))
    return sorted(found, key=_natural_key)


def read_file(path: Path) -> tuple[SourceFile, str]:
    """Decode one file; return its record and text ('' when skipped, with the reason)."""
    record = SourceFile(path=path)
    suffix = path.suffix.lower()
    if suffix in {".pdf", ".epub"}:
        from .documents import extract_document

        try:
            text, record.encoding = extract_document(path)
        except LtmError as exc:
            record.skipped = str(exc)
            return record, ""
    elif suffix and suffix not in TEXT_SUFFIXES and not _looks_textual_name(path):
        record.skipped = f"not a text file type ({suffix}); rename it .txt or .md to include it"
        return record, ""
    else:
        try:
            record.encoding, chunks = iter_decode_file(path)
            text = "".join(chunks)
        except BinaryFileError as exc:
            record.skipped = f"binary file skipped: {exc}"
            return record, ""
        except PermissionError:
            record.skipped = "permission denied — make the file readable to include it"
            return record, ""
        except OSError as exc:
            record.skipped = f"could not be read ({exc.strerror or exc}) — check the file"
            return record, ""
    if not text.strip():
        record.skipped = "empty file"
        return record, ""
    record.chars = len(text)
    return record, text


def _looks_textual_name(path: Path) -> bool:
    # Files like notes.log or chat.csv are still text a person may want to train on.
    return path.suffix.lower() in {".log", ".csv", ".tsv", ".org", ".tex", ".html", ".htm", ".json", ".jsonl"}


def read_corpus(path: Path, name: str | None = None) -> Corpus:
    """Read a corpus (file or folder) into one cleaned text; files joined by a blank line."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise LtmError(f"{path}: no such file or folder — check the corpus path")
    files = _files_of(path) if path.is_dir() else [path]
    records, parts, warnings = [], [], []
    removed_total = 0
    for file in files:
        record, text = read_file(file)
        records.append(record)
        if record.skipped:
            warnings.append(f"{file}: {record.skipped}")
            continue
        cleaned, removed = normalize_whitespace(text)
        removed_total += removed
        parts.append(cleaned)
        if "repaired" in record.encoding:
            warnings.append(f"{file}: {record.encoding}")
    if removed_total:
        warnings.append(f"{path}: removed {removed_total} control character(s)")
    corpus_name = name or (path.stem if path.is_file() else path.name)
    return Corpus(name=corpus_name, path=path, files=records, text="\n\n".join(parts), warnings=warnings)


def shelf_entries(shelf: Path) -> list[Path]:
    """The corpora on a shelf: each visible file and sub-folder, README/LICENSE excepted."""
    entries = [
        p for p in shelf.iterdir()
        if not p.name.startswith(".") and not (p.is_file() and _SHELF_SKIP.match(p.name))
    ]
    return sorted(entries, key=_natural_key)


def is_shelf(path: Path) -> bool:
    """A folder holding sub-folders is a shelf of corpora; a folder of files is one corpus (a book)."""
    return path.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())


def discover(paths: list[Path]) -> list[Path]:
    """Expand shelves into their corpora; keep files and book folders as given."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise LtmError(f"{path}: no such file or folder — check the path")
        found.extend(shelf_entries(path) if is_shelf(path) else [path])
    names = [p.stem if p.is_file() else p.name for p in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LtmError(f"two corpora are named {duplicates[0]!r} — rename one (names come from file/folder names)")
    return found


def select(shelf: Path, include: list[str]) -> list[Path]:
    """Corpora of the configured shelf, restricted to `include` names (with a clear error for typos)."""
    if not shelf.is_dir():
        raise LtmError(f"{shelf}: corpora folder does not exist — set corpora.root in the config")
    available = {(p.stem if p.is_file() else p.name): p for p in shelf_entries(shelf)}
    if not include:
        return list(available.values())
    missing = [n for n in include if n not in available]
    if missing:
        import difflib

        hint = difflib.get_close_matches(missing[0], list(available), n=1)
        fix = f"did you mean {hint[0]!r}?" if hint else f"available: {', '.join(available)}"
        raise LtmError(f"corpus {missing[0]!r} is not in {shelf} — {fix}")
    return [available[n] for n in include]


def tokenize(text: str, tokenizer, piece_chars: int = 1 << 16) -> list[int]:
    """Token ids of the whole text, tokenised in bounded pieces cut at paragraph breaks.

    Training and counting both use this, so "tokens trained" and "tokens in the corpus"
    are the same number by construction."""
    ids: list[int] = []
    for piece in chunk_text(text, piece_chars):
        ids.extend(tokenizer(piece, add_special_tokens=False, verbose=False)["input_ids"])
    return ids


def resolve(shelf: Path, names: list[str]) -> list[Path]:
    """Corpus names on the shelf or paths, in the order given."""
    return [Path(n) if Path(n).exists() else select(shelf, [n])[0] for n in names]


def count_tokens(text: str, tokenizer) -> int:
    return len(tokenize(text, tokenizer))


def chunk_text(text: str, max_chars: int) -> list[str]:
    """Split text into pieces of at most `max_chars`, at paragraph, then sentence, then word
    boundaries where possible. ``"".join(chunks) == text`` always: no character is lost."""
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    chunks: list[str] = []
    start = 0
    n = len(text)
    while start < n:
        end = min(start + max_chars, n)
        if end < n:
            window = text[start:end]
            for sep in ("\n\n", "\n", ". ", " "):
                cut = window.rfind(sep)
                if cut > 0:
                    end = start + cut + len(sep)
                    break
        chunks.append(text[start:end])
        start = end
    return chunks
