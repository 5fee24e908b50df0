"""Turn the raw bytes of a person's text file into faithful Unicode text.

Books and notes arrive in whatever encoding the machine that last saved them used: UTF-8
(with or without a BOM), UTF-16 from Windows "Unicode" Notepad, cp1251 or KOI8-R from older
Russian systems, cp1252/Latin-1 from Western ones — and sometimes as *mojibake*: UTF-8 text
once mis-read as Mac Roman, cp1252 or cp1251 and re-saved as UTF-8, so that "Но я думаю"
became "–ù–æ —è –¥—É–º–∞—é". A model trained on such text learns garbage, so we detect the
encoding, undo mojibake where the evidence is clear, and refuse data that is not text at
all (a PDF renamed .txt, an image, an archive, a program).

Only the standard library is used (no chardet/ftfy): the cases that matter here are few, and
rules small enough to read are easier to trust and to test than a general detector.

Every decision (binary or not, encoding, mojibake repair) is taken from the first
SAMPLE_BYTES of the data, and all decoding steps are incremental. That is what lets
`iter_decode_file` stream a file of any size in bounded memory and still give exactly the
text `decode_bytes` gives for the same bytes.

This module detects (binary or not, which encoding) and decodes; the mojibake repair it applies
is ltm/mojibake.py (`repair_mojibake` stays importable from here).
"""

from __future__ import annotations

import codecs
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .mojibake import _choose_repair, _Repairer, repair_mojibake  # noqa: F401

SAMPLE_BYTES = 1 << 20  # decisions are made on this much of the start of a file


class BinaryFileError(ValueError):
    """Raised for data that is not text; the message says why (e.g. 'looks like a PDF (starts with %PDF)')."""


@dataclass(frozen=True)
class Decoded:
    """What decode_bytes recovered.

    `encoding` is one of "utf-8", "utf-8-sig", "utf-16-le", "utf-16-be", "cp1251", "koi8-r",
    "cp1252" (Western 8-bit text using its curly quotes/dashes) or "latin-1"; a Unicode one may
    end in " (mojibake via mac-roman|cp1252|cp1251 repaired)", and then `repaired` is True.
    """

    text: str  # the recovered text (not yet whitespace-normalised)
    encoding: str
    repaired: bool


# --------------------------------------------------------------------------- binary data

# File signatures of things people drop into a text folder by mistake. Checked first: a PDF
# or a zip can look like 8-bit text to the statistics below.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF (starts with %PDF)"),
    (b"PK\x03\x04", "a zip archive (ZIP, EPUB, DOCX or ODT; starts with PK)"),
    (b"PK\x05\x06", "an empty zip archive (starts with PK)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ\x90\x00", "a Windows executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O binary"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (DOC, XLS or PPT)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"OggS", "an Ogg audio/video file"),
    (b"fLaC", "a FLAC audio file"),
    (b"RIFF", "a RIFF media file (WAV, AVI or WebP)"),
    # Before the UTF-16 BOM check, which would otherwise claim FF FE.
    (b"\xff\xfe\x00\x00", "UTF-32 text, which is not supported (save it as UTF-8)"),
    (b"\x00\x00\xfe\xff", "UTF-32 text, which is not supported (save it as UTF-8)"),
)
_UTF16_BOMS = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Bytes that never occur in text, except by accident (tab, newline, form feed, CR are fine).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def detect_binary(sample: bytes) -> str | None:
    """Why `sample` (the start of a file) is not text, or None if it may be text.

    Magic numbers catch the common cases with a clear message. Otherwise text has no NUL
    bytes (UTF-16 aside, recognised by its BOM or by NULs on one side of each byte pair) and
    almost no other control bytes, while compressed or random data has about 10% of them.
    """
    for magic, what in _MAGIC:
        if sample.startswith(magic):
            return f"looks like {what}"
    if sample[4:8] == b"ftyp":
        return "looks like an MP4/MOV/HEIC media file (ftyp box)"
    if not sample:
        return None
    for bom, codec in _UTF16_BOMS:
        if sample.startswith(bom):
            return None if _utf16_plausible(sample[2:], codec) else "starts with a UTF-16 byte-order mark but is not UTF-16 text"
    if _utf16_without_bom(sample):
        return None
    n = len(sample)
    nuls = sample.count(0)
    if nuls * 1000 > n:
        return f"contains NUL bytes ({nuls:,} in the first {n:,} bytes), which text files do not"
    controls = n - len(sample.translate(None, _CONTROL_BYTES))
    if controls * 20 > n:
        return f"{controls / n:.0%} of its first {n:,} bytes are control characters"
    return None


def _utf16_plausible(data: bytes, codec: str) -> bool:
    """Strictly decodable in `codec` and almost free of control characters (binary is neither)."""
    try:
        text = codecs.getincrementaldecoder(codec)().decode(data[:65536], final=False)
    except UnicodeDecodeError:
        return False
    return len(_CONTROL_CHARS.findall(text)) * 100 <= len(text)


