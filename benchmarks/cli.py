"""Command-line bits the benchmark entry points share."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an int no smaller than `minimum`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse
