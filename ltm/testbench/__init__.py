"""Testbench: every row (the base, its format rows, each adapter) sits the same scenes and benchmarks.

The base is loaded once; adapters are switched in place (peft ``load_adapter``/``set_adapter``),
and the base row runs with adapters disabled. See ``run.py`` for the order of work, and
``row_scoring.py`` for one row's (its item cache, scene items, measures, judge and provenance).
"""
