"""The person at the fork: show the cloud in the terminal, read one key.

Keys: 1..k pick that candidate, Enter (or space) takes the top one, t types your own text
(a line), q stops the session. Single keys are read in cbreak mode (no Enter needed); the
terminal's settings are restored after each key, also on Ctrl-C.
"""

from __future__ import annotations

import sys


def read_key() -> str:
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        return sys.stdin.read(1)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _shown(text: str) -> str:
    return repr(text)[1:-1] if text.strip() else repr(text)


class HumanSelector:
    name = "human"

    def __init__(self, out):
        self.out = out

    def choose(self, step, context: str):
        cloud = "  ".join(f"{i}) {_shown(t)} {p:.2f}" for i, (t, p) in enumerate(step.candidates, 1))
        self.out.write(f"\n[fork {step.index}] {cloud}\n"
                       f"  1-{len(step.candidates)} pick · Enter top · t type · q stop > ")
        self.out.flush()
        while True:
            key = read_key()
            if key in ("\n", "\r", " "):
                how, choice = "accept", 0
            elif key.isdigit() and 1 <= int(key) <= len(step.candidates):
                how, choice = "pick", int(key) - 1
            elif key in ("q", "Q", "\x04"):
                self.out.write("stop\n")
                return "stop", None
            elif key in ("t", "T"):
                self.out.write("your text: ")
                self.out.flush()
                typed = sys.stdin.readline().rstrip("\n")
                if not typed:
                    continue
                self.out.write(f"{context}{typed}")
                self.out.flush()
                return "typed", typed
            else:
                continue
            chosen = step.candidates[choice][0]
            self.out.write(f"{_shown(chosen)}\n{context}{chosen}")
            self.out.flush()
            return how, choice
