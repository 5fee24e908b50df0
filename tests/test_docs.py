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
