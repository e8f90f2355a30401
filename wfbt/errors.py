"""User-facing errors: one readable line, exit code 2, never a traceback.

Anything a user can get wrong (a config key, a data file, a strategy name) raises
`UserError`; the CLI prints its message and exits with 2. Anything else is a bug (exit 1).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """An error in the user's input: config, data, plugin or command line."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' Did you mean 'x'?' suffix for the closest choice, or '' when none is close.

    A choice equal but for case comes first: names are case-sensitive, and difflib alone rates
    'aapl' far from 'AAPL'."""
    choices = list(choices)
    same_but_case = [c for c in choices if c.casefold() == name.casefold()]
    matches = same_but_case or difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""


def known(choices: Iterable[str]) -> str:
    """A sorted, quoted list of valid choices for an error message."""
    return ", ".join(f"'{c}'" for c in sorted(choices))
