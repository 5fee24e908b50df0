"""The shipped sample corpora and pretraining text are what the seeded generator makes."""

import re

from ltm import corpora, samplegen


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "README.md"}


def test_regenerating_with_the_seed_gives_the_shipped_files(repo_root, tmp_path):
    samplegen.generate_corpora(tmp_path)
    assert _files(tmp_path) == _files(repo_root / "corpora")
    shipped = (repo_root / "ltm" / "data" / "pretrain.txt").read_text(encoding="utf-8")
    assert samplegen.generate_pretrain_text() == shipped


def test_corpora_are_of_similar_size(repo_root):
    words = [corpora.read_corpus(p).words for p in corpora.discover([repo_root / "corpora"])]
    assert len(words) == 10
    assert max(words) <= 1.5 * min(words)


def test_unseen_names_never_occur_in_generated_text(repo_root):
    texts = [corpora.read_corpus(p).text for p in corpora.discover([repo_root / "corpora"])]
    texts.append(samplegen.generate_pretrain_text())
    for name in samplegen.UNSEEN_NAMES:
        assert not any(re.search(rf"\b{name}\b", t) for t in texts), name


def test_pretraining_text_states_relations_but_never_concludes_a_chain():
    text = samplegen.generate_pretrain_text()
    assert re.search(r"\b\w+ is (taller|older|faster|heavier|stronger|richer) than \w+\.", text)
    assert not re.search(r"\b(So|Therefore|therefore|so) \w+ is \w+er than", text)


def test_diary_files_are_really_cp1251_and_koi8r(repo_root):
    for name, codec in (("2019.txt", "cp1251"), ("2020.txt", "koi8-r")):
        raw = (repo_root / "corpora" / "diary_ru" / name).read_bytes()
        try:
            raw.decode("utf-8")
            raise AssertionError(f"{name} decodes as UTF-8")
        except UnicodeDecodeError:
            pass
        assert re.search("[а-яА-Я]{4}", raw.decode(codec))


def test_shuffled_corpus_keeps_no_transitive_chain_intact(repo_root):
    text = (repo_root / "corpora" / "shuffled_sentences.txt").read_text()
    sentences = re.findall(r"[^.]+\.", text.replace("\n", " "))
    conclusions = 0
    for i, sentence in enumerate(sentences):
        match = re.match(r"\s*So (\w+) is \w+ than (\w+)\.", sentence)
        if match:
            conclusions += 1
            before = " ".join(sentences[max(0, i - 2):i])
            # An intact chain would have both end points in the premises right before it.
            assert not (match[1] in before and match[2] in before), sentence
    assert conclusions > 50
