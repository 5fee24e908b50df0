"""Text from EPUB (standard library) and PDF (optional `pypdf`, `pip install ltm[pdf]`).

Books often come as EPUB or PDF. EPUB is a zip of XHTML chapters, readable with the
standard library in spine order; PDF text extraction needs a real parser, so it is an
optional extra with a clear message when missing.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

from .errors import LtmError


class _TextOf(HTMLParser):
    """Collect visible text; block elements end a paragraph."""

    BLOCKS = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "section", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _html_text(markup: str) -> str:
    parser = _TextOf()
    parser.feed(markup)
    return re.sub(r"\n\s*\n\s*", "\n\n", "".join(parser.parts))


def _epub_text(path: Path) -> str:
    try:
        book = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise LtmError(f"{path}: not a valid EPUB (zip) file — re-export the book") from None
    with book:
        container = book.read("META-INF/container.xml").decode("utf-8", "replace")
        opf_path = re.search(r'full-path="([^"]+)"', container).group(1)
        opf = book.read(opf_path).decode("utf-8", "replace")
        manifest = dict(re.findall(r'<item\b[^>]*?id="([^"]+)"[^>]*?href="([^"]+)"', opf))
        manifest.update({i: h for h, i in re.findall(r'<item\b[^>]*?href="([^"]+)"[^>]*?id="([^"]+)"', opf)})
        spine = re.findall(r'<itemref\b[^>]*?idref="([^"]+)"', opf)
        folder = posixpath.dirname(opf_path)
        chapters = []
        for idref in spine:
            href = manifest.get(idref)
            if href:
                chapters.append(_html_text(book.read(posixpath.join(folder, href)).decode("utf-8", "replace")))
        return "\n\n".join(chapters)


def extract_document(path: Path) -> tuple[str, str]:
    """Return (text, how it was read) for a .pdf or .epub file."""
    suffix = path.suffix.lower()
    if suffix == ".epub":
        try:
            return _epub_text(path), "epub"
        except (KeyError, AttributeError):
            raise LtmError(f"{path}: EPUB without a readable table of contents — re-export the book") from None
    try:
        from pypdf import PdfReader
    except ImportError:
        raise LtmError(f"{path}: reading PDF needs pypdf — run `pip install 'ltm[pdf]'`, or convert it to .txt") from None
    try:
        reader = PdfReader(str(path))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages), "pdf"
    except Exception as exc:  # pypdf raises many types for damaged files
        raise LtmError(f"{path}: could not read PDF ({exc}) — convert it to .txt") from None
