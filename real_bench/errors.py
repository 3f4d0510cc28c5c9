"""One exception type for bad input or a missing prerequisite: the CLI prints it on one line."""


class BenchError(Exception):
    """A user-facing error: message names the file/field or the missing tool. Exit status 2."""
