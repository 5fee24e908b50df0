"""Seeded generator of the ten sample corpora and of the embedded base's pretraining text.

Why generated: the demo must show the loop telling useful corpora from useless ones, with no
copyrighted text, and the same seed must always give the same bytes. Five corpora teach
reasoning patterns that later test scenes probe; five are distractors of similar size.

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
- A LoRA trained on chains always written "A > B. B > C. So A > C." learned the shortcut
  "the first-named goes first in the conclusion". So the teaching corpora vary premise order,
  chain length (2-4 steps), direction (taller/shorter) and phrasing, and only real inference
  predicts the conclusion.

The names, relations and nonsense words are module constants so that a scene generator can
reuse them; `UNSEEN_NAMES` and `UNSEEN_WORDS` never occur in any generated text, for generalisation checks.

    python -m ltm.samplegen            # rewrites corpora/ and ltm/data/pretrain.txt
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

SEED = 1234

# Short, common names: frequent enough in the pretraining text to become one BPE token each.
NAMES = ["Anna", "Ben", "Carl", "Dora", "Emma", "Finn", "Grace", "Hugo", "Ivy", "Jack", "Kate", "Leo", "Mia",
         "Nick", "Olga", "Paul", "Rosa", "Sam", "Tom", "Vera", "Will", "Zoe", "Adam", "Bella", "Chris", "Dan",
         "Eva", "Fred", "Gina", "Hank", "Iris", "Joe", "Kim", "Lily", "Max", "Nina", "Oscar", "Pam", "Ray", "Sara"]
# Held back from every generated text: a scene using them tests copying names never seen.
UNSEEN_NAMES = ["Alex", "Beth", "Cody", "Dina", "Eli", "Gus", "Ian", "Jill", "Kurt", "Lena", "Nora", "Owen",
                "Seth", "Tara", "Vince", "Wade", "Ruth", "Troy", "Lara", "Neil"]
# (more, less): "A is taller than B" is the same fact as "B is shorter than A".
RELATIONS = [("taller", "shorter"), ("older", "younger"), ("faster", "slower"), ("heavier", "lighter"),
             ("stronger", "weaker"), ("richer", "poorer"), ("louder", "quieter")]
# Singular category words with no meaning, so a syllogism can only be solved by its form.
# All start with a consonant ("a wug"); use `plural()` for "wugs", "daxes".
NONSENSE_WORDS = ["wug", "fep", "dax", "blicket", "zorp", "tufa", "glim", "mip", "norl", "vex", "plonk",
                  "krell", "snarb", "yeem", "gorp", "tove"]
# Held back like UNSEEN_NAMES: category words no generated text uses (several tokens each).
UNSEEN_WORDS = ["brop", "klem", "spug", "drin", "quom", "flisk", "trab", "gleb", "prask", "vump"]
OBJECTS = ["key", "ball", "book", "coin", "cup", "hat", "lamp", "letter", "ring", "spoon", "box", "pen"]
PLACES = ["the box", "the drawer", "the basket", "the bag", "the cupboard"]
FOODS = ["apples", "pears", "eggs", "cakes", "plums", "nuts", "rolls", "lemons", "cookies", "carrots"]
WORDS_TARGET = 28_000  # words per corpus: about 56 A4 pages

_SHE = {"Anna", "Dora", "Emma", "Grace", "Ivy", "Kate", "Mia", "Olga", "Rosa", "Vera", "Zoe", "Bella", "Eva",
        "Gina", "Iris", "Kim", "Lily", "Nina", "Pam", "Sara"}
_TOPICS = {"taller": "heights", "older": "ages", "faster": "speed", "heavier": "weights",
           "stronger": "strength", "richer": "savings", "louder": "voices"}
_EDIBLE = {"apples", "pears", "cakes", "plums", "nuts", "rolls", "cookies", "carrots"}


def plural(word: str) -> str:
    """English plural of a nonsense word: wug -> wugs, dax -> daxes."""
    return word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s")


def superlative(comparative: str) -> str:
    """taller -> tallest, heavier -> heaviest (every word in RELATIONS ends in -er)."""
    return comparative[:-2] + "est"


def _cap(text: str) -> str:
    """Capitalise the first letter only (str.capitalize would lower-case the names)."""
    return text[:1].upper() + text[1:]


def _fill(rng: random.Random, make: Callable[[random.Random], str], target: int = WORDS_TARGET, sep: str = "\n") -> str:
    """Join pieces from `make` until they hold `target` words."""
    parts: list[str] = []
    words = 0
    while words < target:
        parts.append(make(rng))
        words += len(parts[-1].split())
    return sep.join(parts) + "\n"


# ------------------------------------------------------------------ teaching corpora
_CONNECTIVES = ["So", "So", "Therefore", "This means that", "It follows that"]


_CONCLUSION = re.compile(r"^(?:So|Therefore|This means that|It follows that) (\w+) is (\w+) than (\w+)\.$")
_PREMISE = re.compile(r"^(\w+) is (\w+) than (\w+)\.$")
_ORDER = {**{m: False for m, _ in RELATIONS}, **{le: True for _, le in RELATIONS}}  # True: the order flips
_BASE = {**{m: m for m, _ in RELATIONS}, **{le: m for m, le in RELATIONS}}


def _fact(match: re.Match) -> tuple[str, str, str] | None:
    """(relation, higher, lower) of "A is taller than B" or its "shorter" form; None if not a relation."""
    a, word, b = match.groups()
    if word not in _BASE:
        return None
    return (_BASE[word], b, a) if _ORDER[word] else (_BASE[word], a, b)


def derivable(premises: list[str], conclusion: str) -> bool:
    """Whether the relation sentences in `premises` imply the transitive `conclusion`."""
    match = _CONCLUSION.match(conclusion)
    goal = _fact(match) if match else None
    if goal is None:
        return False
    edges = [f for m in map(_PREMISE.match, premises) if m and (f := _fact(m)) and f[0] == goal[0]]
    reached, frontier = {goal[1]}, [goal[1]]
    while frontier:
        here = frontier.pop()
        for _, hi, lo in edges:
            if hi == here and lo not in reached:
                reached.add(lo)
                frontier.append(lo)
    return goal[2] in reached


def transitive_chain(rng: random.Random, steps: int | None = None, swap: bool | None = None) -> tuple[list[str], str]:
    """Premises of an ordered chain and one conclusion that needs at least two of them.

    Each premise is said in either direction, premises are often swapped, the concluded
    pair may skip a link or leave one out, and the conclusion itself goes either way, so
    no surface rule ("first-named first") predicts it.
    """
    steps = steps or rng.choice([2, 2, 2, 3, 3, 3, 4])
    more, less = rng.choice(RELATIONS)
    people = rng.sample(NAMES, steps + 1)  # people[0] has the most of the quality
    premises = [f"{a} is {more} than {b}." if rng.random() < 0.5 else f"{b} is {less} than {a}."
                for a, b in zip(people, people[1:], strict=False)]
    if swap if swap is not None else rng.random() < 0.6:
        rng.shuffle(premises)
    lead = rng.choice(_CONNECTIVES)
    if rng.random() < 0.15:
        if rng.random() < 0.5:
            return premises, f"{lead} {people[0]} is the {superlative(more)} of them all."
        return premises, f"{lead} {people[-1]} is the {superlative(less)} of them all."
    i, j = rng.choice([(i, j) for i in range(steps + 1) for j in range(i + 2, steps + 1)])
    if rng.random() < 0.5:
        return premises, f"{lead} {people[i]} is {more} than {people[j]}."
    return premises, f"{lead} {people[j]} is {less} than {people[i]}."


def _transitive(rng: random.Random) -> list[str]:
    """A chain as sentences, sometimes opened by a line naming everyone in random order."""
    premises, conclusion = transitive_chain(rng)
    if rng.random() >= 0.3:
        return premises + [conclusion]
    facts = [_fact(_PREMISE.match(p)) for p in premises]
    names = list(dict.fromkeys(n for f in facts for n in f[1:]))
    rng.shuffle(names)
    intro = f"{', '.join(names[:-1])} and {names[-1]} compared their {_TOPICS[facts[0][0]]}."
    return [intro] + premises + [conclusion]


# Valid syllogism forms: (premises, conclusion, negative). {a}..{d} are singular category words,
# {pa}..{pd} their plurals, {n} a name. The conclusion is negative exactly when a premise is: the
# quality rule of valid syllogisms, which is what a model must read off the premises.
SYLLOGISM_FORMS = {
    2: [(["All {pa} are {pb}.", "All {pb} are {pc}."], "all {pa} are {pc}", False),
        (["Every {a} is a {b}.", "{n} is a {a}."], "{n} is a {b}", False),
        (["No {a} is a {b}.", "{n} is a {a}."], "{n} is not a {b}", True),
        (["All {pa} are {pb}.", "No {pb} are {pc}."], "no {pa} are {pc}", True),
        (["Every {a} is a {b}.", "{n} is not a {b}."], "{n} is not a {a}", True),
        (["No {pa} are {pb}.", "All {pc} are {pa}."], "no {pc} are {pb}", True)],
    3: [(["All {pa} are {pb}.", "All {pb} are {pc}.", "All {pc} are {pd}."], "all {pa} are {pd}", False),
        (["Every {a} is a {b}.", "Every {b} is a {c}.", "{n} is a {a}."], "{n} is a {c}", False),
        (["All {pa} are {pb}.", "All {pb} are {pc}.", "No {pc} are {pd}."], "no {pa} are {pd}", True),
        (["Every {a} is a {b}.", "Every {b} is a {c}.", "{n} is not a {c}."], "{n} is not a {a}", True),
        (["No {a} is a {b}.", "Every {c} is a {a}.", "{n} is a {c}."], "{n} is not a {b}", True)],
}


def syllogism(rng: random.Random, premises: int | None = None, negative: bool | None = None,
              words: list[str] | None = None, leads: list[str] | None = None) -> tuple[list[str], str]:
    """A valid syllogism over nonsense words, affirmative or negative about equally often.

    `premises` (2 or 3), `negative` and the category `words` may be fixed by the caller (the
    scenes use words never seen in training); premises are shuffled half the time.
    """
    premises = premises or rng.choice([2, 2, 3])
    negative = rng.random() < 0.5 if negative is None else negative
    forms = [f for f in SYLLOGISM_FORMS[premises] if f[2] == negative]
    lines, conclusion, _ = rng.choice(forms)
    a, b, c, d = rng.sample(words or NONSENSE_WORDS, 4)
    slots = {"a": a, "b": b, "c": c, "d": d, "pa": plural(a), "pb": plural(b), "pc": plural(c), "pd": plural(d),
             "n": rng.choice(NAMES)}
    lines = [line.format(**slots) for line in lines]
    if rng.random() < 0.5:
        rng.shuffle(lines)
    return lines, f"{rng.choice(leads or _CONNECTIVES[:4])} {conclusion.format(**slots)}."


def _syllogism_lines(rng: random.Random) -> list[str]:
    premises, conclusion = syllogism(rng)
    return premises + [conclusion]


def _arithmetic(rng: random.Random, number: int) -> str:
    """A Markdown story whose every step states the new total, ending with the answer.
    Counts never fall below 2, so every "N apples" reads right."""
    name, other = rng.sample(NAMES, 2)
    item = rng.choice(FOODS)
    title = f"## {number}. {name} and the {item}"
    if rng.random() < 0.3:
        return "\n".join([title, "", _two_person_sum(rng, name, other, item)])
    he, him = ("she", "her") if name in _SHE else ("he", "him")
    have = rng.randint(2, 12)
    sentences = [f"{name} had {have} {item}."]
    for _ in range(rng.randint(2, 4)):
        move = rng.choice(["buy", "get", "bags", "give", "lose", "eat"] if have > 3 else ["buy", "get", "bags"])
        if move == "buy":
            n = rng.randint(1, 9)
            have += n
            sentences.append(f"{_cap(he)} bought {n} more, so {he} had {have}.")
        elif move == "get":
            n = rng.randint(1, 6)
            have += n
            sentences.append(f"{other} gave {him} {n} more, so {he} had {have}.")
        elif move == "bags" and have < 40:
            k, m = rng.randint(2, 4), rng.randint(2, 5)
            have += k * m
            sentences.append(f"Then {he} bought {k} bags with {m} {item} in each. That is {k * m} more, so {he} had {have}.")
        elif move == "give" or (move == "eat" and item not in _EDIBLE):
            n = rng.randint(1, have - 2)
            have -= n
            sentences.append(f"{_cap(he)} gave {n} to {other}, so {he} had {have} left.")
        elif move == "eat":
            n = rng.randint(1, min(3, have - 2))
            have -= n
            sentences.append(f"{_cap(he)} ate {n}, so {he} had {have} left.")
        elif move == "lose":
            n = rng.randint(1, min(4, have - 2))
            have -= n
            sentences.append(f"On the way home {he} dropped {n}, so {he} had {have}.")
    if rng.random() < 0.5:
        sentences.append(f"How many {item} does {name} have now? {name} has {have} {item}.")
    else:
        sentences.append(f"So {name} has {have} {item} now.")
    shares = [k for k in (2, 3, 4) if have % k == 0 and have >= 2 * k]
    if shares and rng.random() < 0.25:
        k = rng.choice(shares)
        sentences.append(f"If {name} shares them equally among {k} friends, each friend gets {have // k}.")
    return "\n".join([title, "", " ".join(sentences)])


def _two_person_sum(rng: random.Random, a: str, b: str, item: str) -> str:
    """Two people pass items back and forth: both totals must be tracked at once."""
    x, y = rng.randint(3, 12), rng.randint(3, 12)
    sentences = [f"{a} had {x} {item} and {b} had {y}."]
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.5 and x > 3:
            n = rng.randint(1, x - 2)
            x, y = x - n, y + n
            sentences.append(f"{a} gave {n} to {b}, so {a} had {x} and {b} had {y}.")
        elif y > 3:
            n = rng.randint(1, y - 2)
            x, y = x + n, y - n
            sentences.append(f"{b} gave {n} to {a}, so {b} had {y} and {a} had {x}.")
    if rng.random() < 0.5:
        sentences.append(f"Together they have {x} + {y} = {x + y} {item}.")
    else:
        sentences.append(f"So now {a} has {x} {item} and {b} has {y}.")
    return " ".join(sentences)


# Each tuple is a causal chain: every event causes the next. {a} and {b} are filled with names.
CAUSAL_CHAINS = [
    ("it rained all night", "the road was wet", "the cars drove slowly", "the bus came late"),
    ("the wind was very strong", "a tree fell on the wires", "the power went out", "the house got cold"),
    ("the milk was left on the table", "the milk went sour", "there was no milk for the tea"),
    ("{a} forgot the keys", "{a} could not open the door", "{a} waited outside in the cold", "{a} caught a cold"),
    ("the alarm did not ring", "{a} woke up late", "{a} missed the train", "{a} was late for work"),
    ("the sun was hot all week", "the ground dried out", "the plants wilted", "the garden gave few beans"),
    ("the river rose after the storm", "the low bridge was under water", "the bridge was closed",
     "the children could not get to school"),
    ("the oven was too hot", "the bread burned", "the kitchen filled with smoke", "the smoke alarm went off"),
    ("the ice on the pond was thin", "the ice cracked under the dog", "the dog fell into the water"),
    ("{a} practised the piano every day", "{a} played better and better", "{a} won a prize at the concert"),
    ("the shop ran out of flour", "{a} could not bake a cake", "{a} bought biscuits instead"),
    ("the stove went out in the night", "the room got cold", "{a} put on a second sweater"),
    ("the phone battery was empty", "{a} could not call {b}", "{b} waited at the cafe alone"),
    ("the glass fell off the shelf", "the glass broke", "there were sharp pieces on the floor", "{a} swept the floor"),
    ("it snowed heavily", "the roads were blocked", "the school was closed", "the children played in the snow"),
    ("{a} ate too much cake", "{a} felt sick", "{a} went to bed early"),
    ("the night was very cold", "the water pipe froze", "the pipe burst", "water ran into the kitchen"),
    ("{a} watered the seeds every morning", "the seeds sprouted", "the garden was green in May"),
    ("the clock was slow", "{a} came to the station late", "the train left without {a}"),
    ("{a} left the window open", "the rain came in", "the books on the desk got wet"),
    ("the car ran out of petrol", "the car stopped on the road", "{a} had to walk to the village"),
    ("the bulb in the hall burned out", "the hall was dark", "{a} tripped over a box", "{a} hurt a knee"),
    ("the dog barked all night", "nobody slept well", "everyone was tired in the morning"),
    ("{a} lent the bike to {b}", "{a} had no bike on Monday", "{a} walked to school"),
    ("the team trained hard all winter", "the team got faster", "the team won the spring race"),
]


def _link(rng: random.Random, cause: str, effect: str) -> str:
    """One cause-effect sentence, in one of several word orders."""
    form = rng.randrange(5)
    if form == 0:
        return f"Because {cause}, {effect}."
    if form == 1:
        return f"{_cap(cause)}, so {effect}."
    if form == 2:
        return f"{_cap(cause)}. Therefore {effect}."
    if form == 3:
        return f"{_cap(effect)} because {cause}."
    return f"{_cap(cause)}. As a result, {effect}."


def _cause(rng: random.Random) -> str:
    """A single link, or a chain of links with a conclusion from the first cause to the last effect."""
    chain = rng.choice(CAUSAL_CHAINS)
    a, b = rng.sample(NAMES, 2)
    events = [e.format(a=a, b=b) for e in chain]
    length = rng.randint(2, len(events))
    start = rng.randint(0, len(events) - length)
    events = events[start:start + length]
    links = [_link(rng, c, e) for c, e in zip(events, events[1:], strict=False)]
    if len(links) == 1:
        return links[0]
    if rng.random() < 0.3:
        links.reverse()
    if rng.random() < 0.5:
        return " ".join(links) + f" So {events[-1]}, all because {events[0]}."
    return " ".join(links) + f" Therefore {events[-1]} because {events[0]}."


def _holds(rng: random.Random) -> list[str]:
    """Who holds what after gives, takes and puts, with moves of a second object and idle
    sentences mixed in, so "the last name mentioned" is not the answer."""
    people = rng.sample(NAMES, rng.choice([3, 3, 4]))
    things = rng.sample(OBJECTS, rng.choice([1, 1, 2]))
    holder = {t: rng.choice(people) for t in things}
    sentences = [f"{holder[t]} has the {t}." for t in things]
    for _ in range(rng.randint(2, 5)):
        t = rng.choice(things)
        h = holder[t]
        x = rng.choice([p for p in people if p != h])
        move = rng.randrange(6)
        if move == 0:
            sentences.append(f"{h} gives the {t} to {x}.")
        elif move == 1:
            sentences.append(f"{x} takes the {t} from {h}.")
        elif move == 2:
            place = rng.choice(PLACES)
            sentences.append(f"{h} puts the {t} in {place}. Later {x} takes the {t} out of {place}.")
        elif move == 3:
            sentences.append(f"{h} throws the {t} to {x}, and {x} catches it.")
        elif move == 4:
            sentences.append(f"{h} hands the {t} to {x}.")
        else:
            sentences.append(_idle(rng, x, h, t))
            continue
        holder[t] = x
    if rng.random() < 0.4:
        t = rng.choice(things)
        x, y = rng.sample([p for p in people if p != holder[t]] + [holder[t]], 2)
        sentences.append(_idle(rng, x, y, t))
    t = rng.choice(things)
    sentences.append(f"So now {holder[t]} has the {t}.")
    return sentences


def _idle(rng: random.Random, x: str, y: str, thing: str) -> str:
    """A sentence that names people (and maybe the object) but moves nothing."""
    return rng.choice([f"{x} waves to {y}.", f"{x} sits down next to {y}.", f"{x} looks at the {thing}.",
                       f"{x} asks {y} about the weather.", f"{x} opens the window."])


# ------------------------------------------------------------------ distractors
_DISHES = {  # kind: ([(name word, main ingredient)], [dish words])
    "soups": ([("tomato", "tomatoes"), ("onion", "onions"), ("pea", "dried peas"), ("fish", "fish fillet"),
               ("bean", "beans"), ("mushroom", "mushrooms"), ("beet", "beets"), ("cabbage", "cabbage"),
               ("lentil", "lentils"), ("carrot", "carrots"), ("pumpkin", "pumpkin"), ("chicken", "chicken")],
              ["soup", "broth", "stew"]),
    "breads": ([("rye", "rye flour"), ("oat", "oat flakes"), ("corn", "corn meal"), ("potato", "mashed potato"),
                ("seed", "sunflower seeds"), ("milk", "milk powder"), ("honey", "honey"), ("pumpkin", "pumpkin puree")],
               ["bread", "rolls", "loaf", "buns"]),
    "desserts": ([("apple", "apples"), ("plum", "plums"), ("lemon", "lemons"), ("cherry", "cherries"),
                  ("pear", "pears"), ("carrot", "carrots"), ("apricot", "apricots"), ("peach", "peaches"),
                  ("quince", "quinces")], ["pie", "cake", "tart", "pudding", "cookies"]),
}
_INGREDIENTS = {
    "soups": ["onion", "carrot", "potatoes", "celery", "garlic", "bay leaf", "black pepper", "salt", "butter",
              "stock", "sour cream", "dill", "parsley", "tomato paste"],
    "breads": ["flour", "rye flour", "dry yeast", "salt", "sugar", "warm water", "milk", "butter", "sunflower oil",
               "seeds", "honey", "egg"],
    "desserts": ["flour", "sugar", "butter", "eggs", "milk", "cream", "vanilla", "cinnamon", "honey", "lemon zest",
                 "baking powder", "salt"],
}
_PINCH = {"salt", "black pepper", "bay leaf", "dry yeast", "sugar", "vanilla", "cinnamon", "lemon zest", "baking powder",
          "seeds", "garlic", "dill", "parsley"}
_LIQUID = {"stock", "milk", "warm water", "cream", "sour cream", "sunflower oil", "honey", "tomato paste"}


def _measure(rng: random.Random, ingredient: str) -> str:
    """A plausible amount for the ingredient (a pinch of salt, a cup of milk, grams of flour)."""
    if ingredient in _PINCH:
        return rng.choice(["a pinch", "1 teaspoon", "2 teaspoons"])
    if ingredient in _LIQUID:
        return rng.choice(["2 spoons", "half a cup", "1 cup", "2 cups"])
    if ingredient in ("egg", "eggs"):
        return rng.choice(["1", "2", "3"])
    return rng.choice(["50 g", "100 g", "200 g", "300 g", "500 g"])


_STEPS = {
    "soups": ["Peel and chop the onion and the carrot.", "Melt the butter in a large pot.",
              "Fry the onion for {n} minutes, stirring now and then.", "Pour in the stock and bring it to the boil.",
              "Add the {main} and the potatoes.", "Cover the pot and let it simmer for {m} minutes.",
              "Season with salt and pepper.", "Stir in the herbs just before serving.",
              "Serve hot with dark bread and a spoon of sour cream."],
    "breads": ["Mix the flour, the salt and the sugar in a large bowl.", "Stir the yeast into the warm water.",
               "Pour the water into the flour and add the {main}.", "Knead the dough for {n} minutes.",
               "Cover the bowl with a towel and leave it in a warm place for an hour.",
               "Shape the dough and put it on a tray.", "Brush the top with milk and sprinkle the seeds.",
               "Bake at 200 degrees for {m} minutes.", "Let it cool on a rack before cutting."],
    "desserts": ["Beat the butter and the sugar until pale.", "Add the eggs one at a time.",
                 "Fold in the flour and the baking powder.", "Wash the {main} and cut into small pieces.",
                 "Grease a round tin with butter.", "Pour the batter into the tin and lay the {main} on top.",
                 "Bake at 180 degrees for {m} minutes.", "Dust with sugar and serve with cream."],
}


def _recipe(rng: random.Random, kind: str, dish: str, main: str) -> str:
    ingredients = rng.sample(_INGREDIENTS[kind], rng.randint(5, 8))
    lines = [f"## {_cap(dish)}", "", f"Serves {rng.randint(2, 8)}. Takes about {rng.choice([30, 40, 45, 60, 90])} minutes.",
             "", "### Ingredients", "", f"- {main}: {rng.choice([200, 300, 500, 700])} g"]
    lines += [f"- {i}: {_measure(rng, i)}" for i in ingredients]
    lines += ["", "### Steps", ""]
    steps = [s for s in _STEPS[kind] if rng.random() < 0.8] or _STEPS[kind][:3]
    for k, step in enumerate(steps, 1):
        lines.append(f"{k}. " + step.format(main=main, n=rng.choice([5, 8, 10]), m=rng.choice([15, 20, 25, 30, 40])))
    return "\n".join(lines) + "\n"


_WAYS = (None, "the second", "the third", "the fourth", "the fifth")  # how a dish is given again


def _recipes_chapter(rng: random.Random, kind: str, target: int) -> str:
    mains, bases = _DISHES[kind]
    dishes = [(f"{word} {base}", main) for word, main in mains for base in bases]
    parts = [f"# {_cap(kind)}\n"]
    words = 0
    # Old cookbooks give a dish several ways; once every dish is written, start again so the
    # chapter reaches `target` words.
    for way in _WAYS:
        rng.shuffle(dishes)
        for dish, main in dishes:
            if words >= target:
                return "\n".join(parts)
            parts.append(_recipe(rng, kind, dish if way is None else f"{dish}, {way} way", main))
            words += len(parts[-1].split())
    return "\n".join(parts)


_SKIES = {"cold": ["light snow", "heavy snow", "clear and frosty", "grey, no wind", "sleet in the afternoon", "fog"],
          "mild": ["light rain", "cloudy", "sunny spells", "drizzle all day", "fog in the morning", "clear sky"],
          "warm": ["sunny and calm", "hot, clear sky", "thunder in the evening", "a short shower at noon",
                   "hazy", "cloudy, warm"]}
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]  # not strftime: locale
_MEAN_TEMP = [-6, -5, 0, 7, 13, 17, 20, 18, 12, 6, 0, -4]


def _weather_line(rng: random.Random, day: dt.date) -> str:
    temp = _MEAN_TEMP[day.month - 1] + rng.randint(-4, 4)
    sky = rng.choice(_SKIES["cold" if temp < 1 else "mild" if temp < 15 else "warm"])
    line = (f"{day.isoformat()} {_WEEKDAYS[day.weekday()][:3]}: {sky}; {temp:+d} C at noon, {temp - rng.randint(2, 8):+d} C at night; "
            f"wind {rng.choice(['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'])} {rng.randint(0, 14)} m/s; "
            f"pressure {rng.randint(738, 772)} mm; humidity {rng.randint(40, 98)}%.")
    if rng.random() < 0.15:
        line += " " + rng.choice(["Birds at the feeder.", "Ice on the puddles.", "Rainbow after noon.",
                                  "Dew on the grass.", "Stars visible at night.", "Leaves on the path."])
    return line


_GOODS = {  # item: amounts it is bought in
    "potatoes": ["1 kg", "2 kg", "3 kg"], "onions": ["1 kg", "500 g"], "carrots": ["1 kg", "500 g"],
    "apples": ["1 kg", "2 kg", "6"], "pears": ["4", "6", "1 kg"], "eggs": ["6", "10", "12"],
    "milk": ["1 litre", "2 litres"], "butter": ["1 pack", "2 packs"], "cheese": ["200 g", "300 g", "500 g"],
    "rye bread": ["1 loaf", "2 loaves"], "white bread": ["1 loaf"], "rice": ["1 kg", "1 pack"],
    "pasta": ["1 pack", "2 packs"], "tea": ["1 box", "1 pack"], "coffee": ["1 jar", "1 pack"],
    "sugar": ["1 kg", "2 kg"], "salt": ["1 pack"], "flour": ["1 kg", "2 kg"], "soap": ["1 bar", "2 bars", "3 bars"],
    "toothpaste": ["1 tube", "2 tubes"], "candles": ["4", "6", "10"], "paper towels": ["1 roll", "2 rolls", "4 rolls"],
    "tomatoes": ["500 g", "1 kg"], "cucumbers": ["3", "4", "1 kg"], "lemons": ["2", "3", "4"],
    "honey": ["1 jar"], "oats": ["1 pack", "1 kg"], "fish": ["500 g", "1 kg", "2 fillets"],
    "chicken": ["1 whole", "1 kg"], "jam": ["1 jar", "2 jars"], "batteries": ["2", "4", "1 pack"],
    "matches": ["1 box", "2 boxes"], "yogurt": ["2 pots", "4 pots"], "cabbage": ["1 head", "half a head"],
    "beans": ["1 tin", "2 tins", "500 g"],
}


def _shopping_list(rng: random.Random, day: dt.date) -> str:
    name = rng.choice(NAMES)
    shop = rng.choice(["market", "corner shop", "supermarket", "bakery and grocer", "chemist and grocer"])
    lines = [f"## {_WEEKDAYS[day.weekday()]} {day.isoformat()}, {name}, {shop}", ""]
    lines += [f"- {g}, {rng.choice(_GOODS[g])}" for g in rng.sample(sorted(_GOODS), rng.randint(5, 9))]
    if rng.random() < 0.3:
        lines.append(f"- {rng.choice(['(ask for the small ones)', '(the cheap brand)', '(if fresh)', '(not the big pack)'])}")
    return "\n".join(lines) + "\n"


_LEADS = ("So ", "Therefore ", "This means ", "It follows ", "As a result")


def _shuffled(rng: random.Random, target: int = WORDS_TARGET, window: int = 10) -> str:
    """Sentences of the teaching generators shuffled across the whole text, then repaired so
    that no conclusion has a sentence of its own example, or premises implying it, nearby."""
    units: list[tuple[int, bool, str]] = []  # (example id, is conclusion, sentence)
    makers = [_transitive, _transitive, _syllogism_lines, _holds, lambda r: re.findall(r"[^.]+\.", _cause(r))]
    words = example = 0
    while words < target:
        sentences = [s.strip() for s in rng.choice(makers)(rng)]
        example += 1
        units += [(example, k == len(sentences) - 1 or s.startswith(_LEADS), s) for k, s in enumerate(sentences)]
        words += sum(len(s.split()) for s in sentences)
    rng.shuffle(units)

    def intact(i: int) -> bool:
        example, is_conclusion, sentence = units[i]
        if not is_conclusion:
            return False
        near = range(max(0, i - window), min(len(units), i + window + 1))
        return (any(units[k][0] == example for k in near if k != i)
                or derivable([u[2] for u in units[max(0, i - window):i]], sentence))

    for _ in range(100):
        bad = [i for i in range(len(units)) if intact(i)]
        if not bad:
            break
        for i in bad:
            j = rng.randrange(len(units))
            units[i], units[j] = units[j], units[i]
    else:
        raise RuntimeError("could not break every chain apart")
    sentences = [u[2] for u in units]
    return "\n".join(" ".join(sentences[i:i + 6]) for i in range(0, len(sentences), 6)) + "\n"


# ------------------------------------------------------------------ Russian diary
# (nominative, genitive, dative, accusative, instrumental, male)
_RU_NAMES = [("Петя", "Пети", "Пете", "Петю", "Петей", True), ("Коля", "Коли", "Коле", "Колю", "Колей", True),
             ("Дима", "Димы", "Диме", "Диму", "Димой", True), ("Серёжа", "Серёжи", "Серёже", "Серёжу", "Серёжей", True),
             ("Андрей", "Андрея", "Андрею", "Андрея", "Андреем", True), ("Миша", "Миши", "Мише", "Мишу", "Мишей", True),
             ("Маша", "Маши", "Маше", "Машу", "Машей", False), ("Оля", "Оли", "Оле", "Олю", "Олей", False),
             ("Аня", "Ани", "Ане", "Аню", "Аней", False), ("Таня", "Тани", "Тане", "Таню", "Таней", False),
             ("Света", "Светы", "Свете", "Свету", "Светой", False), ("Наташа", "Наташи", "Наташе", "Наташу", "Наташей", False)]
_RU_MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
              "ноября", "декабря"]
_RU_WEEKDAYS = ["понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье"]
_RU_WEATHER = {
    "winter": ["С утра шёл снег, весь двор замело.", "Мороз, минус {5-25}, окна все в узорах.",
               "Солнце и снег, всё блестит так, что больно глазам.", "Оттепель, на дорогах каша из снега.",
               "Метель весь день, из дома почти не выходила.", "Ночью было минус {15-30}, машины во дворе не завелись."],
    "spring": ["На улице капель, снег почти сошёл.", "Первый по-настоящему тёплый день, плюс {14-20}.",
               "Прилетели скворцы, во дворе шумно.", "Моросит дождь, но уже пахнет весной.",
               "Зацвела черёмуха, и сразу похолодало.", "На деревьях первые листочки."],
    "summer": ["Жара, в тени плюс {27-34}.", "К вечеру была гроза, потом стало свежо.",
               "Тёплый тихий вечер, только комары мешают.", "С утра пасмурно, днём разошлось.",
               "Ходили купаться на речку, вода тёплая.", "Дождь с самого утра, плюс {9-13}, как осенью."],
    "autumn": ["Листья совсем жёлтые, в парке очень красиво.", "Целый день моросил дождь.",
               "Первые заморозки, на лужах ледок.", "Ветрено и сыро, темнеет рано.",
               "Тепло, плюс {16-22}, настоящее бабье лето.", "Туман такой, что соседнего дома не видно."],
}
_RU_DOINGS = [
    "Утром ходила на рынок, купила картошки, морковки и яблок.", "Весь день убиралась, наконец помыла окна.",
    "На работе было много дел, вернулась только в восьмом часу.", "Пекла пирог с капустой, получился пышный.",
    "Сварила борщ на три дня.", "Вечером читала, никак не могу оторваться от книги.",
    "Гладила бельё и слушала радио.", "Ездила к маме, помогла ей по хозяйству.",
    "Сходила в библиотеку, взяла две книги.", "Вязала шарф, осталось совсем немного.",
    "Разбирала старые фотографии, долго над ними сидела.", "Сходила в поликлинику, сдала анализы.",
    "Заплатила за квартиру и за телефон.", "Писала письмо тёте Вале в Самару.",
    "Полила цветы, фиалка опять цветёт.", "Гуляла в парке почти два часа.",
    "Перечитываю «Евгения Онегина», как в школе.", "Соседка сказала — к выходным потеплеет.",
    "Купила новые шторы на кухню — синие, в белый горошек.", "Весь вечер шила, починила пальто.",
]
_RU_VISITS = [  # (male form, female form); {n} nominative, {a} accusative, {i} instrumental
    ("Вечером заходил {n}, пили чай с вареньем.", "Вечером заходила {n}, пили чай с вареньем."),
    ("Звонил {n}, договорились встретиться в субботу.", "Звонила {n}, договорились встретиться в субботу."),
    ("{n} принёс пирожки от своей мамы.", "{n} принесла пирожки от своей мамы."),
    ("{n} помог мне донести сумки до дома.", "{n} помогла мне донести сумки до дома."),
    ("Встретила {a} у магазина, долго болтали.", "Встретила {a} у магазина, долго болтали."),
    ("Ходили с {i} в кино, фильм так себе.", "Ходили с {i} в кино, фильм так себе."),
]
_RU_EVENINGS = ["Легла пораньше.", "Настроение хорошее.", "Немного болит голова, выпила чаю с мёдом.",
                "Завтра не забыть купить хлеба и молока.", "Долго не могла уснуть.",
                "Вечером смотрела телевизор, ничего интересного.", "Устала, но день был хороший.",
                "Потратила за день {m} {rub}, всё дорожает."]


def _ru_plural(n: int, one: str, few: str, many: str) -> str:
    """Russian noun form after a number: 1 рубль, 3 рубля, 5 рублей."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _ru_fill(rng: random.Random, template: str) -> str:
    """Fill a temperature "{5-25}" with a number in that range and a sum "{m} {rub}" with the right noun form."""
    text = re.sub(r"\{(\d+)-(\d+)\}", lambda m: str(rng.randint(int(m[1]), int(m[2]))), template)
    money = rng.randint(4, 80) * 25
    return text.replace("{m} {rub}", f"{money} {_ru_plural(money, 'рубль', 'рубля', 'рублей')}")


