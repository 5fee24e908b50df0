"""User-facing errors.

Anything the user can fix (a bad file, a wrong key, a missing model) is raised as an
``LtmError``: the CLI prints its message as one line (or one line per problem) and exits
non-zero, without a traceback unless ``--debug`` is given. Everything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


class LtmError(Exception):
    """A problem the user can fix; the message names the file/key and the fix."""

    exit_code = 2

    def lines(self) -> list[str]:
        return [str(self)]


class ConfigError(LtmError):
    """Several problems found in one file, reported together rather than one per run."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def lines(self) -> list[str]:
        return self.problems
