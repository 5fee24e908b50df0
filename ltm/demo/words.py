"""The shared vocabulary of the demo texts: names, relations, nonsense words, objects, and the
small text helpers every demo generator uses.

The names, relations and nonsense words are module constants so that the scene generator
(`ltm.demo.sample_scenes`) and the scene families (`ltm.families`) can reuse them;
`UNSEEN_NAMES` and `UNSEEN_WORDS` never occur in any generated text, for generalisation checks.
"""

from __future__ import annotations

import random
from collections.abc import Callable

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
