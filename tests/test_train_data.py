"""Training data path without a model: packing, mixtures and held-out split keep every token."""

from ltm import train


def test_packing_keeps_the_remainder_block():
    ids = list(range(1000))
    blocks = train.pack(ids, 128)
    assert [t for b in blocks for t in b] == ids
    assert all(len(b) == 128 for b in blocks[:-1]) and len(blocks[-1]) == 1000 % 128


def test_mixture_weight_is_relative_passes_and_keeps_every_corpus_whole():
    a = [[1], [2], [3], [4]]
    b = [[5], [6]]
    mixed = train.mixture_blocks([(a, 1.0), (b, 2.5)])
    assert sorted(x for x in mixed if x in a) == a  # a once
    assert sum(1 for x in mixed if x in b) == 5  # b 2.5 times: 2 passes + half
    assert train.mixture_blocks([(a, 3.0)]) == a  # a lone corpus is one pass whatever its weight


def test_heldout_split_is_at_a_paragraph_break_and_loses_nothing():
    text = "\n\n".join(f"Paragraph {i} has some words in it." for i in range(100))
    kept, held = train.split_heldout(text, 0.1)
    assert held.startswith("Paragraph") and kept.endswith(".")
    assert len(held) > 0.05 * len(text)
    assert (kept + "\n\n" + held) == text
