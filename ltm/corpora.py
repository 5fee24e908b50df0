"""Discover, decode, clean, count and hash corpora.

A corpus is one file or one folder (a book split into chapters) under a shelf folder such
as `corpora/`. The configured `corpora.root` is always a shelf, even when it holds only files
(`corpora_of`): `ltm corpora`, `ltm train`, `ltm estimate` and the sweep all list it that way. Files are decoded faithfully (see `encoding.py`), whitespace is normalised (`textclean.py`),
and nothing is dropped silently: every skipped file and every removed control character is
reported. The sha256 of the cleaned text identifies the corpus in adapter hashes.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .encoding import BinaryFileError, detect_binary, iter_decode_file
from .errors import LtmError
from .textclean import clean_stream, normalize_whitespace  # noqa: F401

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text", ".rst"}
WORDS_PER_PAGE = 500  # one A4 page of prose
_KEEP_CHARS = 1 << 25  # a corpus up to this many characters keeps its text after counting
_SHELF_SKIP = re.compile(r"^(readme|license|licence)(\.\w+)?$", re.IGNORECASE)


@dataclass
class SourceFile:
    path: Path
    encoding: str = ""
    chars: int = 0
    skipped: str | None = None  # why the file was not used, if it was not


@dataclass
class Corpus:
    """A corpus, counted and hashed in one streaming pass over its files. `text` is kept for
    corpora up to _KEEP_CHARS characters; a bigger one is read again only when asked for it,
    so `ltm corpora --no-tokens` on a 200 MB file holds a few MB, not the file."""

    name: str
    path: Path
    files: list[SourceFile]
    chars: int
    words: int
    sha256: str
    warnings: list[str] = field(default_factory=list)
    tokens: int | None = None
    _text: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        if self._text is None:  # too big to keep while counting: read it again, now that it is needed
            stats = _Stats(keep_chars=None)
            for piece in _pieces([f.path for f in self.files if not f.skipped], [], [], {"removed": 0}):
                stats.feed(piece)
            if stats.digest.hexdigest() != self.sha256:
                raise LtmError(f"{self.path}: the corpus changed while ltm was reading it — run the same command again")
            self._text = stats.text()
        return self._text

    @property
    def pages(self) -> float:
        return self.words / WORDS_PER_PAGE

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


class _Stats:
    """Characters, words and sha256 of a text fed piece by piece (and the text, while it is small)."""

    def __init__(self, keep_chars: int | None):
        self.chars = self.words = 0
        self.digest = hashlib.sha256()
        self.keep_chars = keep_chars
        self.parts: list[str] | None = []
        self._in_word = False

    def feed(self, piece: str) -> None:
        if not piece:
            return
        self.chars += len(piece)
        self.digest.update(piece.encode("utf-8"))
        words = len(piece.split())
        if self._in_word and not piece[0].isspace():
            words -= 1  # a word cut in two by the piece boundary
        self.words += words
        self._in_word = not piece[-1].isspace()
        if self.parts is not None:
            self.parts.append(piece)
            if self.keep_chars is not None and self.chars > self.keep_chars:
                self.parts = None  # too big to keep: Corpus.text reads it again when needed

    def text(self) -> str | None:
        return None if self.parts is None else "".join(self.parts)


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


def _open_file(path: Path) -> tuple[SourceFile, Iterable[str]]:
    """A file's record and its decoded text as a stream of pieces (none, with the reason, when skipped)."""
    record = SourceFile(path=path)
    suffix = path.suffix.lower()
    if suffix in {".pdf", ".epub"}:
        from .documents import extract_document

        try:
            text, record.encoding = extract_document(path)
        except LtmError as exc:
            record.skipped = str(exc)
            return record, ()
        return record, (text,)
    if suffix and suffix not in TEXT_SUFFIXES and not _looks_textual_name(path):
        # Rename advice only for what may be text: an ELF, an image or a .docx stays unreadable as .txt.
        binary = _sniff_binary(path)
        record.skipped = (f"binary file skipped: {binary}" if binary
                          else f"not a text file type ({suffix}); rename it .txt or .md to include it")
        return record, ()
    try:
        record.encoding, chunks = iter_decode_file(path)
    except BinaryFileError as exc:
        record.skipped = f"binary file skipped: {exc}"
        return record, ()
    except PermissionError:
        record.skipped = "permission denied — make the file readable to include it"
        return record, ()
    except OSError as exc:
        if path.is_symlink() and not path.exists():  # "No such file" about a file that is listed is puzzling
            record.skipped = f"a link to a missing file ({os.readlink(path)}) — fix or remove the link"
        else:
            record.skipped = f"could not be read ({exc.strerror or exc}) — check the file"
        return record, ()
    return record, chunks


