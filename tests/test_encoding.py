"""Encoding: every way a person's text file can arrive comes back as the text they wrote."""

import codecs
import random

import pytest

from ltm.encoding import (
    SAMPLE_BYTES,
    BinaryFileError,
    Decoded,
    decode_bytes,
    detect_binary,
    iter_decode_file,
    repair_mojibake,
)

RUSSIAN = (
    "Когда я впервые приехал в этот город, стояла поздняя осень. Дождь шёл третий день подряд, "
    "и улицы казались пустыми. Я снял комнату у пожилой женщины, которая каждое утро поила меня "
    "крепким чаем и рассказывала о своей молодости.\n\n"
    "«Вы, наверное, думаете, что здесь ничего не происходит», — сказала она однажды. "
    "Но я думаю, что в таких местах жизнь просто течёт тише. Ёлка во дворе, №7 на двери… "
    "ИЮНЬ, ЩИ, ЭХО, ЪЕЛ: все буквы алфавита на месте.\n"
)
# KOI8-R has no «», dashes, ellipsis or №: text typed on such systems used ASCII instead.
RUSSIAN_KOI8 = RUSSIAN.translate(str.maketrans({"«": '"', "»": '"', "—": "-", "…": "...", "№": "N"}))
ENGLISH = (
    "It’s the kind of town where nothing happens — or so they say. “Don’t believe it,” she told me, "
    "pouring a second cup of tea. ‘Every house here has a story.’\n"
)
ACCENTED = "Un café crème, s’il vous plaît — naïve façade; Größe und Fuß „Straße“; Ñandú, ¿qué tal? Ærøskøbing.\n"
MARKDOWN = "# Notes\n\n* item one — **bold** and `code`\n* 2 × 3 = 6, 10 €, 5 °C, ±1\n\n> quote “here”\n"
EMOJI = "Great day 😀👍🏽 — thanks! ❤️ 🇷🇺 Привет 🎉\n"


def cp1252_mojibake(text: str) -> str:
    """UTF-8 read as cp1252, undefined bytes kept latin-1 style, as Python and Windows tools do."""
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in text.encode("utf-8"))


def mac_roman_mojibake(text: str) -> str:
    return text.encode("utf-8").decode("mac_roman")


def cp1251_mojibake(text: str) -> str:
    return "".join(bytes([b]).decode("cp1251", errors="ignore") or chr(b) for b in text.encode("utf-8"))


# ------------------------------------------------------------------ plain encodings


@pytest.mark.parametrize("text", [RUSSIAN, ENGLISH, ACCENTED, MARKDOWN, EMOJI])
def test_utf8_round_trips_unchanged(text):
    assert decode_bytes(text.encode("utf-8")) == Decoded(text, "utf-8", False)


def test_utf8_bom_is_dropped_and_reported_as_utf8_sig():
    assert decode_bytes(codecs.BOM_UTF8 + RUSSIAN.encode("utf-8")) == Decoded(RUSSIAN, "utf-8-sig", False)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [RUSSIAN, ENGLISH + EMOJI])
def test_utf16_with_bom_round_trips(codec, text):
    bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
    assert decode_bytes(bom + text.encode(codec)) == Decoded(text, codec, False)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [RUSSIAN, ENGLISH, "a"])
def test_utf16_without_bom_is_recognised_by_its_nul_bytes(codec, text):
    assert decode_bytes(text.encode(codec)) == Decoded(text, codec, False)


@pytest.mark.parametrize("codec", ["cp1251", "koi8-r"])
def test_russian_8bit_prose_round_trips(codec):
    text = RUSSIAN_KOI8 if codec == "koi8-r" else RUSSIAN
    assert decode_bytes(text.encode(codec)) == Decoded(text, codec, False)


@pytest.mark.parametrize("codec", ["cp1251", "koi8-r"])
@pytest.mark.parametrize("word", ["Привет", "привет", "Москва", "ёлка", "сказала", "Ещё раз"])
def test_short_russian_8bit_texts_round_trip(codec, word):
    assert decode_bytes(word.encode(codec)) == Decoded(word, codec, False)


