"""Progress: the one way long runs report it.

Every API function that runs simulations takes ``progress: Progress | None``, a callback
called with one short message per simulation run (``"sidecar: replication 2"``). The command
line shows those messages with ``bar`` (a tqdm bar on stderr); a notebook may pass ``print``.
A sweep counts finished tasks on the same kind of bar (``counter``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Progress = Callable[[str], None]


@contextmanager
def bar(label: str, quiet: bool = False) -> Iterator[Progress]:
    """A callback that counts one simulation per message and shows the latest message."""
    tqdm = _tqdm()
    # on a terminal only (disable=None), and only after half a second, so a command that
    # fails at once prints nothing but its error
    hidden = True if quiet else None
    with tqdm(desc=label, unit="run", file=sys.stderr, disable=hidden, leave=False, delay=0.5) as t:

        def progress(message: str) -> None:
            t.update(1)
            t.set_postfix_str(message, refresh=True)

        yield progress


def counter(label: str, total: int, done: int = 0, quiet: bool = False) -> Any:
    """A bar of ``total`` tasks, ``done`` of them finished already (call ``update``)."""
    tqdm = _tqdm()
    hidden = True if quiet else None  # on a terminal only
    return tqdm(total=total, initial=done, unit="task", desc=label, disable=hidden)


def _tqdm() -> Any:
    """tqdm without its monitor thread: worker processes fork while a bar is shown (capacity
    searches), and a fork must not copy a thread that may hold a lock."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0
    return tqdm
