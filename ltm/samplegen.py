"""Seeded generator of the ten sample corpora and of the embedded base's pretraining text.

Why generated: the demo must show the loop telling useful corpora from useless ones, with no
copyrighted text. Five corpora teach reasoning patterns that the shipped scenes test; five
are distractors of similar size. The pretraining text teaches the tiny base to copy names
from context ("X met Y. X gave Y a cup.") and states single relations without chains or
conclusions, which the design notes measured as what lets a LoRA then learn inference.

    python -m ltm.samplegen            # rewrites corpora/ and ltm/data/pretrain.txt
"""

from __future__ import annotations

import argparse
import itertools
import random
from pathlib import Path

SEED = 1234
NAMES = ["Anna", "Ben", "Carl", "Dora", "Emma", "Finn", "Grace", "Hugo", "Ivy", "Jack", "Kate", "Leo", "Mia",
         "Nick", "Olga", "Paul", "Rosa", "Sam", "Tom", "Vera", "Will", "Zoe", "Adam", "Bella", "Chris", "Dan",
         "Eva", "Fred", "Gina", "Hank", "Iris", "Joe", "Kim", "Lily", "Max", "Nina", "Oscar", "Pam", "Ray", "Sara"]
UNSEEN_NAMES = ["Quentin", "Wilhelmina", "Bartholomew", "Esmeralda", "Thaddeus", "Philippa", "Ignatius",
                "Gwendolyn", "Cornelius", "Octavia", "Leopold", "Rosalind", "Barnaby", "Clementine", "Ezekiel",
                "Henrietta", "Percival", "Seraphina", "Montgomery", "Winifred"]
RELATIONS = [("taller", "shorter"), ("older", "younger"), ("faster", "slower"), ("heavier", "lighter"),
             ("stronger", "weaker"), ("richer", "poorer")]
NONSENSE_WORDS = ["wugs", "feps", "daxes", "blickets", "zorps", "tufas", "glims", "mipsies", "norls", "vexes",
                  "plonks", "krells", "snarbs", "yeems"]
OBJECTS = ["key", "ball", "book", "coin", "cup", "hat", "lamp", "letter", "ring", "spoon", "box", "pen"]
PLACES = ["the box", "the drawer", "the basket", "the bag", "the shelf"]
FOODS = ["apples", "pears", "eggs", "cakes", "plums", "nuts", "rolls", "lemons"]
CAUSES = [
    ("it rained all night", "the road was wet"), ("the glass fell off the table", "it broke"),
    ("the sun came out", "the snow melted"), ("the wind was strong", "the door slammed"),
    ("the milk was left out", "it went sour"), ("the battery was empty", "the lamp went dark"),
    ("the river rose", "the bridge was closed"), ("the oven was too hot", "the bread burned"),
    ("the ice was thin", "the dog fell through"), ("the bell rang", "the children ran outside"),
    ("the shop was closed", "there was no bread"), ("the plant got no water", "its leaves dried"),
    ("the fire went out", "the room got cold"), ("the alarm did not ring", "the train was missed"),
]
WORDS_TARGET = 6000


def _words(parts: list[str]) -> int:
    return sum(len(p.split()) for p in parts)


def _until(rng: random.Random, make, target: int = WORDS_TARGET, sep: str = "\n\n") -> str:
    parts: list[str] = []
    words = 0
    while words < target:
        parts.append(make(rng))
        words += len(parts[-1].split())
    return sep.join(parts) + "\n"


