"""Whitespace and control-character cleaning of decoded corpus text, in bounded memory.

NFC, unified newlines, single spaces, at most one blank line, control characters removed (and
counted, so ltm/corpora.py can report them). `clean_stream` gives exactly what
`normalize_whitespace` gives for the joined text, piece by piece, cutting only where no rule
reaches across the cut — which lets a 200 MB single-line file be cleaned in a few MB. Held
apart from decoding (ltm/encoding.py) and from reading corpora (ltm/corpora.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

# Any whitespace but newline (tabs, NBSP, thin spaces…), except a lone plain space, which is
# already normal: matching every single space made re.sub build a list of tens of millions
# of pieces on a 200 MB corpus (3.5 GB peak).
_SPACES = re.compile(r"[^\S\n]{2,}|[^\S \n]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANKS = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> tuple[str, int]:
    """NFC, unified newlines, single spaces, at most one blank line; returns (text, removed controls)."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text, removed = _CONTROL.subn("", text.replace("\ufeff", ""))
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip(" ") for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip(), removed


def _ordinary(ch: str) -> bool:
    return not ch.isspace() and ch != "\ufeff" and not _CONTROL.match(ch)


def _safe_cut(buffer: str) -> int:
    """Index of the last space/newline that follows an ordinary character (0: none found).

    No step of normalize_whitespace reaches across such a cut: NFC never composes onto a space
    or newline, and runs of spaces, blank lines, CRLF and line ends all stop at the ordinary
    character before it."""
    end = len(buffer)
    for _ in range(64):
        cut = max(buffer.rfind(" ", 0, end), buffer.rfind("\n", 0, end))
        if cut <= 0:
            return 0
        if _ordinary(buffer[cut - 1]):
            return cut
        end = cut
    return 0


def _clean_piece(text: str, first: bool, last: bool, counts: dict) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text, removed = _CONTROL.subn("", text.replace("\ufeff", ""))
    counts["removed"] += removed
    lines = _SPACES.sub(" ", text).split("\n")
    # A piece after a cut continues a line that began before it: only its end may be stripped.
    lines = [lines[0].strip(" ") if first else lines[0].rstrip(" "), *(line.strip(" ") for line in lines[1:])]
    text = _BLANKS.sub("\n\n", "\n".join(lines))
    if first:
        text = text.lstrip()
    return text.rstrip() if last else text


def clean_stream(chunks: Iterable[str], counts: dict) -> Iterator[str]:
    """normalize_whitespace over a stream of text pieces, in bounded memory:
    "".join(clean_stream(chunks, c)) == normalize_whitespace("".join(chunks))[0]; removed
    control characters are added to counts["removed"]."""
    carry, first = "", True
    for chunk in chunks:
        buffer = carry + chunk
        cut = _safe_cut(buffer)
        if cut <= 0:
            carry = buffer
            continue
        carry = buffer[cut:]
        yield _clean_piece(buffer[:cut], first, False, counts)
        first = False
    yield _clean_piece(carry, first, True, counts)