def _ru_visit(rng: random.Random) -> str:
    nom, _gen, _dat, acc, ins, male = rng.choice(_RU_NAMES)
    return rng.choice(_RU_VISITS)[0 if male else 1].format(n=nom, a=acc, i=ins)


def _diary_entry(rng: random.Random, day: dt.date) -> str:
    season = ["winter", "winter", "spring", "spring", "spring", "summer", "summer", "summer", "autumn", "autumn",
              "autumn", "winter"][day.month - 1]
    body = [_ru_fill(rng, rng.choice(_RU_WEATHER[season]))] + rng.sample(_RU_DOINGS, rng.randint(1, 3))
    if rng.random() < 0.6:
        body.append(_ru_visit(rng))
    body.append(_ru_fill(rng, rng.choice(_RU_EVENINGS)))
    header = f"{day.day} {_RU_MONTHS[day.month - 1]} {day.year} г., {_RU_WEEKDAYS[day.weekday()]}"
    return header + "\n" + " ".join(body) + "\n"


def _diary(rng: random.Random, year: int, target: int) -> str:
    """Entries every day from 1 January until `target` words (or the year's end)."""
    day = dt.date(year, 1, 1)
    parts: list[str] = []
    words = 0
    while words < target and day.year == year:
        parts.append(_diary_entry(rng, day))
        words += len(parts[-1].split())
        day += dt.timedelta(days=1)
    return "\n".join(parts)


