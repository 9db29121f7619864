"""What went wrong reading a file the caller named, in the words an error message uses."""

from __future__ import annotations


def read_problem(error: OSError | ValueError) -> str:
    """Why ``error`` kept a named file from being read: "there is no such file",
    "it is a directory", "permission denied", else the system's own words.

    A ``ValueError`` is Python's refusal of a path holding a NUL character, which
    no system call takes.
    """
    if isinstance(error, ValueError):
        return "the path holds a NUL character"
    if isinstance(error, FileNotFoundError):
        return "there is no such file"
    if isinstance(error, IsADirectoryError):
        return "it is a directory"
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or type(error).__name__


def read_fix(error: OSError | ValueError) -> str:
    """What to do about ``error``, as an error's hint: the fix to :func:`read_problem`."""
    if isinstance(error, IsADirectoryError):
        return "name a file in it"
    if isinstance(error, PermissionError):
        return "check the file's permissions"
    return "check the path"
