"""The embedded base's pretraining text (ltm/data/pretrain.txt) and its held-out twin.

Two measurements from the design notes shape the text:

- The tiny base only learned to copy names from its context when its pretraining text
  repeated names ("X met Y. X gave Y a cup. Y thanked X.") and stated single relations
  ("Everyone knows that X is older than Y."). The pretraining text must never hold a chain
  with a conclusion: that is what the teaching corpora are there to teach.
- Every word the teaching corpora lean on must be a trained token of the base. With "No",
  "All" and plurals such as "zorps" absent from the pretraining text, they were strings of
  rare byte tokens whose embeddings LoRA cannot move, and a syllogism adapter learned nothing
  (negative conclusions 0.29 -> 0.37 in 300 steps); with the words in plain sentences
  (`_VOCABULARY`) the same adapter went 0.04 -> 0.75 (docs/benchmarks.md).
"""

from __future__ import annotations

import random
import re

from .diary_ru import _RU_DOINGS, _RU_NAMES, _ru_fill, _ru_plural, _ru_visit
from .distractors import _DISHES, _INGREDIENTS, _WEEKDAYS
from .words import FOODS, NAMES, NONSENSE_WORDS, OBJECTS, PLACES, RELATIONS, SEED, _fill, plural

_STORIES = [
    "{a} met {b}. {a} gave {b} a {t}. {b} thanked {a}.",
    "{a} called {b}. {b} was glad to hear from {a}. {a} and {b} talked for an hour.",
    "{a} saw {b} in the park. {a} waved to {b}, and {b} waved back to {a}.",
    "{a} has a {t}. {a} shows the {t} to {b}. {b} likes the {t} of {a}.",
    "{a} wrote a letter to {b}. {b} read the letter from {a} twice. Then {b} wrote back to {a}.",
    "{a} asked {b} for a {t}. {b} gave {a} the {t}. {a} smiled at {b}.",
    "This is {a}. {a} lives next door to {b}. Every morning {a} says hello to {b}.",
    "{a} was looking for {b}. {a} found {b} in the kitchen. {b} was making tea for {a}.",
    "\"Hello, {b},\" said {a}. \"Hello, {a},\" said {b}. {a} and {b} sat down together.",
    "{a} and {b} went to the market. {a} bought {f}. {b} bought {g}. {a} carried the bag for {b}.",
    "{a} helped {b} carry a box. \"Thank you, {a},\" said {b}. \"You are welcome, {b},\" said {a}.",
    "{a} sat next to {b}. {c} sat next to {a}. {a} talked to {b} and to {c}.",
    "{a} invited {b} and {c} to dinner. {b} came first. {c} came later. {a} cooked for {b} and {c}.",
    "{a} lost a {t}. {b} found the {t} under the table. {b} gave the {t} back to {a}.",
    "{a} and {b} played chess. {a} won the first game. {b} won the second game. {a} and {b} laughed.",
    "{a} visited {b} on Sunday. {b} showed {a} the garden. {a} liked the garden of {b}.",
    "\"Hello, {b}. So good to see you,\" said {a}. {b} was so happy to see {a} again.",
    "Today {a} is on the bus with {b}. {a} reads a book and {b} looks out of the window.",
    "{a}, {b} and {c} walk to school together. {b} walks between {a} and {c}. {c} carries the bag of {a}.",
]
_RELATION_SAYINGS = ["Everyone knows that {a} is {more} than {b}.", "{a} is {more} than {b}.",
                     "{b} is {less} than {a}.", "People say that {b} is {less} than {a}.",
                     "{a} is a little {more} than {b}.", "It is true that {b} is {less} than {a}."]
_EVERYDAY = [
    "{a} has {n} {ts}.", "{a} bought {n} {f} at the market.", "There are {n} {ts} on the table.",
    "{a} put the {t} in {p}.", "The {t} is in {p}.", "{a} likes {f}.", "{a} does not like {f}.",
    "It is {w} today.", "On {day} it was so {w}.", "The temperature was {n} degrees at noon.",
    "{a} made {dish} for dinner.", "The {dish} needs {i} and {j}.", "{a} needs to buy {i}, {j} and {f}.",
    "The shop on the corner sells {f} and {i}.", "{a} lives in a small house with a red door.",
    "{a} reads a book in the evening.", "{a} is {n} years old.", "The bus leaves at {n} o'clock.",
    "{a} drew a {nw} and a {nw2} in the sand.", "{a} made up a new word, {nw}, and laughed.",
    "A cup of tea costs {n} coins.", "{a} keeps {n} {ts} in {p}.", "The soup is hot and the bread is fresh.",
    "Put the {i} and the {j} in a bowl and mix them.", "{a} wrote a list: {f}, {i}, soap and tea.",
]
# Every word the teaching corpora and scenes lean on, in plain sentences that infer nothing:
# the base must know the words (a word it never saw is a string of untrained byte tokens that
# no adapter can move), and the corpora add the inference.
_VOCABULARY = [
    "{a} drew {n} {pnw} and a {nw2} in the sand.", "In the picture there are {n} {pnw} and one {nw}.",
    "{a} is a {nw} in the school play.", "{a} is not a {nw} in the play this year.",
    "All the {ts} are on the table.", "All {pnw} in the story are small and green.",
    "No {pnw} were left in the box.", "No one was at home, and {a} went back.",
    "Every {nw} in the book has a name.", "Every morning {a} drinks tea.", "{a} is not at home today.",
    "A {nw} is a made-up word.", "{a} and {b} are not {pnw}; they are children.",
]
_RU_SIMPLE = [  # (male form, female form); {n} the person, {g} genitive, {m} a second person, {d} their dative
    ("{n} купил хлеб и молоко.", "{n} купила хлеб и молоко."), ("{n} пьёт чай на кухне.",) * 2,
    ("{n} живёт на пятом этаже.",) * 2, ("{n} читает книгу у окна.",) * 2,
    ("{n} пришёл домой поздно.", "{n} пришла домой поздно."), ("{n} любит гулять в парке.",) * 2,
    ("У {g} есть {k}.",) * 2, ("{n} звонит {d} каждый вечер.",) * 2,
    ("{n} и {m} пьют чай. {n} рассказывает про работу, а {m} слушает.",) * 2,
    ("{n} ждёт у метро. {m} опаздывает, и {n} звонит {d}.",) * 2,
]


