"""The shipped scenes load, are reproducible, aim at teaching corpora without copying them,
and a broken scene file is reported as file:line: key: problem — fix, one line per problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ltm.demo import sample_scenes
from ltm.demo.scene_tools import MAX_PIECES, _size
from ltm.demo.scenes_consistency import NEGATED_LEAD
from ltm.demo.teaching import derivable
from ltm.demo.words import NONSENSE_WORDS, UNSEEN_NAMES, UNSEEN_WORDS, plural
from ltm.errors import ConfigError, LtmError
from ltm.scene_yaml import HEADER
from ltm.scenes import MEASURES, VARIANTS, SceneSet, load_scenes

ROOT = Path(__file__).resolve().parents[1]
SCENES = ROOT / "scenes"
LEADS = ("So", "Therefore", "This means that", "It follows that")


@pytest.fixture(scope="module")
def shipped() -> SceneSet:
    return load_scenes(SCENES)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.?!])\s+", text) if s.strip()]


def _first_mentioned(text: str, names: tuple[str, str]) -> str:
    return min(names, key=lambda n: re.search(rf"\b{n}\b", text).start())


# ------------------------------------------------------------------ (a) the shipped scenes
def test_shipped_scenes_load_and_cover_every_measure(shipped):
    items = shipped.items
    assert len(items) >= 40
    assert {s.measure for s in items} == set(MEASURES)
    assert {2, 3, 4} <= {s.steps for s in items if s.measure == "depth"}
    assert {s.variant for s in items if s.measure == "pressure"} == set(VARIANTS) | {None}
    assert {s.kind for s in items} == {"choice", "short", "open"}
    assert any(s.follows for s in items)
    counts = {}
    for s in items:
        counts[s.measure] = counts.get(s.measure, 0) + 1
    assert counts["depth"] >= 40 and counts["pressure"] >= 60 and counts["consistency"] >= 30, counts


def test_every_item_fits_the_tiny_base_context(shipped):
    for s in shipped.items:
        assert _size({"context": shipped.input_text(s), "prompt": "", "choices": s.choices}) <= MAX_PIECES, s.id


def test_depth_items_are_derivable_non_adjacent_and_balanced_against_the_shortcut(shipped):
    """The concluded pair needs >= 2 premises, and half of each step count defeats 'first-named goes first'."""
    by_steps: dict[int, list[bool]] = {}
    for s in shipped.items:
        if not s.id.startswith("depth-tr-"):
            continue
        wrong = next(c for c in s.choices if c != s.answer)
        premises = _sentences(s.context)
        assert derivable(premises, f"So {s.answer}") and not derivable(premises, f"So {wrong}"), s.id
        a, b = re.match(r"(\w+) is \w+ than (\w+)\.", s.answer).groups()
        assert not any(a in p and b in p for p in premises), f"{s.id}: the concluded pair is adjacent"
        assert s.steps >= 2
        by_steps.setdefault(s.steps, []).append(_first_mentioned(s.context, (a, b)) == a)
    assert sorted(by_steps) == [2, 3, 4]
    for steps, shortcut_right in by_steps.items():
        assert len(shortcut_right) == 12 and sum(shortcut_right) == 6, steps


_SINGULAR = {plural(w): w for w in NONSENSE_WORDS + UNSEEN_WORDS} | {w: w for w in NONSENSE_WORDS + UNSEEN_WORDS}
_SYL_FACTS = [  # premise forms of the corpus and of the paraphrase variant
    (r"(?:Every|Each) (\w+) is an? (\w+)", "sub"), (r"All (\w+) are (\w+)", "sub"),
    (r"No (\w+) (?:is an?|are) (\w+)", "disjoint"), (r"There is no (\w+) that is an? (\w+)", "disjoint"),
    (r"(\w+) is not (?:an?|one of the) (\w+)", "not_member"), (r"(\w+) is (?:an?|one of the) (\w+)", "member"),
]


def syllogism_follows(context: str, conclusion: str) -> bool:
    """Whether the categorical premises in `context` entail `conclusion` (other sentences ignored).

    An independent checker for the generated syllogisms: subsets chain, a disjoint pair anywhere
    above two categories keeps them apart, and "N is not a c" passes down to every subcategory of c.
    """
    facts: dict[str, set] = {"sub": set(), "disjoint": set(), "member": set(), "not_member": set()}
    for sentence in _sentences(context):
        for pattern, kind in _SYL_FACTS:
            match = re.fullmatch(pattern + r"\.", sentence)
            if match:
                a, b = match.groups()
                a = _SINGULAR.get(a, a)
                facts[kind].add((a, _SINGULAR.get(b, b)))
                break

    def up(x):
        seen = {x}
        while grown := {b for a, b in facts["sub"] if a in seen} - seen:
            seen |= grown
        return seen

    def apart(x, y):
        return any((p, q) in facts["disjoint"] or (q, p) in facts["disjoint"] for p in up(x) for q in up(y))

    for pattern, verdict in [(r"all (\w+) are (\w+)", lambda a, b: _SINGULAR[b] in up(_SINGULAR[a])),
                             (r"no (\w+) are (\w+)", lambda a, b: apart(_SINGULAR[a], _SINGULAR[b])),
                             (r"(\w+) is not an? (\w+)", lambda n, c: any(apart(x, c) for m, x in facts["member"] if m == n)
                              or any(z in up(c) for m, z in facts["not_member"] if m == n)),
                             (r"(\w+) is an? (\w+)", lambda n, c: any(c in up(x) for m, x in facts["member"] if m == n))]:
        match = re.fullmatch(pattern + r"\.", conclusion)
        if match:
            return verdict(*match.groups())
    raise AssertionError(f"not a syllogism conclusion: {conclusion!r}")


def test_syllogism_items_follow_from_their_premises_and_are_balanced(shipped):
    """Each syllogism item's answer is entailed and its other choice is not; half of each form is negative."""
    polarity: dict[tuple, list[bool]] = {}
    for s in shipped.items:
        if "syllogisms" not in s.tags or s.kind != "choice" or s.variant == "distorted":
            continue
        wrong = next(c for c in s.choices if c != s.answer)
        # "It is false that <choice>": the right choice is the one that does not follow
        held, denied = (wrong, s.answer) if s.prompt == NEGATED_LEAD else (s.answer, wrong)
        assert syllogism_follows(s.context, held) and not syllogism_follows(s.context, denied), s.id
        negative = " not " in held or held.startswith("no ")
        polarity.setdefault((s.measure, s.steps), []).append(negative)
    assert {("depth", 1), ("depth", 2), ("pressure", None), ("consistency", None)} <= set(polarity)
    for key, negatives in polarity.items():
        assert abs(sum(negatives) - len(negatives) / 2) <= len(negatives) / 6, (key, sum(negatives), len(negatives))


