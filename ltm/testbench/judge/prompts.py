"""The judge's prompts: grading one answer against the principles (``Score:`` / ``Critique:``)
and comparing two answers (``Winner:`` / ``Reason:``)."""

from __future__ import annotations

GRADE_TEMPLATE = """You are a strict grader. Grade the answer to the task below against the principles.

## Task
{prompt}

## Principles
{principles}
{reference}
## Answer
{answer}

## Instructions
Reply with `Score: <1-10>` on the first line (10 = follows every principle, 1 = fails them),
then `Critique: <one sentence>` on the second line."""

PAIR_TEMPLATE = """You are a strict grader. Two answers to the task below are shown; decide which better follows the principles.

## Task
{prompt}

## Principles
{principles}

## Answer A
{answer_a}

## Answer B
{answer_b}

## Instructions
Reply with `Winner: A`, `Winner: B` or `Winner: tie` on the first line,
then `Reason: <one sentence>` on the second line."""

DEFAULT_PRINCIPLES = ["The answer is correct, relevant to the task and clearly reasoned."]


def _numbered(principles: list[str]) -> str:
    items = [p.strip() for p in principles if p and p.strip()] or DEFAULT_PRINCIPLES
    return "\n".join(f"{i}. {p}" for i, p in enumerate(items, 1))


def grade_prompt(prompt: str, answer: str, principles: list[str], reference: str | None = None) -> str:
    ref = f"\n## Reference answer\n{reference.strip()}\n" if reference and reference.strip() else ""
    return GRADE_TEMPLATE.format(prompt=prompt.strip(), principles=_numbered(principles), reference=ref, answer=answer.strip())


def pair_prompt(prompt: str, answer_a: str, answer_b: str, principles: list[str]) -> str:
    return PAIR_TEMPLATE.format(prompt=prompt.strip(), principles=_numbered(principles),
                                answer_a=answer_a.strip(), answer_b=answer_b.strip())