def test_western_8bit_text_uses_cp1252_punctuation():
    assert decode_bytes("Don’t — “quoted” café".encode("cp1252")) == Decoded("Don’t — “quoted” café", "cp1252", False)
    assert decode_bytes("naïve café".encode("latin-1")) == Decoded("naïve café", "latin-1", False)


def test_empty_bytes_are_empty_utf8_text():
    assert decode_bytes(b"") == Decoded("", "utf-8", False)


# ------------------------------------------------------------------ mojibake


def test_mac_roman_mojibake_of_russian_is_repaired():
    broken = "–ù–æ —è –¥—É–º–∞—é"
    assert broken == mac_roman_mojibake("Но я думаю")
    assert repair_mojibake(broken) == ("Но я думаю", "mac-roman")
    assert decode_bytes(broken.encode("utf-8")) == Decoded("Но я думаю", "utf-8 (mojibake via mac-roman repaired)", True)
    assert decode_bytes(mac_roman_mojibake(RUSSIAN).encode("utf-8")).text == RUSSIAN


@pytest.mark.parametrize("text", [RUSSIAN, ENGLISH, "Но я думаю", ENGLISH + RUSSIAN + EMOJI])
def test_cp1252_mojibake_is_repaired(text):
    broken = cp1252_mojibake(text)
    assert repair_mojibake(broken) == (text, "cp1252")
    decoded = decode_bytes(broken.encode("utf-8"))
    assert decoded == Decoded(text, "utf-8 (mojibake via cp1252 repaired)", True)


def test_latin1_style_mojibake_with_c1_controls_is_repaired():
    broken = RUSSIAN.encode("utf-8").decode("latin-1")  # every 0x80-0x9F byte as U+0080-U+009F
    assert repair_mojibake(broken) == (RUSSIAN, "cp1252")


def test_english_curly_quote_mojibake_is_repaired():
    assert repair_mojibake("donâ€™t") == ("don’t", "cp1252")
    assert repair_mojibake("â€œHelloâ€\x9d, she said â€” quietly.") == ("“Hello”, she said — quietly.", "cp1252")


def test_cp1251_mojibake_of_russian_is_repaired():
    assert cp1251_mojibake("Привет") == "РџСЂРёРІРµС‚"
    assert repair_mojibake("РџСЂРёРІРµС‚") == ("Привет", "cp1251")
    assert repair_mojibake(cp1251_mojibake(RUSSIAN)) == (RUSSIAN, "cp1251")


def test_mojibake_bom_at_the_start_is_dropped():
    data = cp1252_mojibake("\ufeff" + ENGLISH).encode("utf-8")
    assert decode_bytes(data) == Decoded(ENGLISH, "utf-8 (mojibake via cp1252 repaired)", True)


def test_mojibake_inside_utf16_is_repaired():
    data = codecs.BOM_UTF16_LE + mac_roman_mojibake(RUSSIAN).encode("utf-16-le")
    assert decode_bytes(data) == Decoded(RUSSIAN, "utf-16-le (mojibake via mac-roman repaired)", True)


def test_mojibake_word_inside_real_russian_is_repaired_and_the_rest_kept():
    text = f"{RUSSIAN} Он написал: {cp1252_mojibake('спасибо')}."
    assert repair_mojibake(text) == (f"{RUSSIAN} Он написал: спасибо.", "cp1252")


def test_repair_keeps_characters_that_the_mojibake_codec_cannot_explain():
    broken = cp1252_mojibake("Но я думаю") + " 😀 ok"  # an emoji typed after the damage
    assert repair_mojibake(broken) == ("Но я думаю 😀 ok", "cp1252")