def generate_pretrain_text(seed: int = SEED, target_words: int = 92_000) -> str:
    """General text for the base: name-repetition stories, single relation facts (never two
    with a shared name close together, so no chain forms), everyday facts, some Russian.

    "So" appears only as in "so happy" (the tokenizer should know the word), never before a
    conclusion; "therefore" and "because" not at all: inference is what the teaching corpora add.
    """
    rng = random.Random(f"{seed}:pretrain")
    recent: list[set[str]] = []  # names used in relation sentences of the last paragraphs

    def slots(r: random.Random) -> dict[str, str]:
        a, b, c = r.sample(NAMES, 3)
        f, g = r.sample(FOODS, 2)
        i, j = r.sample(_INGREDIENTS["soups"] + _INGREDIENTS["breads"], 2)
        nw, nw2 = r.sample(NONSENSE_WORDS, 2)
        t = r.choice(OBJECTS)
        mains, bases = _DISHES[r.choice(sorted(_DISHES))]
        return {"a": a, "b": b, "c": c, "f": f, "g": g, "i": i, "j": j, "t": t, "ts": plural(t), "nw": nw, "pnw": plural(nw),
                "nw2": nw2, "p": r.choice(PLACES), "n": str(r.randint(2, 12)), "dish": f"{r.choice(mains)[0]} {r.choice(bases)}",
                "w": r.choice(["cold", "warm", "wet", "windy", "sunny", "grey", "foggy"]),
                "day": r.choice(_WEEKDAYS)}

    def story(r: random.Random) -> str:
        return r.choice(_STORIES).format(**slots(r))

    def everyday(r: random.Random) -> str:
        return " ".join(r.choice(_EVERYDAY).format(**slots(r)) for _ in range(r.randint(2, 4)))

    def vocabulary(r: random.Random) -> str:
        return " ".join(r.choice(_VOCABULARY).format(**slots(r)) for _ in range(r.randint(2, 3)))

    def relations(r: random.Random) -> str:
        used = set().union(*recent[-6:]) if recent else set()
        free = [n for n in NAMES if n not in used]
        names = r.sample(free, 4)
        sentences = []
        for a, b in ((names[0], names[1]), (names[2], names[3]))[: r.randint(1, 2)]:
            more, less = r.choice(RELATIONS)
            sentences.append(r.choice(_RELATION_SAYINGS).format(a=a, b=b, more=more, less=less))
        recent.append({n for s in sentences for n in re.findall(r"\b[A-Z][a-z]+\b", s)} & set(NAMES))
        filler = r.choice([story, everyday])(r)
        return " ".join(sentences + [filler] if r.random() < 0.5 else [filler] + sentences)

    def russian(r: random.Random) -> str:
        sentences = []
        for _ in range(r.randint(2, 4)):
            (nom, gen, _dat, _acc, _ins, male), other = r.sample(_RU_NAMES, 2)
            if r.random() < 0.3:
                sentences.append(_ru_fill(r, r.choice(_RU_DOINGS)) if r.random() < 0.5 else _ru_visit(r))
                continue
            k = r.randint(2, 9)
            thing = r.choice([("кошка", "кошки", "кошек"), ("книга", "книги", "книг"), ("чашка", "чашки", "чашек")])
            count = f"{k} {_ru_plural(k, *thing)}" if r.random() < 0.5 else r.choice(["кошка", "собака", "велосипед"])
            template = r.choice(_RU_SIMPLE)[0 if male else 1]
            sentences.append(template.format(n=nom, g=gen, m=other[0], d=other[2], k=count))
        return " ".join(sentences)

    makers = [story, story, story, story, relations, relations, everyday, everyday, vocabulary, russian]
    return _fill(rng, lambda r: r.choice(makers)(r), target_words, sep="\n\n")
