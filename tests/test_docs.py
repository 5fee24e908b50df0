"""Docs match the code: README's config reference and commands are the real ones."""

from ltm.cli import build_parser
from ltm.config import reference_markdown


def test_readme_config_reference_is_generated_from_the_code(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert reference_markdown() in readme, "regenerate with: python -m ltm.config"


def test_readme_quick_start_is_the_two_make_commands(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert "make overnight" in readme and "make test" in readme
    assert "make test" in (repo_root / ".ci" / "run").read_text()


def test_every_subcommand_in_the_readme_exists_and_has_help(repo_root, capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    readme = (repo_root / "README.md").read_text()
    for name, sub in commands.items():
        assert f"ltm {name}" in readme, name
        assert sub.format_help()


def _readme_rows(readme: str, command: str) -> str:
    """The README command-table rows that describe `ltm <command>` (one row may hold several forms)."""
    return "\n".join(line for line in readme.splitlines()
                     if line.startswith((f"| `ltm {command} ", f"| `ltm {command}`")))


def _options(parser) -> set[str]:
    """Every long option of a parser and of its own subcommands (`ltm scenes generate --family`)."""
    import argparse

    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
        found |= {o for o in action.option_strings if o.startswith("--")}
    return found - {"--help"}


def test_every_flag_of_every_subcommand_is_in_the_readme_command_table(repo_root):
    readme = (repo_root / "README.md").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices
    # --config and --set are common to (nearly) every command: said once below the table
    assert "`--config EXP`" in readme and "`--set section.key=value`" in readme
    missing = []
    for name, sub in commands.items():
        rows = _readme_rows(readme, name)
        assert rows, f"no row for ltm {name} in the README command table"
        missing += [f"ltm {name} {flag}" for flag in sorted(_options(sub) - {"--config", "--set"}) if flag not in rows]
    assert not missing, f"README command table lacks: {', '.join(missing)}"


def test_readme_maps_the_config_keys_to_axolotl_and_llama_factory(repo_root):
    from ltm.schema import other_tools_markdown

    readme = (repo_root / "README.md").read_text()
    assert other_tools_markdown() in readme, "regenerate with: python -m ltm.schema"
    for name in ("lora_r", "micro_batch_size", "sequence_len", "cutoff_len", "lora_rank"):
        assert f"`{name}" in readme
