"""The demo data: seeded generators of the texts and scenes that ship with ltm.

Nothing here runs in a training or testing loop; these modules wrote the files the demo
reads, and the same seed always gives the same bytes:

- the ten sample corpora in ``corpora/`` (five teach reasoning patterns: `teaching`; five are
  distractors: `distractors`, `diary_ru`), the embedded base's pretraining and held-out text
  in ``ltm/data/`` (`pretrain_text`) and the lm-eval items in ``ltm/tasks/``, all written by
  `sample_corpora`;
- the reasoning scenes in ``scenes/`` (`scenes_depth`, `scenes_pressure`,
  `scenes_consistency`, `scenes_answers`, sharing `scene_tools`), written by `sample_scenes`
  through `ltm.scene_yaml` (the one scene writer, shared with the runtime).

`words` holds the names, relations and nonsense words they all share (the scene families in
``ltm/families`` reuse them too). Regenerate with:

    python -m ltm.demo.sample_corpora          # corpora/, ltm/data/*.txt, ltm/tasks/ltm_relations.jsonl
    python -m ltm.demo.sample_scenes           # scenes/*.yaml
    python -m ltm.demo.sample_scenes --reference   # the scene field table of docs/scenes.md
"""
