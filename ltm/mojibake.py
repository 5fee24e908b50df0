"""Undo mojibake: UTF-8 text once mis-read as Mac Roman, cp1252 or cp1251 and saved again.

"Но я думаю" saved that way became "–ù–æ —è –¥—É–º–∞—é" (Mac Roman) or "РќРѕ СЏ РґСѓРјР°СЋ" (cp1251).
Each UTF-8 sequence became a lead character and 1-3 continuation characters, so a regex finds
them and maps them back to their bytes; a repair is made only when the evidence is clear
(`_choose_repair`), and `_Repairer` does the same over a stream, exactly. Kept apart from the
detection of binary data and encodings (ltm/encoding.py), which decides whether to call it.
"""

from __future__ import annotations

import re

# Characters a repaired sequence may decode to: European letters, Greek, Cyrillic,
# punctuation, symbols and emoji. A chance lead+continuation pair in genuine text ("Fuß“",
# "CAFÉ…", "café…»" are valid UTF-8 when re-encoded) decodes to something obscure (NKo,
# Latin Extended-B, CJK, a combining mark) and is left alone.
_PLAUSIBLE = (
    "\u00a0-\u017f\u0192\u0218-\u021b\u0370-\u03ff\u0400-\u045f\u0490\u0491"
    "\u2000-\u206f\u20a0-\u20cf\u2100-\u23ff\u2500-\u27bf\ufe0f\ufeff\U0001f000-\U0001faff"
)


_IMPLAUSIBLE = re.compile(f"[^\x00-\x7f{_PLAUSIBLE}]")


class _Mojibake:
    """Undo one kind of mojibake: UTF-8 bytes that were shown as `codec` characters.

    Each UTF-8 sequence became a lead character followed by 1-3 continuation characters, so a
    regex finds them, and each found sequence is mapped back to its bytes and decoded. The
    mapping is local (a sequence is at most 4 characters), which makes streaming exact.
    """

    def __init__(self, name: str, codec: str, extra: dict[str, int]):
        self.name = name
        self.to_byte = {ch: b for b in range(0x80, 0x100) if (ch := bytes([b]).decode(codec, errors="ignore"))}
        self.to_byte.update(extra)

        def chars(lo: int, hi: int) -> str:
            return "".join(re.escape(ch) for ch, b in sorted(self.to_byte.items()) if lo <= b <= hi)

        cont = chars(0x80, 0xBF)
        self.leads = frozenset(ch for ch, b in self.to_byte.items() if 0xC2 <= b <= 0xF4)
        self._seq = re.compile(
            f"[{chars(0xF0, 0xF4)}][{cont}]{{3}}|[{chars(0xE0, 0xEF)}][{cont}]{{2}}|[{chars(0xC2, 0xDF)}][{cont}]"
        )
        self._suspects = re.compile(f"[{chars(0xC0, 0xFF)}]")
        # For the fast path: each shown character -> the latin-1 character of its byte; latin-1
        # characters this codec never shows -> U+FFFF, so that .encode("latin-1") fails on them.
        self._to_latin1 = {cp: "\uffff" for cp in range(0x80, 0x100)}
        self._to_latin1.update({ord(ch): chr(b) for ch, b in self.to_byte.items()})
        self._cache: dict[str, str] = {}

    def _fix(self, match: re.Match) -> str:
        seq = match.group()
        fixed = self._cache.get(seq)
        if fixed is None:
            try:
                fixed = bytes(self.to_byte[ch] for ch in seq).decode("utf-8")
            except UnicodeDecodeError:
                fixed = seq
            if _IMPLAUSIBLE.search(fixed):
                fixed = seq
            self._cache[seq] = fixed
        return fixed

    def repair(self, text: str) -> str:
        """Repair every plausible sequence in `text`; leave everything else as it is."""
        try:  # fast path, the common case: the whole text is mojibake
            fixed = text.translate(self._to_latin1).encode("latin-1").decode("utf-8")
            if not _IMPLAUSIBLE.search(fixed):
                return fixed
        except UnicodeError:
            pass
        return self._seq.sub(self._fix, text)

    def evidence(self, text: str) -> tuple[int, int, int]:
        """(sequences this repair would fix, characters they span, lead characters it leaves alone).

        In real mojibake every character shown for a byte 0xC0-0xFF starts a sequence; in
        genuine text they are accented letters ("é", "ß") or, for Mac Roman, curly quotes
        and dashes, standing alone. Continuation characters alone ("«", "’") prove nothing.
        """
        fixed = spanned = 0
        for match in self._seq.finditer(text):
            if self._fix(match) != match.group():
                fixed += 1
                spanned += len(match.group())
        return fixed, spanned, len(self._suspects.findall(text)) - fixed


_MOJIBAKES = {
    m.name: m
    for m in (
        # First wins a tie. Python/Windows show cp1252's undefined bytes (and often all of
        # 0x80-0x9F) latin-1 style.
        _Mojibake("cp1252", "cp1252", {chr(b): b for b in range(0x80, 0xA0)}),
        # Python's mac_roman has the pre-1998 "¤" at 0xDB; macOS shows "€" there now.
        _Mojibake("mac-roman", "mac_roman", {"€": 0xDB}),
        # "РџСЂРёРІРµС‚": the classic Russian mojibake.
        _Mojibake("cp1251", "cp1251", {"\x98": 0x98}),
    )
}


def _choose_repair(text: str) -> str | None:
    """The mojibake kind that explains `text`, if one clearly does.

    It must fix at least one sequence, and at least twice as many as the lead characters it
    leaves unexplained. Genuine accented text ("café", "Größe", Mac curly quotes) is full of
    such characters; genuine Russian has none of the cp1252 or Mac Roman kind, so a stray
    mojibake word in it is repaired and nothing else changes. When two kinds qualify (Mac
    Roman "‚Ä¢" for "•" holds the cp1252 pair "Ä¢"), the one explaining more characters wins.
    """
    best, best_spanned = None, 0
    for mojibake in _MOJIBAKES.values():
        fixed, spanned, unexplained = mojibake.evidence(text)
        if fixed and fixed >= 2 * unexplained and spanned > best_spanned:
            best, best_spanned = mojibake.name, spanned
    return best


class _Repairer:
    """Streaming repair: holds back a trailing sequence start until its continuation arrives."""

    def __init__(self, name: str):
        self.mojibake = _MOJIBAKES[name]
        self.carry = ""

    def feed(self, text: str, final: bool = False) -> str:
        text = self.carry + text
        cut = len(text)
        if not final:
            # Only a lead character in the last 3 can start a sequence that runs past the end;
            # no sequence spans a lead character, so cutting just before one is safe.
            for i in range(max(0, len(text) - 3), len(text)):
                if text[i] in self.mojibake.leads:
                    cut = i
                    break
        self.carry = text[cut:]
        return self.mojibake.repair(text[:cut])


def repair_mojibake(text: str) -> tuple[str, str | None]:
    """(repaired text, "mac-roman"/"cp1252"/"cp1251") or (text, None) when it is not mojibake."""
    name = _choose_repair(text)
    if name is None:
        return text, None
    return _MOJIBAKES[name].repair(text), name
