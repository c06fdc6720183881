"""Errors that carry a message a user can act on, and the exit code the CLI maps them to."""

from __future__ import annotations


class LiftlabError(Exception):
    """Base class of liftlab's own errors; `exit_code` is what the CLI exits with."""

    exit_code = 1


class BadInputError(LiftlabError, ValueError):
    """The user's input (a file, a field, a setting) is not what was expected.

    The message names the file or field, what was expected, what was found and what to do.
    """

    exit_code = 2


class DiskFullError(LiftlabError, OSError):
    """Writing a result failed for lack of space; what was written before is intact."""

    exit_code = 3
