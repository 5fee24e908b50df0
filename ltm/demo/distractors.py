"""Four of the five distractor corpora: recipes, a weather log, shopping lists, and the
teaching sentences shuffled apart so that no chain survives (the fifth, the Russian diary,
is in `diary_ru`).

They are of similar size to the teaching corpora and teach none of their reasoning patterns.
"""

from __future__ import annotations

import datetime as dt
import random
import re

from .teaching import _cause, _holds, _syllogism_lines, _transitive, derivable
from .words import NAMES, WORDS_TARGET, _cap

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