# koi8-r has no guillemets or em dash; files of that era used plain quotes and hyphens.
_KOI8_SAFE = str.maketrans({"«": '"', "»": '"', "—": "-"})


# ------------------------------------------------------------------ writers
def generate_corpora(out_dir: Path, seed: int = SEED) -> list[Path]:
    """Write the ten corpora under `out_dir`; each has its own seeded stream, so changing one
    generator leaves the others' bytes alone."""
    out_dir = Path(out_dir)
    written: list[Path] = []

    def put(rel: str, text: str, encoding: str = "utf-8") -> None:
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        written.append(path)

    def rng_for(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    put("transitive_relations.txt", _fill(rng_for("transitive"), lambda r: " ".join(_transitive(r))))
    put("syllogisms.txt", _fill(rng_for("syllogisms"), lambda r: " ".join(_syllogism_lines(r))))
    stories = iter(range(1, 10_000))
    put("arithmetic_stories.md", "# Arithmetic stories\n\n"
        + _fill(rng_for("arithmetic"), lambda r: _arithmetic(r, next(stories)), sep="\n\n"))
    put("cause_and_effect.txt", _fill(rng_for("cause"), _cause))
    rng = rng_for("holds")
    for k in (1, 2, 3):
        put(f"who_holds_what/0{k}.txt",
            f"Chapter {k}\n\n" + _fill(rng, lambda r: " ".join(_holds(r)), WORDS_TARGET // 3, sep="\n\n"))
    rng = rng_for("recipes")
    for kind in ("soups", "breads", "desserts"):
        put(f"recipes/{kind}.md", _recipes_chapter(rng, kind, WORDS_TARGET // 3))
    days = (dt.date(2021, 1, 1) + dt.timedelta(days=k) for k in range(10_000))
    put("weather_log.txt", _fill(rng_for("weather"), lambda r: _weather_line(r, next(days))))
    rng = rng_for("shopping")
    shop_days = (dt.date(2021, 1, 2) + dt.timedelta(days=k * 3 + rng.randint(0, 2)) for k in range(10_000))
    put("shopping_lists.md", "# Shopping lists\n\n" + _fill(rng, lambda r: _shopping_list(r, next(shop_days))))
    put("shuffled_sentences.txt", _shuffled(rng_for("shuffled")))
    rng = rng_for("diary")
    put("diary_ru/2019.txt", _diary(rng, 2019, WORDS_TARGET // 2).replace("\n", "\r\n"), "cp1251")
    put("diary_ru/2020.txt", _diary(rng, 2020, WORDS_TARGET // 2).translate(_KOI8_SAFE), "koi8-r")
    return written


# ------------------------------------------------------------------ pretraining text
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


def generate_benchmark_items(seed: int = SEED, count: int = 60) -> list[dict]:
    """Two-choice transitive items for the shipped lm-eval task ``ltm_relations`` (offline).

    Fresh chains from their own seed, so the items are not training sentences; the wrong
    choice is the reversed conclusion.
    """
    rng = random.Random(f"{seed}:benchmark")
    items: list[dict] = []
    while len(items) < count:
        premises, conclusion = transitive_chain(rng)
        match = _CONCLUSION.match(conclusion)
        if not match:  # superlative conclusions have no simple reversal
            continue
        lead, (a, word, b) = conclusion[: match.start(1)].strip(), match.groups()
        right, wrong = f"{a} is {word} than {b}.", f"{b} is {word} than {a}."
        choices = [right, wrong] if rng.random() < 0.5 else [wrong, right]
        items.append({"context": " ".join(premises) + " " + lead, "choices": choices, "label": choices.index(right)})
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltm.samplegen", description="Regenerate the sample corpora and pretraining text.")
    parser.add_argument("--out", default="corpora", help="shelf folder to write (default: corpora)")
    parser.add_argument("--pretrain", default=str(Path(__file__).parent / "data" / "pretrain.txt"),
                        help="pretraining text to write (default: ltm/data/pretrain.txt)")
    parser.add_argument("--heldout", default=str(Path(__file__).parent / "data" / "general_heldout.txt"),
                        help="general held-out text for perplexity (default: ltm/data/general_heldout.txt)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for path in generate_corpora(Path(args.out), args.seed):
        print(path)
    Path(args.pretrain).parent.mkdir(parents=True, exist_ok=True)
    Path(args.pretrain).write_bytes(generate_pretrain_text(args.seed).encode("utf-8"))
    print(args.pretrain)
    # Same kind of text as the pretraining, never seen in it: forgetting shows up here first.
    Path(args.heldout).write_bytes(generate_pretrain_text(args.seed + 1, target_words=6_000).encode("utf-8"))
    print(args.heldout)
    tasks = Path(__file__).parent / "tasks" / "ltm_relations.jsonl"
    tasks.parent.mkdir(parents=True, exist_ok=True)
    tasks.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in generate_benchmark_items(args.seed)),
                     encoding="utf-8")
    print(tasks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