# ------------------------------------------------------------------ teaching corpora
def transitive_chain(rng: random.Random, length: int | None = None, shuffle: bool | None = None) -> tuple[list[str], str]:
    """Premises of an ordered chain and its conclusion; premise order and direction vary,
    so "the first-named goes first" is no shortcut."""
    length = length or rng.choice([2, 2, 3, 3, 4])
    more, less = rng.choice(RELATIONS)
    people = rng.sample(NAMES, length + 1)  # people[0] has the most of the quality
    premises = []
    for a, b in zip(people, people[1:], strict=False):
        premises.append(f"{a} is {more} than {b}." if rng.random() < 0.6 else f"{b} is {less} than {a}.")
    if shuffle if shuffle is not None else rng.random() < 0.5:
        rng.shuffle(premises)
    if rng.random() < 0.5:
        conclusion = f"So {people[0]} is {more} than {people[-1]}."
    else:
        conclusion = f"So {people[-1]} is {less} than {people[0]}."
    return premises, conclusion


def _transitive(rng):
    premises, conclusion = transitive_chain(rng)
    return " ".join(premises) + " " + conclusion


def _syllogism(rng):
    a, b, c = rng.sample(NONSENSE_WORDS, 3)
    name = rng.choice(NAMES)
    form = rng.randrange(4)
    if form == 0:
        return f"All {a} are {b}. All {b} are {c}. So all {a} are {c}."
    if form == 1:
        return f"All {b} are {c}. All {a} are {b}. So all {a} are {c}."
    if form == 2:
        return f"Every one of the {a} is one of the {b}. {name} is one of the {a}. So {name} is one of the {b}."
    return f"No {a} are {b}. {name} is one of the {a}. So {name} is not one of the {b}."


def _arithmetic(rng):
    name, other = rng.sample(NAMES, 2)
    food = rng.choice(FOODS)
    have = rng.randint(2, 9)
    lines = [f"## {name} and the {food}", "", f"{name} had {have} {food}."]
    for _ in range(rng.randint(2, 3)):
        if rng.random() < 0.5 or have < 2:
            n = rng.randint(1, 6)
            have += n
            lines.append(f"{name} bought {n} more, so {name} had {have}.")
        else:
            n = rng.randint(1, have - 1)
            have -= n
            lines.append(f"{name} gave {n} to {other}, so {name} had {have}.")
    lines.append(f"Now {name} has {have} {food}.")
    return "\n".join(lines)


def _cause(rng):
    (c1, e1), (c2, e2) = rng.sample(CAUSES, 2)
    form = rng.randrange(4)
    if form == 0:
        return f"Because {c1}, {e1}."
    if form == 1:
        return f"{c1.capitalize()}. So {e1}."
    if form == 2:
        return f"{c1.capitalize()}, therefore {e1}."
    return f"{c1.capitalize()}. Because of that, {e1}. {c2.capitalize()}, so {e2}."


def _holds(rng):
    people = rng.sample(NAMES, 3)
    thing = rng.choice(OBJECTS)
    holder = people[0]
    lines = [f"{holder} has the {thing}."]
    for _ in range(rng.randint(2, 4)):
        move = rng.randrange(3)
        others = [p for p in people if p != holder]
        if move == 0:
            taker = rng.choice(others)
            lines.append(f"{holder} gives the {thing} to {taker}.")
            holder = taker
        elif move == 1:
            taker = rng.choice(others)
            lines.append(f"{taker} takes the {thing} from {holder}.")
            holder = taker
        else:
            place = rng.choice(PLACES)
            taker = rng.choice(others)
            lines.append(f"{holder} puts the {thing} in {place}. {taker} finds it there and keeps it.")
            holder = taker
    lines.append(f"So now {holder} has the {thing}.")
    return " ".join(lines)


# ------------------------------------------------------------------ distractors
_DISHES = {"soups": ["tomato soup", "onion soup", "pea soup", "fish soup", "bean soup"],
           "breads": ["rye bread", "flat bread", "sweet rolls", "corn bread", "oat bread"],
           "desserts": ["apple pie", "plum cake", "lemon tart", "rice pudding", "honey cake"]}
