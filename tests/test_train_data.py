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


def test_documents_are_lines_or_paragraphs():
    text = "One note.\nTwo note.\n\n  Three\nwraps here.\n\n\n"
    assert train.split_documents(text, "lines") == ["One note.", "Two note.", "Three", "wraps here."]
    assert train.split_documents(text, "paragraphs") == ["One note.\nTwo note.", "Three\nwraps here."]


def test_document_packing_keeps_documents_whole_and_in_order():
    documents = [list(range(n * 100, n * 100 + size)) for n, size in enumerate([30, 50, 60, 10, 300, 5])]
    blocks = train.pack_documents(documents, 128)
    assert [t for b in blocks for t in b] == [t for d in documents for t in d]  # every token, in order
    assert all(len(b) <= 128 and sum(b.lengths) == len(b) for b in blocks)
    assert [b.lengths for b in blocks] == [[30, 50], [60, 10], [128], [128], [44, 5]]  # 300 = 128 + 128 + 44


def test_documents_batch_restarts_positions_and_masks_the_first_token():
    from ltm.trainer_backend import documents_batch

    batch = documents_batch([{"input_ids": [5, 6, 7, 8, 9], "seq_lengths": [2, 3]},
                             {"input_ids": [3, 4], "seq_lengths": [2]}], pad_id=1)
    assert batch["position_ids"].tolist() == [[0, 1, 0, 1, 2], [0, 1, 0, 1, 2]]
    assert batch["labels"].tolist() == [[-100, 6, -100, 8, 9], [-100, 4, -100, -100, -100]]
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9], [3, 4, 1, 1, 1]]
    assert batch["use_cache"] is False


def test_packed_document_is_read_exactly_as_alone(make_nano_config):
    """The point of `training.documents`: a document packed after another sees only itself."""
    import torch

    from ltm import basemodel
    from ltm.trainer_backend import documents_batch

    tokenizer = basemodel.load_tokenizer("ltm-nano")
    model = basemodel.load_model(basemodel.resolve("ltm-nano"))
    model.train()  # as in training
    first = tokenizer("Every zorp is a dax. Will is a zorp.", add_special_tokens=False)["input_ids"]
    second = tokenizer("No wug is a krell. Anna is a wug. So Anna is not a krell.", add_special_tokens=False)["input_ids"]
    batch = documents_batch([{"input_ids": first + second, "seq_lengths": [len(first), len(second)]}], pad_id=1)
    batch.pop("labels")
    with torch.no_grad():
        packed = model(**batch).logits[0, len(first):]
        alone = model(input_ids=torch.tensor([second])).logits[0]
        streamed = model(input_ids=torch.tensor([first + second])).logits[0, len(first):]
    assert torch.allclose(packed, alone, atol=1e-4)
    assert not torch.allclose(streamed, alone, atol=1e-2)  # without it the first document leaks in


def test_document_mode_changes_the_adapter_hash_and_stream_keeps_the_old_one(make_nano_config):
    import dataclasses

    config = make_nano_config()
    source = train.load_sources(config, ["syllogisms"])[0]
    stream = train.adapter_hash("f" * 12, source, config)
    assert "documents" not in train._hashed_training(config.training)  # hashes from before the setting stay
    legacy = {k: v for k, v in dataclasses.asdict(config.training).items() if k != "documents"}
    assert train._hashed_training(config.training) == legacy
    config.training.documents = "lines"
    assert train.adapter_hash("f" * 12, source, config) != stream