def _utf16_without_bom(sample: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' for BOM-less UTF-16, recognised by where its NUL bytes sit.

    ASCII characters (and spaces and punctuation in Cyrillic text) have a zero high byte, so in
    UTF-16-LE at least ~10% of the odd-position bytes are NUL and almost no even ones are.
    """
    head = sample[:65536]
    pairs = len(head) // 2
    if not pairs:
        return None
    even, odd = head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0)
    for codec, zeros, others in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros * 10 >= pairs and others * 10 <= zeros and _utf16_plausible(head, codec):
            return codec
    return None


# --------------------------------------------------------------------------- 8-bit Russian or Western

# Russian letter frequencies (%), for telling cp1251 from KOI8-R: the two put the same
# letters at different byte values, so reading one as the other gives a wrong letter mix,
# inverted case ("оПХБЕР" for "Привет") and scrambled letter pairs.
_RU_FREQ = {
    "о": 10.97, "е": 8.45, "а": 8.01, "и": 7.35, "н": 6.70, "т": 6.26, "с": 5.47, "р": 4.73,
    "в": 4.54, "л": 4.40, "к": 3.49, "м": 3.21, "д": 2.98, "п": 2.81, "у": 2.62, "я": 2.01,
    "ы": 1.90, "ь": 1.74, "г": 1.70, "з": 1.65, "б": 1.59, "ч": 1.44, "й": 1.21, "х": 0.97,
    "ж": 0.94, "ш": 0.73, "ю": 0.64, "ц": 0.48, "щ": 0.36, "э": 0.32, "ф": 0.26, "ъ": 0.04,
    "ё": 0.2, "і": 0.5, "ї": 0.1, "є": 0.1, "ґ": 0.05, "ў": 0.05,
}
_LOG_FREQ = {c: math.log(f / 100) for c, f in _RU_FREQ.items()}
_LOG_RARE = math.log(0.0001)  # other Cyrillic letters (Ђ, Ј, Љ…): what a wrong decoding produces
_RU_BIGRAMS = frozenset(
    "ст но то на ен ов ни ра во ко пр по ал ер ос ре не ли ет ка ом ва ор ан ол ел от ть го "
    "ак ле ин ес ло ла ит ат де ри та мо ве ти ны ми ог ам ем ар ки ск тр ой ий ый ая ие ся "
    "ль ед ма ег ру да ую ду ум аю ме ня ое ее ви за ил ну ас ых их чт бы вы се же ча чи сл "
    "св сп ку ту ек од до вс об бо ди сь ей зн ок ук яв ят уж ша ще ещ".split()
)
# Spelling rules: no word starts with ь/ъ/ы, no ь/ъ after a vowel, no жы/шю/чя/щы…
_RU_IMPOSSIBLE = re.compile(r"\b[ьъы]|[аеёиоуыэюяьъй][ьъ]|[жшчщ][ыяю]")
_RU_PUNCT = frozenset("«»—–…№„“”‘’\u00a0")
_WORD = re.compile(r"[^\W\d_]+")
_CYR_WORD = re.compile(r"[\u0400-\u04ff]+")
_CP1252_ONLY = re.compile(rb"[\x80\x82-\x8c\x8e\x91-\x9c\x9e\x9f]")  # bytes where cp1252 differs from latin-1


def _cyrillic_share(text: str) -> float:
    """Share of non-ASCII characters that are letters of all-Cyrillic words.

    Russian decodes (as cp1251 or KOI8-R) to whole Cyrillic words; accented Western text read
    as cp1251 gives a stray Cyrillic letter inside a Latin word ("cafй"), which does not count.
    """
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if not non_ascii:
        return 0.0
    letters = sum(len(w) for w in _WORD.findall(text) if _CYR_WORD.fullmatch(w))
    return letters / non_ascii


def _russian_score(text: str) -> float:
    """Log-likelihood-like plausibility of `text` as Russian: letters, case shape, letter pairs, odd symbols."""
    score = 0.0
    for word in _CYR_WORD.findall(text):
        if word.islower():
            score += math.log(0.8)
        elif word.istitle():
            score += math.log(0.15)
        elif word.isupper():
            score += math.log(0.2)
        else:  # "пРИВЕТ": case flipping inside a word is what a wrong code page looks like
            score += math.log(0.0001)
        low = word.lower()
        score += 2 * sum(low[i : i + 2] in _RU_BIGRAMS for i in range(len(low) - 1))
        score -= 5 * len(_RU_IMPOSSIBLE.findall(low))
    for char, n in Counter(text.lower()).items():
        if "\u0400" <= char <= "\u04ff":
            score += n * _LOG_FREQ.get(char, _LOG_RARE)
        elif char >= "\x80" and char not in _RU_PUNCT:  # box drawing, "Ј", U+FFFD…
            score += n * math.log(0.00001)
    return score


def _guess_8bit(sample: bytes) -> tuple[str, str]:
    """(decoder, label) for data that is not UTF-8/16: cp1251 or KOI8-R for Russian, else cp1252/latin-1."""
    head = sample[:65536]
    as_cp1251 = head.decode("cp1251", errors="replace")
    if _cyrillic_share(as_cp1251) >= 0.5:
        if _russian_score(head.decode("koi8_r")) > _russian_score(as_cp1251):
            return "koi8-r", "koi8-r"
        return "cp1251", "cp1251"
    # Western 8-bit text. cp1252 is a superset of latin-1's printable characters, and Windows
    # files use its curly quotes and dashes in 0x80-0x9F (latin-1 would make them control
    # characters), so decode as cp1252; say "latin-1" when the two cannot differ.
    return "cp1252x", ("cp1252" if _CP1252_ONLY.search(sample) else "latin-1")


class _Charmap:
    """Stateless 8-bit decoder with the incremental-decoder interface."""

    def __init__(self, table: str):
        self.table = table

    def decode(self, data: bytes, final: bool = False) -> str:
        return codecs.charmap_decode(data, "strict", self.table)[0]


# cp1252 with its 5 undefined bytes read latin-1 style (as U+0081 etc.), so every byte decodes.
_CP1252X = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))


def _decoder(codec: str):
    """An incremental decoder; undecodable bytes become U+FFFD rather than failing a whole book."""
    if codec == "cp1252x":
        return _Charmap(_CP1252X)
    return codecs.getincrementaldecoder(codec)(errors="replace")


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class _Plan:
    codec: str  # decoder name for _decoder
    skip: int  # BOM bytes to drop
    label: str
    repair: str | None


def _plan(sample: bytes, complete: bool) -> _Plan:
    """Decide how to decode, from the start of the data (`complete`: the sample is all of it)."""
    if not sample:
        return _Plan("utf-8", 0, "utf-8", None)
    reason = detect_binary(sample)
    if reason:
        raise BinaryFileError(reason)
    if sample.startswith(codecs.BOM_UTF8):
        codec, skip, label = "utf-8", 3, "utf-8-sig"
    elif sample.startswith(codecs.BOM_UTF16_LE):
        codec, skip, label = "utf-16-le", 2, "utf-16-le"
    elif sample.startswith(codecs.BOM_UTF16_BE):
        codec, skip, label = "utf-16-be", 2, "utf-16-be"
    elif utf16 := _utf16_without_bom(sample):
        codec, skip, label = utf16, 0, utf16
    else:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
            codec, skip, label = "utf-8", 0, "utf-8"
        except UnicodeDecodeError:
            # Mojibake is a UTF-8 phenomenon: 8-bit text is taken as it is.
            codec, label = _guess_8bit(sample)
            return _Plan(codec, 0, label, None)
    repair = _choose_repair(_decoder(codec).decode(sample[skip:], complete))
    if repair:
        label += f" (mojibake via {repair} repaired)"
    return _Plan(codec, skip, label, repair)


def _decode_stream(plan: _Plan, chunks: Iterable[bytes]) -> Iterator[str]:
    """Decode byte chunks (BOM already dropped) into text pieces, repairing mojibake if planned."""
    decoder = _decoder(plan.codec)
    repairer = _Repairer(plan.repair) if plan.repair else None
    at_start = True

    def emit(piece: str) -> str:
        nonlocal at_start
        if at_start and piece:
            at_start = False
            if piece[0] == "\ufeff":  # a second BOM, or one that was itself mojibake ("ï»¿")
                piece = piece[1:]
        return piece

    for chunk in chunks:
        text = decoder.decode(chunk, False)
        if repairer:
            text = repairer.feed(text)
        if text := emit(text):
            yield text
    text = decoder.decode(b"", True)
    if repairer:
        text = repairer.feed(text, final=True)
    if text := emit(text):
        yield text


def decode_bytes(data: bytes) -> Decoded:
    """Decode a whole file's bytes; raises BinaryFileError for data that is not text."""
    plan = _plan(data[:SAMPLE_BYTES], complete=len(data) <= SAMPLE_BYTES)
    text = "".join(_decode_stream(plan, [memoryview(data)[plan.skip :]]))
    return Decoded(text=text, encoding=plan.label, repaired=plan.repair is not None)


def iter_decode_file(path, chunk_size: int = 1 << 20) -> tuple[str, Iterator[str]]:
    """Streaming variant of decode_bytes for huge files (e.g. a 200 MB single-line file).

    Detects the encoding (and whether mojibake repair applies) from the first SAMPLE_BYTES,
    then yields text decoded `chunk_size` bytes at a time with incremental decoders, so memory
    stays bounded. Returns (encoding label, iterator); BinaryFileError and OSError are raised
    here, not while iterating. The text is exactly decode_bytes(the file's bytes).text.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, not {chunk_size}")
    file = open(Path(path), "rb")  # closed by chunks() below, or here on error
    try:
        head = file.read(SAMPLE_BYTES)
        following = file.read(chunk_size) if len(head) == SAMPLE_BYTES else b""
        plan = _plan(head, complete=not following)
    except BaseException:
        file.close()
        raise

    def chunks() -> Iterator[bytes]:
        nonlocal following
        with file:
            start = memoryview(head)[plan.skip :]
            for i in range(0, len(start), chunk_size):
                yield start[i : i + chunk_size]
            while following:
                yield following
                following = file.read(chunk_size)

    return plan.label, _decode_stream(plan, chunks())
