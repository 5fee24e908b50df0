"""Corpora: faithful decoding of real-world files, nothing dropped silently, stable counts."""

import json
import random

import pytest

from ltm import corpora
from ltm.cli import main
from ltm.errors import LtmError

RUSSIAN = "Но я думаю, что завтра будет лучше. Мы пошли в лес за грибами и вернулись поздно вечером."


def test_shipped_shelf_lists_the_ten_sample_corpora(repo_root):
    names = [p.stem if p.is_file() else p.name for p in corpora.discover([repo_root / "corpora"])]
    assert len(names) == 10
    assert "README" not in names


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "utf-16", "utf-8-sig", "utf-8"])
def test_russian_text_is_recovered_from_each_encoding(tmp_path, encoding):
    path = tmp_path / "note.txt"
    path.write_bytes(RUSSIAN.encode(encoding))
    corpus = corpora.read_corpus(path)
    assert corpus.text == RUSSIAN
    assert corpus.files[0].skipped is None


def test_mac_roman_mojibake_is_repaired(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text("Но я думаю".encode().decode("mac_roman"), encoding="utf-8")
    assert path.read_text(encoding="utf-8").startswith("–ù–æ —è")
    corpus = corpora.read_corpus(path)
    assert corpus.text == "Но я думаю"
    assert any("repaired" in w for w in corpus.warnings)


def _cp1252_mojibake(text: str) -> str:
    """What Windows tools make of UTF-8 read as cp1252 (undefined bytes kept as-is)."""
    undefined = (0x81, 0x8D, 0x8F, 0x90, 0x9D)
    return "".join(chr(b) if b in undefined else bytes([b]).decode("cp1252") for b in text.encode("utf-8"))


def test_cp1252_mojibake_is_repaired(tmp_path):
    path = tmp_path / "broken.txt"
    original = "Мы пошли в лес. Don’t worry — it’s fine."
    path.write_text(_cp1252_mojibake(original), encoding="utf-8")
    assert corpora.read_corpus(path).text == original


def test_empty_and_binary_files_are_skipped_with_a_reason(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (book / "01.txt").write_text("Chapter one. A real sentence.")
    (book / "02.txt").write_bytes(b"")
    (book / "03.txt").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nstream\n\x00\x01\x02")
    corpus = corpora.read_corpus(book)
    assert corpus.text == "Chapter one. A real sentence."
    reasons = {f.path.name: f.skipped for f in corpus.files}
    assert reasons["01.txt"] is None
    assert reasons["02.txt"] == "empty file"
    assert "binary" in reasons["03.txt"] and "PDF" in reasons["03.txt"]
    assert len(corpus.warnings) == 2


def test_whitespace_is_normalised_without_losing_words(tmp_path):
    path = tmp_path / "messy.md"
    path.write_bytes("# Title\r\n\r\n\r\n\r\nFirst\tline   here.\u00a0Next\r\nend.\x07\n".encode())
    corpus = corpora.read_corpus(path)
    assert corpus.text == "# Title\n\nFirst line here. Next\nend."
    assert any("control character" in w for w in corpus.warnings)


def test_chapters_are_read_in_natural_order(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    for n in (10, 2, 1):
        (book / f"ch{n}.txt").write_text(f"chapter {n}")
    assert corpora.read_corpus(book).text == "chapter 1\n\nchapter 2\n\nchapter 10"


def test_chunking_keeps_every_character():
    rng = random.Random(0)
    words = ["alpha", "beta", "gamma.", "delta\n", "эпсилон", "\n\n", "ζ", " "]
    text = "".join(rng.choice(words) + " " for _ in range(5000))
    for size in (1, 7, 64, 1000):
        chunks = corpora.chunk_text(text, size)
        assert "".join(chunks) == text
        assert all(0 < len(c) <= size for c in chunks)


def test_sha256_depends_only_on_decoded_content(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(RUSSIAN.encode("cp1251"))
    b.write_bytes(RUSSIAN.encode("utf-8"))
    assert corpora.read_corpus(a).sha256 == corpora.read_corpus(b).sha256


def test_missing_corpus_path_is_a_one_line_error(tmp_path):
    with pytest.raises(LtmError, match="no such file or folder"):
        corpora.discover([tmp_path / "nope"])


def test_cli_lists_corpora_as_json_with_tokens_and_pages(repo_root, capsys):
    assert main(["corpora", str(repo_root / "corpora"), "--json", "--config", str(repo_root / "experiments" / "overnight.yaml")]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["corpus"]: r for r in data["corpora"]}
    assert len(rows) == 10
    diary = rows["diary_ru"]
    assert set(diary["encodings"]) == {"cp1251", "koi8-r"}
    for row in rows.values():
        assert row["tokens"] > row["words"] > 0
        assert row["pages"] == pytest.approx(row["words"] / 500, abs=0.01)
        assert len(row["sha256"]) == 64


def test_cli_error_is_one_line_without_traceback(tmp_path, capsys):
    assert main(["corpora", str(tmp_path / "missing"), "--no-tokens"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "missing" in err


def _epub(path, chapters):
    import zipfile

    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip")
        book.writestr("META-INF/container.xml",
                      '<container><rootfiles><rootfile full-path="OEBPS/content.opf"/></rootfiles></container>')
        items = "".join(f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>' for i in range(len(chapters)))
        spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
        book.writestr("OEBPS/content.opf", f"<package><manifest>{items}</manifest><spine>{spine}</spine></package>")
        for i, text in enumerate(chapters):
            book.writestr(f"OEBPS/c{i}.xhtml", f"<html><head><style>p{{}}</style></head><body><h1>Part {i}</h1><p>{text}</p></body></html>")


def test_epub_chapters_are_read_in_spine_order(tmp_path):
    path = tmp_path / "book.epub"
    _epub(path, ["Первая глава.", "Second chapter &amp; more."])
    corpus = corpora.read_corpus(path)
    assert corpus.text == "Part 0\n\nПервая глава.\n\nPart 1\n\nSecond chapter & more."
    assert corpus.encodings == ["epub"]


def test_pdf_without_pypdf_is_skipped_with_the_install_hint(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pypdf(name, *args, **kwargs):
        if name == "pypdf":
            raise ImportError("no pypdf")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pypdf)
    path = tmp_path / "paper.pdf"
    path.write_bytes(b"%PDF-1.4\n")
    corpus = corpora.read_corpus(path)
    assert corpus.text == ""
    assert "pip install 'ltm[pdf]'" in corpus.files[0].skipped


def test_symlink_loop_in_a_book_folder_is_read_once(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    (book / "ch1.txt").write_text("Only chapter.")
    (book / "loop").symlink_to(book, target_is_directory=True)
    assert corpora.read_corpus(book).text == "Only chapter."


def test_paths_with_spaces_and_cyrillic_names_work(tmp_path):
    shelf = tmp_path / "мои книги"
    (shelf / "Война и мир").mkdir(parents=True)
    (shelf / "Война и мир" / "том 1.txt").write_bytes(RUSSIAN.encode("cp1251"))
    (shelf / "notes here.md").write_text("# Notes\n\nSome text.")
    found = corpora.discover([shelf])
    names = sorted(p.stem if p.is_file() else p.name for p in found)
    assert names == ["notes here", "Война и мир"]
    assert corpora.read_corpus(shelf / "Война и мир").text == RUSSIAN