_INGREDIENTS = ["flour", "salt", "butter", "milk", "sugar", "water", "onion", "carrot", "eggs", "honey", "oil", "pepper"]
_STEPS = ["Mix {a} and {b} in a bowl.", "Heat the {a} slowly.", "Add the {a} and stir.", "Leave it to rest for {n} minutes.",
          "Cut the {a} into small pieces.", "Bake for {n} minutes.", "Serve warm with {a}."]


def _recipe(rng, kind):
    dish = rng.choice(_DISHES[kind])
    lines = [f"## {dish.capitalize()}", "", "Ingredients:"]
    lines += [f"- {rng.randint(1, 5)} cups of {i}" for i in rng.sample(_INGREDIENTS, rng.randint(3, 5))]
    lines += ["", "Steps:"]
    for k, step in enumerate(rng.sample(_STEPS, 4), 1):
        a, b = rng.sample(_INGREDIENTS, 2)
        lines.append(f"{k}. " + step.format(a=a, b=b, n=rng.choice([10, 15, 20, 30, 40])))
    return "\n".join(lines)


def _weather(rng, day: int):
    month = ["March", "April", "May", "June", "July"][(day // 28) % 5]
    sky = rng.choice(["clear sky", "light rain", "cloudy", "fog in the morning", "strong wind", "sunny and calm"])
    return (f"{month} {day % 28 + 1}: {sky}, {rng.randint(2, 28)} degrees, wind {rng.randint(0, 15)} m/s, "
            f"pressure {rng.randint(740, 770)} mm.")


def _shopping(rng):
    name = rng.choice(NAMES)
    items = rng.sample(FOODS + _INGREDIENTS + ["soap", "tea", "rice", "candles", "paper"], rng.randint(4, 7))
    return "\n".join([f"### List for {name}", *[f"- {rng.randint(1, 6)} {i}" for i in items]])


def _shuffled(rng, target=WORDS_TARGET):
    """Sentences of the teaching corpora with premises and conclusions scattered apart."""
    sentences: list[str] = []
    while sum(len(s.split()) for s in sentences) < target:
        premises, conclusion = transitive_chain(rng)
        sentences += premises + [conclusion]
        sentences += [s.strip() + "." for s in _syllogism(rng).split(".") if s.strip()]
        sentences += [s.strip() + "." for s in _holds(rng).split(".") if s.strip()]
    rng.shuffle(sentences)
    return "\n".join(" ".join(sentences[i:i + 6]) for i in range(0, len(sentences), 6)) + "\n"


_RU_NAMES = ["Маша", "Петя", "Оля", "Коля", "Аня", "Дима"]
_RU_DAYS = ["Сегодня было холодно, и мы долго сидели дома.", "Утром пошли в лес за грибами.",
            "Вечером пили чай с вареньем и говорили о лете.", "Весь день шёл дождь, читала книгу у окна.",
            "Ходили на рынок, купили яблоки и хлеб.", "Писала письмо бабушке, потом гуляла у реки.",
            "На работе было много дел, вернулась поздно.", "В саду зацвела сирень, пахнет на весь двор."]


def _diary(rng, year):
    date = f"{rng.randint(1, 28)}.{rng.randint(1, 12):02d}.{year}"
    return f"{date}. {rng.choice(_RU_NAMES)} приходил(а) в гости. " + " ".join(rng.sample(_RU_DAYS, 3))


# ------------------------------------------------------------------ writers
def generate_corpora(out_dir: Path, seed: int = SEED) -> list[Path]:
    """Write the ten corpora under `out_dir`; every corpus has its own seeded stream."""
    out_dir = Path(out_dir)
    written: list[Path] = []

    def put(rel: str, text: str, encoding: str = "utf-8") -> None:
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        written.append(path)

    def rng_for(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    put("transitive_relations.txt", _until(rng_for("transitive"), _transitive, sep="\n"))
    put("syllogisms.txt", _until(rng_for("syllogisms"), _syllogism, sep="\n"))
    put("arithmetic_stories.md", "# Arithmetic stories\n\n" + _until(rng_for("arithmetic"), _arithmetic))
    put("cause_and_effect.txt", _until(rng_for("cause"), _cause, sep="\n"))
    rng = rng_for("holds")
    for chapter in ("01", "02", "03"):
        put(f"who_holds_what/{chapter}.txt", _until(rng, _holds, WORDS_TARGET // 3))
    rng = rng_for("recipes")
    for kind in ("soups", "breads", "desserts"):
        put(f"recipes/{kind}.md", f"# {kind.capitalize()}\n\n" + _until(rng, lambda r, k=kind: _recipe(r, k), WORDS_TARGET // 3))
    days = itertools.count(1)
    put("weather_log.txt", _until(rng_for("weather"), lambda r: _weather(r, next(days)), sep="\n"))
    put("shopping_lists.md", "# Shopping lists\n\n" + _until(rng_for("shopping"), _shopping))
    put("shuffled_sentences.txt", _shuffled(rng_for("shuffled")))
    rng = rng_for("diary")
    put("diary_ru/2019.txt", _until(rng, lambda r: _diary(r, 2019), WORDS_TARGET // 2).replace("\n", "\r\n"), "cp1251")
    put("diary_ru/2020.txt", _until(rng, lambda r: _diary(r, 2020), WORDS_TARGET // 2), "koi8-r")
    return written


def generate_pretrain_text(seed: int = SEED, target_words: int = 90000) -> str:
    """General text for the base: name repetition, single relations, everyday facts, some Russian."""
    rng = random.Random(f"{seed}:pretrain")

    def story(r):
        a, b = r.sample(NAMES, 2)
        thing = r.choice(OBJECTS)
        return r.choice([
            f"{a} met {b}. {a} gave {b} a {thing}. {b} thanked {a}.",
            f"{a} called {b}. {b} was happy to hear {a}. {a} and {b} talked for an hour.",
            f"{a} saw {b} in the park. {a} waved to {b}, and {b} waved back to {a}.",
            f"{a} has a {thing}. {a} shows the {thing} to {b}. {b} likes the {thing} of {a}.",
        ])

    def relation(r):
        a, b = r.sample(NAMES, 2)
        more, less = r.choice(RELATIONS)
        return r.choice([f"Everyone knows that {a} is {more} than {b}.", f"{a} is {more} than {b}.",
                         f"{b} is {less} than {a}.", f"People say {b} is {less} than {a}."])

    def fact(r):
        a = r.choice(NAMES)
        return r.choice([
            f"{a} has {r.randint(2, 9)} {r.choice(FOODS)}.", f"{a} likes {r.choice(FOODS)}.",
            f"The weather was {r.choice(['cold', 'warm', 'wet', 'dry'])} today.",
            f"{a} put a {r.choice(OBJECTS)} in {r.choice(PLACES)}.",
            f"{r.choice(CAUSES)[0].capitalize()}.", f"{r.choice(CAUSES)[1].capitalize()}.",
            f"All {r.choice(NONSENSE_WORDS)} live near the river.", f"{a} is one of the {r.choice(NONSENSE_WORDS)}.",
            f"{a} went to buy {r.choice(_INGREDIENTS)}.", r.choice(_RU_DAYS),
        ])

    makers = [story, story, relation, fact, fact]
    return _until(rng, lambda r: " ".join(r.choice(makers)(r) for _ in range(r.randint(2, 5))), target_words)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltm.samplegen", description="Regenerate the sample corpora and pretraining text.")
    parser.add_argument("--out", default="corpora", help="shelf folder to write (default: corpora)")
    parser.add_argument("--pretrain", default=str(Path(__file__).parent / "data" / "pretrain.txt"))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for path in generate_corpora(Path(args.out), args.seed):
        print(path)
    Path(args.pretrain).parent.mkdir(parents=True, exist_ok=True)
    Path(args.pretrain).write_text(generate_pretrain_text(args.seed), encoding="utf-8")
    print(args.pretrain)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
