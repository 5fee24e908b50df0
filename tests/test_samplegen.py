"""The shipped sample corpora and pretraining text are what the seeded generator makes, and
they have the properties the design notes measured as necessary."""

import json
import re

import pytest

from ltm import corpora
from ltm.demo import sample_corpora, words
from ltm.demo.pretrain_text import generate_pretrain_text

CONCLUSION = re.compile(r"^(?:So|Therefore|This means that|It follows that) (\w+) is (\w+) than (\w+)\.$")
RELATION = re.compile(r"^(\w+) is (\w+) than (\w+)\.$")
MORE = {more: more for more, _ in words.RELATIONS} | {less: more for more, less in words.RELATIONS}


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "README.md"}


def _sentences(text):
    return [s.strip() for s in re.findall(r"[^.?]+[.?]", text.replace("\n", " "))]


def _higher_lower(a, word, b):
    """("taller", higher, lower) for "a is taller than b" and for "b is shorter than a"."""
    return (MORE[word], a, b) if MORE[word] == word else (MORE[word], b, a)


def _implied(premises, conclusion):
    """Whether the relation sentences among `premises` imply the comparative `conclusion`."""
    relation, top, bottom = _higher_lower(*CONCLUSION.match(conclusion).groups())
    edges = {_higher_lower(*m.groups())[1:] for m in map(RELATION.match, premises)
             if m and m[2] in MORE and MORE[m[2]] == relation}
    reached, todo = {top}, [top]
    while todo:
        here = todo.pop()
        for hi, lo in edges:
            if hi == here and lo not in reached:
                reached.add(lo)
                todo.append(lo)
    return bottom in reached


@pytest.fixture(scope="module")
def pretrain():
    return generate_pretrain_text()


def _text(repo_root, name):
    return corpora.read_corpus(repo_root / "corpora" / name).text


def test_regenerating_with_the_seed_gives_the_shipped_files(repo_root, tmp_path, pretrain):
    sample_corpora.generate_corpora(tmp_path)
    assert _files(tmp_path) == _files(repo_root / "corpora")
    assert pretrain.encode("utf-8") == (repo_root / "ltm" / "data" / "pretrain.txt").read_bytes()


def test_heldout_text_and_benchmark_items_are_what_the_generator_writes_into_the_package(repo_root):
    # sample_corpora writes ltm/data and ltm/tasks by default: its package root must stay ltm/, not ltm/demo/
    assert sample_corpora._PACKAGE.resolve() == (repo_root / "ltm").resolve()
    heldout = generate_pretrain_text(words.SEED + 1, target_words=6_000)
    assert heldout.encode("utf-8") == (repo_root / "ltm" / "data" / "general_heldout.txt").read_bytes()
    items = "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in sample_corpora.generate_benchmark_items())
    assert items.encode("utf-8") == (repo_root / "ltm" / "tasks" / "ltm_relations.jsonl").read_bytes()


def test_corpora_are_of_similar_size(repo_root):
    words = [corpora.read_corpus(p).words for p in corpora.discover([repo_root / "corpora"])]
    assert len(words) == 10
    assert max(words) <= 1.5 * min(words)
    assert 24_000 <= min(words) and max(words) <= 32_000


def test_unseen_names_never_occur_in_generated_text(repo_root, pretrain):
    assert not set(words.UNSEEN_NAMES) & set(words.NAMES)
    texts = [corpora.read_corpus(p).text for p in corpora.discover([repo_root / "corpora"])] + [pretrain]
    for name in words.UNSEEN_NAMES + words.UNSEEN_WORDS:
        # the word itself and its plural; "drin" inside "drinks" is another word
        assert not any(re.search(rf"\b{name}(s|es)?\b", t, re.IGNORECASE) for t in texts), name
    assert not set(words.UNSEEN_WORDS) & set(words.NONSENSE_WORDS)


def test_pretraining_text_states_relations_but_never_concludes_a_chain(pretrain):
    assert 400_000 <= len(pretrain.encode("utf-8")) <= 600_000
    assert len(re.findall(rf"\b\w+ is (?:{'|'.join(MORE)}) than \w+\.", pretrain)) > 500
    assert not re.search(r"\b(So|so|Therefore|therefore|This means that|It follows that),? \w+ is (\w+ )?\w+er than", pretrain)
    assert not re.search(r"\b(therefore|because|So now)\b", pretrain, re.IGNORECASE)


