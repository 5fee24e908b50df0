"""The five teaching corpora: transitive relations, syllogisms, arithmetic stories, cause and
effect, and who holds what.

A LoRA trained on chains always written "A > B. B > C. So A > C." learned the shortcut
"the first-named goes first in the conclusion". So these generators vary premise order,
chain length (2-4 steps), direction (taller/shorter) and phrasing, and only real inference
predicts the conclusion. `derivable` checks that inference; the scenes reuse it.
"""

from __future__ import annotations

import random
import re

from .words import FOODS, NAMES, NONSENSE_WORDS, OBJECTS, PLACES, RELATIONS, _cap, plural, superlative

_SHE = {"Anna", "Dora", "Emma", "Grace", "Ivy", "Kate", "Mia", "Olga", "Rosa", "Vera", "Zoe", "Bella", "Eva",
        "Gina", "Iris", "Kim", "Lily", "Nina", "Pam", "Sara"}
_TOPICS = {"taller": "heights", "older": "ages", "faster": "speed", "heavier": "weights",
           "stronger": "strength", "richer": "savings", "louder": "voices"}
_EDIBLE = {"apples", "pears", "cakes", "plums", "nuts", "rolls", "cookies", "carrots"}


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