def test_pressure_variants_keep_the_clean_answer_and_break_the_shortcut(shipped):
    index = shipped.by_id()
    variants = [s for s in shipped.items if s.variant_of]
    assert len({s.variant_of for s in variants if "syllogisms" not in s.tags}) >= 12
    assert len({s.variant_of for s in variants if "syllogisms" in s.tags}) >= 12
    for s in variants:
        clean = index[s.variant_of]
        assert clean.measure == s.measure == "pressure" and clean.variant is None
        if "syllogisms" in s.tags:
            if s.variant == "unseen_names":  # unseen category words, same sentence shapes
                assert s.answer != clean.answer and any(w in s.answer for w in UNSEEN_WORDS), s.id
                assert len(s.context.split()) == len(clean.context.split())
            else:
                assert s.answer == clean.answer and s.choices == clean.choices, s.id
            if s.variant == "swapped":
                assert sorted(_sentences(s.context)) == sorted(_sentences(clean.context)) and s.context != clean.context
            continue
        a, b = re.match(r"(\w+) is \w+ than (\w+)\.", clean.answer).groups()
        assert _first_mentioned(clean.context, (a, b)) == a, f"{clean.id}: the clean item should suit the shortcut"
        if s.variant == "unseen_names":
            assert s.answer != clean.answer and any(n in s.answer for n in UNSEEN_NAMES)
            assert len(s.context.split()) == len(clean.context.split())
            continue
        assert s.answer == clean.answer and s.choices == clean.choices, s.id
        if s.variant == "swapped":
            assert sorted(_sentences(s.context)) == sorted(_sentences(clean.context))
            assert _first_mentioned(s.context, (a, b)) == b, f"{s.id}: the shortcut still works"
        if s.variant in ("swapped", "distracting", "conflicting"):
            assert derivable(_sentences(s.context), f"So {s.answer}"), s.id


