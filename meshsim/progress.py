"""Progress for long runs: a tqdm bar on stderr fed by the API's ``progress(message)`` hooks."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def bar(label: str, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """A callback that counts one simulation per message and shows the latest message."""
    with tqdm(desc=label, unit="run", file=sys.stderr, disable=quiet, leave=False) as t:

        def progress(message: str) -> None:
            t.update(1)
            t.set_postfix_str(message, refresh=True)

        yield progress