@pytest.mark.parametrize(
    "text",
    [
        RUSSIAN, ENGLISH, ACCENTED, MARKDOWN, EMOJI,
        "café", "naïve", "Größe", "„Fuß“", "‘Ça va’ said Élodie", "Â la carte", "ÐÑ",
        "Ñ°", "CAFÉ…", "Un café…»", "„Fuß“",  # chance lead+continuation pairs in genuine text
        "Der Buchstabe „Ä“ heißt Umlaut: schön, Größe, Bär.",  # "Ä“" would decode to "ē"
        "– — “ ” ‘ ’ … • ©", "x ≤ y ≥ z ∞ π Ω", "Ü ß ä",
    ],
)
def test_ordinary_text_is_not_altered(text):
    assert repair_mojibake(text) == (text, None)
    decoded = decode_bytes(text.encode("utf-8"))
    assert decoded.text == text and not decoded.repaired


# ------------------------------------------------------------------ binary data


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nstream\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00mimetypeapplication/epub+zip", "zip"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(8), "ELF"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG"),
        (b"GIF89a\x01\x00\x01\x00", "GIF"),
    ],
)
def test_known_binary_formats_are_rejected_with_their_name(data, what):
    assert what in detect_binary(data)
    with pytest.raises(BinaryFileError, match=what):
        decode_bytes(data + b"some text after the header")


def test_pdf_reason_names_the_signature():
    assert detect_binary(b"%PDF-1.4\n") == "looks like a PDF (starts with %PDF)"


def test_random_bytes_are_rejected():
    data = random.Random(1).randbytes(4096)
    assert detect_binary(data)
    with pytest.raises(BinaryFileError):
        decode_bytes(data)


def test_nul_bytes_outside_utf16_mark_binary_data():
    data = b"header\x00\x00\x00\x01\x00\x00\x00" * 50 + b"\x00\x00\xff\x7f" * 30
    assert "NUL" in detect_binary(data)


@pytest.mark.parametrize("text", [RUSSIAN, ENGLISH, ACCENTED, MARKDOWN, EMOJI])
def test_text_in_any_supported_encoding_is_not_binary(text):
    for data in (text.encode("utf-8"), text.encode("utf-16"), text.encode("utf-16-le"), text.encode("utf-16-be")):
        assert detect_binary(data) is None


# ------------------------------------------------------------------ streaming

STREAM_CASES = {  # name: (file bytes, the text they hold)
    "utf-8": ((RUSSIAN + EMOJI).encode("utf-8"), RUSSIAN + EMOJI),
    "utf-8-sig": (codecs.BOM_UTF8 + (ENGLISH + EMOJI).encode("utf-8"), ENGLISH + EMOJI),
    "cp1251": (RUSSIAN.encode("cp1251"), RUSSIAN),
    "koi8-r": (RUSSIAN_KOI8.encode("koi8-r"), RUSSIAN_KOI8),
    "utf-16 bom": ((RUSSIAN + EMOJI).encode("utf-16"), RUSSIAN + EMOJI),
    "utf-16-be no bom": ((RUSSIAN + EMOJI).encode("utf-16-be"), RUSSIAN + EMOJI),
    "mac-roman mojibake": (mac_roman_mojibake(RUSSIAN + EMOJI).encode("utf-8"), RUSSIAN + EMOJI),
    "cp1252 mojibake": (cp1252_mojibake(ENGLISH + RUSSIAN).encode("utf-8"), ENGLISH + RUSSIAN),
    "cp1251 mojibake": (cp1251_mojibake(RUSSIAN).encode("utf-8"), RUSSIAN),
    "partly mojibake": ((RUSSIAN + cp1252_mojibake("спасибо") + "😀").encode("utf-8"), RUSSIAN + "спасибо😀"),
}


@pytest.mark.parametrize("case", sorted(STREAM_CASES))
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 7, 64])
def test_streamed_text_equals_whole_file_text_across_chunk_boundaries(tmp_path, case, chunk_size):
    data, text = STREAM_CASES[case]
    path = tmp_path / "book.txt"
    path.write_bytes(data)
    whole = decode_bytes(data)
    assert whole.text == text
    label, pieces = iter_decode_file(path, chunk_size=chunk_size)
    assert label == whole.encoding
    assert "".join(pieces) == text