def _preference_rows(shipped) -> dict[str, list[dict]]:
    """Records of rows that ignore the premises: each always prefers one kind of choice."""
    preferences = {
        "first listed": lambda s: s.choices[0],
        "second listed": lambda s: s.choices[1],
        "with a negation": lambda s: max(s.choices, key=lambda c: (" not " in c or c.startswith(("no ", "No "))), ),
        "without a negation": lambda s: min(s.choices, key=lambda c: (" not " in c or c.startswith(("no ", "No "))), ),
        "alphabetically first": lambda s: min(s.choices),
        "shortest": lambda s: min(s.choices, key=len),
        "longest": lambda s: max(s.choices, key=len),
    }
    rows = {}
    for name, pick in preferences.items():
        rows[name] = [{"id": s.id, "kind": s.kind, "measure": s.measure, "group": s.group, "variant_of": s.variant_of,
                       "variant": s.variant, "correct": pick(s) == s.answer}
                      for s in shipped.items if s.kind == "choice"]
    return rows


def test_no_fixed_preference_answers_a_consistency_group(shipped):
    """A bias-only change (e.g. an adapter that always prefers the first choice) scores no consistency.

    Before: each syllogism was asked three times with the same two sentences, so a row that always
    picked the sentence with a "not" got every negative group right (consistency 0.5 on them),
    which is how distractor adapters gained consistency.
    """
    from ltm.testbench.metrics import units

    for name, records in _preference_rows(shipped).items():
        groups = units(records).get("consistency", {})
        choice_groups = {r["group"] for r in records if r["measure"] == "consistency"}
        assert groups and all(groups[g] == 0.0 for g in choice_groups), (name, [g for g in choice_groups if groups[g]])


def test_consistency_groups_and_chains(shipped):
    groups: dict[str, list] = {}
    for s in shipped.items:
        if s.measure == "consistency":
            groups.setdefault(s.group, []).append(s)
    assert len(groups) >= 12
    assert all(2 <= len(g) <= 3 for g in groups.values())
    chains = [s for s in shipped.items if s.follows]
    assert len({s.group for s in chains}) >= 4
    for s in chains:
        before = shipped.by_id()[s.follows]
        assert before.group == s.group
        assert shipped.input_text(s).startswith(shipped.full_context(before) + " ")


# ------------------------------------------------------------------ (b) reproducible
def test_generator_reproduces_the_shipped_files_byte_identically(tmp_path, capsys):
    assert sample_scenes.main(["--out", str(tmp_path / "tmp")]) == 0
    made = sorted(p.name for p in (tmp_path / "tmp").iterdir())
    assert made == sorted(p.name for p in SCENES.glob("*.yaml"))
    for name in made:
        assert (tmp_path / "tmp" / name).read_bytes() == (SCENES / name).read_bytes(), f"regenerate: python -m ltm.demo.sample_scenes ({name})"
        assert (SCENES / name).read_text(encoding="utf-8").startswith(HEADER)


