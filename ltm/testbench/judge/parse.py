"""Reads a judge's reply: the 1–10 score and critique of a grade, the winner of a pairwise
comparison. Replies from real models vary ("Score: 7", "**Rating**: 3 out of 10", "7/10 -
good", a bare "8"; "Winner: A", "[[B]]", "Answer A is better"), and what cannot be read
gives no score or a tie rather than a guess."""

from __future__ import annotations

import re

CRITIQUE_CHARS = 300

_NUM = r"(\d{1,3}(?:\.\d+)?)"
_OUT_OF = r"(?:\s*(?:/|out\s+of)\s*(\d+)\b(?!\.\d))"  # "/10", "out of 10"; another scale gives no score
_SCORE_PATTERNS = [
    # "Score: 7", "**Score**: 8.5", "Rating: 3 out of 10", "Grade = 6/10", "Score - 4"
    re.compile(r"\b(?:score|rating|grade)\b\s*\**\s*[:=\-–]?\s*\**\s*" + _NUM + _OUT_OF + "?", re.I),
    # "7/10 - good", "8 out of 10"
    re.compile(r"(?<![\d.])" + _NUM + _OUT_OF, re.I),
    # a reply whose first line is just the number: "8\nGood answer."
    re.compile(r"\A\s*\**\s*" + _NUM + r"\s*\**\s*(?:\n|\Z)"),
]
_LABEL = re.compile(r"^\s*\**\s*(?:critique|reason|explanation|feedback|justification)\s*\**\s*[:\-–]\s*\**\s*", re.I)


def _collapse(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > CRITIQUE_CHARS:
        text = text[: CRITIQUE_CHARS - 1].rstrip() + "…"
    return text


def parse_verdict(text: str) -> tuple[float | None, str]:
    """The 1–10 score and the critique in a judge's reply; score None if absent or out of range."""
    text = text or ""
    for pattern in _SCORE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        value = float(match.group(1))
        scale = match.group(2) if pattern.groups >= 2 else None
        score = value if 1.0 <= value <= 10.0 and scale in (None, "10") else None
        line_start = text.rfind("\n", 0, match.start(1)) + 1
        line_end = text.find("\n", match.end(1))
        line_end = len(text) if line_end < 0 else line_end
        rest = (text[:line_start] + text[line_end:]).strip()
        if not rest:  # "7/10 - good": the critique shares the score's line
            rest = (text[line_start : match.start()] + text[min(match.end(), line_end) : line_end]).strip()
            rest = rest.lstrip("-–—:,.* \t").rstrip("-–—:,* \t")
        return score, _collapse(_LABEL.sub("", rest))
    return None, _collapse(_LABEL.sub("", text.strip()))


_PREF_PATTERNS = [
    re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.I),  # MT-bench style; [[C]] is its tie
    re.compile(r"\b(?:winner|verdict|preferred|better answer|choice)\b\s*\**\s*(?:is)?\s*[:=\-]?\s*\**\s*"
               r"(?:answer|response|assistant|option)?\s*\**\s*\b(A|B|tie)\b", re.I),
    re.compile(r"\b(?:answer|response|assistant|option)\s+(A|B)\b\s+(?:is\s+(?:clearly\s+|slightly\s+|much\s+)?"
               r"(?:better|stronger|preferred|superior|more)|wins)", re.I),
    re.compile(r"\bprefer\s+(?:answer|response|assistant|option)?\s*\b(A|B)\b", re.I),
    re.compile(r"(?:^|\s)(A|B)\s+is\s+(?:clearly\s+|slightly\s+|much\s+)?(?:better|stronger|preferred|superior)\b"),
    re.compile(r"\b(tie|equally\s+good|equally\s+bad|neither|both\s+(?:are\s+)?equal(?:ly)?)\b", re.I),
    re.compile(r"\A\s*\**\s*(A|B)\s*\**\s*[.!]?\s*(?:\n|\Z)"),  # a bare "A" reply
]


def parse_preference(text: str) -> str:
    """"A", "B" or "tie" from a pairwise judge reply; anything unreadable counts as a tie."""
    text = text or ""
    for pattern in _PREF_PATTERNS:
        match = pattern.search(text)
        if match:
            word = match.group(1).strip().lower()
            if word in ("a", "b"):
                return word.upper()
            return "tie"
    return "tie"