def test_streaming_a_file_larger_than_the_detection_sample(tmp_path):
    text = (ENGLISH + RUSSIAN) * (SAMPLE_BYTES // len(ENGLISH + RUSSIAN) + 40)  # ~1.3 MB once repaired
    path = tmp_path / "big.txt"
    path.write_bytes(cp1252_mojibake(text).encode("utf-8"))
    label, pieces = iter_decode_file(path, chunk_size=4093)
    streamed = "".join(pieces)
    assert label == "utf-8 (mojibake via cp1252 repaired)"
    assert streamed == text == decode_bytes(path.read_bytes()).text


def test_streaming_rejects_binary_before_iterating(tmp_path):
    path = tmp_path / "paper.txt"
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 10)
    with pytest.raises(BinaryFileError, match="PDF"):
        iter_decode_file(path)


def test_streaming_an_empty_file_yields_no_text(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    label, pieces = iter_decode_file(path)
    assert (label, "".join(pieces)) == ("utf-8", "")


def test_utf8_is_recognised_when_the_detection_sample_cuts_a_character(tmp_path):
    data = b"a" + ("ж" * (SAMPLE_BYTES // 2 + 10)).encode("utf-8")  # byte SAMPLE_BYTES is mid-"ж"
    assert data[SAMPLE_BYTES] & 0xC0 == 0x80
    path = tmp_path / "long.txt"
    path.write_bytes(data)
    label, pieces = iter_decode_file(path, chunk_size=999)
    assert label == "utf-8" == decode_bytes(data).encoding
    assert "".join(pieces) == data.decode("utf-8")


# ------------------------------------------------------------------ ltm text: what ltm decoded


def _ltm_text(capsys, *args):
    from ltm.cli import main

    code = main(["text", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ltm_text_shows_a_cp1251_file_decoded_and_says_so(tmp_path, capsys):
    from ltm import corpora

    path = tmp_path / "diary.txt"
    path.write_bytes(RUSSIAN.encode("cp1251"))
    code, out, _ = _ltm_text(capsys, path)
    assert code == 0
    header, body = out.split("\n", 1)
    assert header.startswith("# ") and "diary.txt" in header and "cp1251" in header
    assert body == corpora.read_corpus(path).text + "\n"  # exactly the cleaned text ltm trains on
    assert "Когда я впервые приехал" in body


def test_ltm_text_shows_mojibake_repaired_and_names_the_repair(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_bytes(mac_roman_mojibake(RUSSIAN).encode("utf-8"))
    code, out, err = _ltm_text(capsys, path)
    assert code == 0
    header, body = out.split("\n", 1)
    assert "utf-8 (mojibake via mac-roman repaired)" in header
    assert "Но я думаю" in body and "–ù–æ" not in body
    assert "notes.txt" in err  # the repair is also a warning, as in ltm corpora


def test_ltm_text_head_and_out(tmp_path, capsys):
    from ltm import corpora

    path = tmp_path / "a.txt"
    path.write_bytes(cp1251_mojibake(RUSSIAN).encode("utf-8"))
    code, out, _ = _ltm_text(capsys, path, "--head", 1)
    assert code == 0
    assert "cp1251 repaired" in out.splitlines()[0]
    assert out.splitlines()[1:] == [RUSSIAN.splitlines()[0]]
    target = tmp_path / "decoded.txt"
    code, out, _ = _ltm_text(capsys, path, "--out", target)
    assert code == 0
    assert target.read_text(encoding="utf-8") == corpora.read_corpus(path).text
    assert len(out.splitlines()) == 2 and str(target) in out.splitlines()[1]


def test_ltm_text_takes_a_corpus_name_and_a_folder(repo_root, tmp_path, capsys):
    code, out, _ = _ltm_text(capsys, "diary_ru", "--set", f"corpora.root={repo_root / 'corpora'}", "--head", 2)
    assert code == 0
    header = out.splitlines()[0]
    assert "cp1251" in header and "koi8-r" in header  # a folder: each file with its encoding


def test_ltm_text_of_a_missing_file_is_one_line(tmp_path, capsys):
    code, out, err = _ltm_text(capsys, tmp_path / "nope.txt")
    assert code == 2 and err.count("\n") == 1 and "nope.txt" in err