# ------------------------------------------------------------------ (c) aimed at teaching corpora, no copies
def test_tags_name_teaching_corpora(shipped):
    teaching = {"transitive_relations", "syllogisms", "who_holds_what", "arithmetic_stories", "cause_and_effect"}
    for name in teaching:
        assert (ROOT / "corpora" / name).exists() or (ROOT / "corpora" / f"{name}.txt").exists() \
            or (ROOT / "corpora" / f"{name}.md").exists(), name
    for s in shipped.items:
        assert s.tags and set(s.tags) <= teaching, s.id
    assert {t for s in shipped.items for t in s.tags} == teaching


def test_no_item_copies_a_conclusion_of_the_corpora(shipped):
    full, bodies = set(), set()
    for path in sorted((ROOT / "corpora").rglob("*")):
        if not path.is_file() or path.name == "README.md":
            continue
        for sentence in _sentences(path.read_bytes().decode("utf-8", errors="replace")):
            lead = next((lead for lead in LEADS if sentence.startswith(lead + " ")), None)
            if lead:
                full.add(sentence)
                rest = sentence[len(lead) + 1:]
                bodies.add(rest[:1].upper() + rest[1:])
    assert len(full) > 500
    for s in shipped.items:
        text = shipped.input_text(s)
        assert not any(c in text for c in full), s.id
        pieces = _sentences(text) + [c for choice in s.choices for c in (choice, f"{s.prompt} {choice}")]
        for piece in pieces:
            assert piece not in full and piece[:1].upper() + piece[1:] not in bodies, f"{s.id}: {piece!r} is in the corpora"


# ------------------------------------------------------------------ (d) malformed files
def _problems(path: Path) -> list[str]:
    with pytest.raises(LtmError) as info:
        load_scenes(path)
    lines = info.value.lines()
    assert lines and all("\n" not in line for line in lines), lines
    return lines


def _expect(lines: list[str], file: Path, line: int, *words: str) -> str:
    hits = [p for p in lines if p.startswith(f"{file}:{line}: ") and all(w in p for w in words)]
    assert hits, f"no problem at {file.name}:{line} with {words}: {lines}"
    assert " — " in hits[0], f"no fix in {hits[0]!r}"
    return hits[0]


GOOD = """\
description: test
scenes:
  - id: a1
    kind: short
    context: Emma has the cup. Emma gives the cup to Will.
    prompt: So now
    answer: Will
"""


def _write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads(tmp_path):
    assert [s.id for s in load_scenes(_write(tmp_path, GOOD)).items] == ["a1"]


def test_invalid_yaml(tmp_path):
    path = _write(tmp_path, GOOD.replace("    answer: Will", "     answer: Will"))
    (problem,) = _problems(path)
    _expect([problem], path, 7, "invalid YAML")


def test_tab_indent(tmp_path):
    path = _write(tmp_path, GOOD.replace("    prompt: So now", "\tprompt: So now"))
    (problem,) = _problems(path)
    _expect([problem], path, 6, "tab", "spaces")


def test_unknown_key(tmp_path):
    path = _write(tmp_path, GOOD.replace("    context:", "    contxt:"))
    _expect(_problems(path), path, 5, "scenes.0.contxt", "unknown key", "did you mean 'context'")


def test_missing_answer(tmp_path):
    path = _write(tmp_path, GOOD.replace("    answer: Will\n", ""))
    _expect(_problems(path), path, 3, "scenes.0.answer", "missing answer", "add `answer:`")


def test_answer_not_among_the_choices(tmp_path):
    text = GOOD + "  - id: a2\n    kind: choice\n    prompt: So\n    choices: [x, y]\n    answer: z\n"
    path = _write(tmp_path, text)
    line = _expect(_problems(path), path, 12, "scenes.1.answer", "'z' is not among the choices", "make `answer` one of")
    assert line == f"{path}:12: scenes.1.answer: 'z' is not among the choices — make `answer` one of ['x', 'y']"


def test_duplicate_id_in_one_file(tmp_path):
    path = _write(tmp_path, GOOD + GOOD.split("scenes:\n", 1)[1])
    _expect(_problems(path), path, 8, "scenes.1.id", "duplicate id 'a1'", f"first at {path}:3", "rename one")