def _sniff_binary(path: Path) -> str | None:
    """Why the start of the file is not text (encoding.detect_binary), or None; unreadable: None."""
    try:
        with open(path, "rb") as handle:
            return detect_binary(handle.read(1 << 16))
    except OSError:
        return None


def _read_errors(path: Path, chunks: Iterable[str]) -> Iterator[str]:
    try:
        yield from chunks
    except OSError as exc:  # the file was opened but failed part-way (a bad disk, a vanished mount)
        raise LtmError(f"{path}: reading failed part-way ({exc.strerror or exc}) — check the file and disk, "
                       "then run the same command again") from exc


def read_file(path: Path) -> tuple[SourceFile, str]:
    """Decode one file; return its record and text ('' when skipped, with the reason)."""
    record, chunks = _open_file(path)
    text = "".join(_read_errors(path, chunks))
    if not record.skipped and not text.strip():
        record.skipped = "empty file"
    record.chars = 0 if record.skipped else len(text)
    return record, "" if record.skipped else text


def _pieces(files: list[Path], records: list[SourceFile], warnings: list[str], counts: dict) -> Iterator[str]:
    """The cleaned corpus text, piece by piece: each file cleaned, files joined by a blank line
    (exactly "\n\n".join(normalize_whitespace(file text) for every file not skipped)).
    Fills `records` and `warnings` as it goes."""
    started = False  # a file has been included: the next one is separated by a blank line
    for file in files:
        record, chunks = _open_file(file)
        records.append(record)
        if record.skipped:
            warnings.append(f"{file}: {record.skipped}")
            continue
        raw = {"chars": 0, "blank": True}

        def watched(chunks=chunks, raw=raw, file=file) -> Iterator[str]:
            for chunk in _read_errors(file, chunks):
                raw["chars"] += len(chunk)
                raw["blank"] = raw["blank"] and (not chunk or chunk.isspace())
                yield chunk

        separate = started
        for piece in clean_stream(watched(), counts):
            if piece:  # text only comes from a file that is not blank, so the file is included
                if separate:
                    yield "\n\n"
                    separate = False
                yield piece
        if raw["blank"]:
            record.skipped = "empty file"
            warnings.append(f"{file}: {record.skipped}")
            continue
        if separate:
            yield "\n\n"  # a file that cleans to nothing still stands between its neighbours
        started = True
        record.chars = raw["chars"]
        if "repaired" in record.encoding:
            warnings.append(f"{file}: {record.encoding}")


def _looks_textual_name(path: Path) -> bool:
    # Files like notes.log or chat.csv are still text a person may want to train on.
    return path.suffix.lower() in {".log", ".csv", ".tsv", ".org", ".tex", ".html", ".htm", ".json", ".jsonl"}