def test_pretraining_relation_sentences_never_share_a_name_within_a_paragraph(pretrain):
    for paragraph in pretrain.split("\n\n"):
        pairs = re.findall(r"\b([A-Z][a-z]+) is (?:a little )?\w+er than ([A-Z][a-z]+)\.", paragraph)
        names = [n for pair in pairs for n in pair]
        assert len(names) == len(set(names)), paragraph


def test_pretraining_repeats_names_in_most_english_paragraphs(pretrain):
    english = [p for p in pretrain.split("\n\n") if not re.search("[а-я]", p)]
    repeated = [p for p in english if any(len(re.findall(rf"\b{n}\b", p)) >= 2 for n in words.NAMES)]
    assert len(repeated) > 0.5 * len(english)
    assert re.search("[а-яА-Я]{4}", pretrain)


def test_diary_files_are_really_cp1251_and_koi8r(repo_root):
    for name, codec in (("2019.txt", "cp1251"), ("2020.txt", "koi8-r")):
        raw = (repo_root / "corpora" / "diary_ru" / name).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert len(re.findall("[а-яА-Я]{4,}", raw.decode(codec))) > 1000


def test_transitive_conclusions_follow_and_defeat_the_first_named_shortcut(repo_root):
    lines = _text(repo_root, "transitive_relations.txt").splitlines()
    first_named, less_form, steps = 0, 0, set()
    comparative = [line for line in lines if " of them all." not in line]
    for line in comparative:
        *premises, conclusion = _sentences(line)
        assert _implied(premises, conclusion), line
        relations = [RELATION.match(p) for p in premises if RELATION.match(p)]
        steps.add(len(relations))
        first_named += CONCLUSION.match(conclusion)[1] == relations[0][1]
        less_form += CONCLUSION.match(conclusion)[2] not in MORE.values()
    assert steps == {2, 3, 4}
    assert first_named < 0.5 * len(comparative)  # the old corpus had it right every time
    assert 0.3 < less_form / len(comparative) < 0.7


def test_shuffled_corpus_keeps_no_transitive_chain_intact(repo_root):
    sentences = _sentences(_text(repo_root, "shuffled_sentences.txt"))
    conclusions = [i for i, s in enumerate(sentences) if CONCLUSION.match(s)]
    assert len(conclusions) > 50
    for i in conclusions:
        assert not _implied(sentences[max(0, i - 12):i], sentences[i]), sentences[i]


def test_who_holds_what_answers_follow_the_moves(repo_root):
    stories = [p for p in _text(repo_root, "who_holds_what").split("\n\n") if p.startswith(tuple(words.NAMES))]
    moves = [(r"^(\w+) has the (\w+)\.$", 1, 2), (r"^(\w+) (?:gives|hands) the (\w+) to (\w+)\.$", 3, 2),
             (r"^(\w+) throws the (\w+) to (\w+),", 3, 2), (r"^(?:Later )?(\w+) takes the (\w+) (?:from|out of)", 1, 2)]
    last_named_wins = 0
    for story in stories:
        *body, answer = _sentences(story)
        holder = {}
        for sentence in body:
            for pattern, who, what in moves:
                if m := re.match(pattern, sentence):
                    holder[m[what]] = m[who]
        m = re.match(r"^So now (\w+) has the (\w+)\.$", answer)
        assert m and holder[m[2]] == m[1], story
        last_named_wins += re.findall(r"\b[A-Z][a-z]+\b", " ".join(body))[-1] == m[1]
    assert len(stories) > 100
    assert last_named_wins < 0.8 * len(stories)


def test_arithmetic_stories_add_up(repo_root):
    text = _text(repo_root, "arithmetic_stories.md")
    for story in re.findall(r"^## .*\n\n(.+)$", text, re.MULTILINE):
        if m := re.search(r"Together they have (\d+) \+ (\d+) = (\d+)", story):
            assert int(m[1]) + int(m[2]) == int(m[3])
            continue
        if re.match(r"^\w+ had \d+ \w+ and", story):
            continue
        have = int(re.match(r"^\w+ had (\d+)", story)[1])
        for sentence in _sentences(story)[1:]:
            if m := re.search(r"(\d+) more, so \w+ had (\d+)", sentence):
                have += int(m[1])
            elif m := re.search(r"(?:gave|ate|dropped) (\d+)(?: to \w+)?, so \w+ had (\d+)", sentence):
                have -= int(m[1])
            elif m := re.search(r"has (\d+) \w+", sentence):
                assert int(m[1]) == have, story
                continue
            else:
                continue
            assert int(m[2]) == have, story