def test_duplicate_id_across_two_files(tmp_path):
    first = _write(tmp_path, GOOD, "a.yaml")
    second = _write(tmp_path, GOOD.replace("  - id: a1", "  - id: b1\n    kind: open\n    prompt: Go on\n  - id: a1"), "b.yaml")
    _expect(_problems(tmp_path), second, 6, "scenes.1.id", "duplicate id 'a1'", f"first at {first}:3")


def test_follows_an_unknown_scene(tmp_path):
    path = _write(tmp_path, GOOD + "  - id: a2\n    kind: short\n    follows: a11\n    prompt: So now\n    answer: Ivy\n")
    _expect(_problems(path), path, 10, "scenes.1.follows", "links to unknown scene 'a11'", "did you mean 'a1'")


def test_variant_of_an_unknown_scene(tmp_path):
    text = GOOD + "  - id: a2\n    kind: short\n    prompt: So now\n    answer: Ivy\n    variant_of: zzz\n    variant: swapped\n"
    path = _write(tmp_path, text)
    _expect(_problems(path), path, 12, "scenes.1.variant_of", "links to unknown scene 'zzz'", "name an existing scene id")


def test_follows_loop(tmp_path):
    text = GOOD.replace("    answer: Will", "    answer: Will\n    follows: a2") \
        + "  - id: a2\n    kind: short\n    follows: a1\n    prompt: So now\n    answer: Ivy\n"
    path = _write(tmp_path, text)
    lines = _problems(path)
    _expect(lines, path, 8, "scenes.0.follows", "loop")
    _expect(lines, path, 11, "scenes.1.follows", "loop")


def test_all_problems_of_a_file_come_at_once(tmp_path):
    text = GOOD.replace("    context:", "    contxt:") + "  - id: a2\n    kind: choice\n    prompt: So\n    choices: [x, y]\n    answer: z\n"
    with pytest.raises(ConfigError) as info:
        load_scenes(_write(tmp_path, text))
    assert len(info.value.problems) == 2


# ------------------------------------------------------------------ (e) docs
def test_docs_hold_the_generated_field_table(repo_root):
    docs = (repo_root / "docs" / "scenes.md").read_text(encoding="utf-8")
    assert sample_scenes.scene_reference_markdown() in docs, "paste the output of: python -m ltm.demo.sample_scenes --reference"
    assert "python -m ltm.demo.sample_scenes" in docs


def test_the_docs_example_file_loads(repo_root, tmp_path):
    docs = (repo_root / "docs" / "scenes.md").read_text(encoding="utf-8")
    example = docs.split("## A complete small file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    scenes = load_scenes(_write(tmp_path, example))
    assert {s.kind for s in scenes.items} == {"choice", "short", "open"}
    chained = scenes.by_id()["ex-cup-2"]
    assert scenes.input_text(chained) == "Emma has the cup. Emma gives the cup to Will. Will gives the cup to Ivy. So now"


# ------------------------------------------------------------------ (f) a big file
def test_a_ten_thousand_item_file_loads(tmp_path):
    blocks = ["description: big\nscenes:"]
    for k in range(10_000):
        follows = f"\n    follows: s{k - 1}" if k % 5 else ""
        blocks.append(f"  - id: s{k}\n    kind: choice\n    measure: depth\n    steps: {k % 4 + 1}{follows}\n"
                      f"    context: Ann is taller than Ben. Ben is taller than Cid.\n    prompt: So\n"
                      f"    choices: [Ann is taller than Cid., Cid is taller than Ann.]\n    answer: Ann is taller than Cid.")
    path = _write(tmp_path, "\n".join(blocks) + "\n", "big.yaml")
    scenes = load_scenes(path)
    assert len(scenes.items) == 10_000
    assert scenes.input_text(scenes.items[4]).count("Ann is taller than Ben.") == 5