def read_corpus(path: Path, name: str | None = None) -> Corpus:
    """Read a corpus (file or folder) as one cleaned text; files joined by a blank line.
    One streaming pass counts and hashes it (bounded memory however big the files are)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise LtmError(f"{path}: no such file or folder — check the corpus path")
    files = _files_of(path) if path.is_dir() else [path]
    records: list[SourceFile] = []
    warnings: list[str] = []
    counts = {"removed": 0}
    stats = _Stats(keep_chars=_KEEP_CHARS)
    for piece in _pieces(files, records, warnings, counts):
        stats.feed(piece)
    if counts["removed"]:
        warnings.append(f"{path}: removed {counts['removed']} control character(s)")
    corpus_name = name or (path.stem if path.is_file() else path.name)
    return Corpus(name=corpus_name, path=path, files=records, chars=stats.chars, words=stats.words,
                  sha256=stats.digest.hexdigest(), warnings=warnings, _text=stats.text())


def shelf_entries(shelf: Path) -> list[Path]:
    """The corpora on a shelf: each visible file and sub-folder, README/LICENSE excepted."""
    entries = [
        p for p in shelf.iterdir()
        if not p.name.startswith(".") and not (p.is_file() and _SHELF_SKIP.match(p.name))
    ]
    return sorted(entries, key=_natural_key)


def corpora_of(root: Path) -> list[Path]:
    """The corpora of the configured root: always a shelf, one corpus per file or sub-folder.

    The one rule every command reads the root by. A flat folder of files is therefore one corpus
    per file (what "one corpus per file or folder in corpora/" promises), never one book; a book
    is a sub-folder of the root."""
    root = Path(root)
    if not root.is_dir():
        raise LtmError(f"{root}: corpora folder does not exist — set corpora.root in the config"
                       f" (for the real shelf: `ltm shelf --out {root}`, or `ltm overnight`, which lays it out)")
    return shelf_entries(root)


def is_shelf(path: Path) -> bool:
    """A folder holding sub-folders is a shelf of corpora; a folder of files is one corpus (a book)."""
    return path.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())


def _same(a: Path, b: Path | None) -> bool:
    return b is not None and os.path.realpath(a) == os.path.realpath(b)


def discover(paths: list[Path], root: Path | None = None) -> list[Path]:
    """Expand the paths named to `ltm corpora` into corpora: the configured `root` (named or by
    default) by `corpora_of`, as training reads it; another folder with sub-folders is a shelf;
    a file, or a folder of files (a book), is one corpus, as `ltm train PATH` reads it."""
    found: list[Path] = []
    for path in paths or ([Path(root)] if root is not None else []):
        path = Path(path)
        if not path.exists():
            raise LtmError(f"{path}: no such file or folder — check the path")
        if _same(path, root) and path.is_dir():
            found.extend(corpora_of(path))
        else:
            found.extend(shelf_entries(path) if is_shelf(path) else [path])
    names = [p.stem if p.is_file() else p.name for p in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise LtmError(f"two corpora are named {duplicates[0]!r} — rename one (names come from file/folder names)")
    return found


def select(shelf: Path, include: list[str]) -> list[Path]:
    """Corpora of the configured root (`corpora_of`), restricted to `include` names (with a clear error for typos)."""
    available = {(p.stem if p.is_file() else p.name): p for p in corpora_of(shelf)}
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
    """Corpus names on the shelf or paths, in the order given.

    A name with a folder separator or a file suffix that names no corpus is a path the user
    typed: "no such file" says what is wrong, "is not in <root>" would not."""
    return [_resolve_one(shelf, n) for n in names]


def _resolve_one(shelf: Path, name: str) -> Path:
    path = Path(name)
    if path.exists() or path.is_symlink():
        return path
    if "/" in name or os.sep in name or path.suffix.lower() in TEXT_SUFFIXES | {".pdf", ".epub"}:
        entry = Path(shelf) / name  # a file of the root named with its suffix
        if "/" not in name and os.sep not in name and entry in (corpora_of(shelf) if Path(shelf).is_dir() else []):
            return entry
        raise LtmError(f"{name}: no such file or folder — check the path, or name a corpus of {shelf}")
    return select(shelf, [name])[0]


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
