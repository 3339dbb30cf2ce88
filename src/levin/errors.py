"""Errors a user can act on.

Every error levin raises on bad input derives from `LevinError` and carries a one-line message
that says what is wrong and what to do. The CLI prints that line and exits with status 2.
"""


class LevinError(Exception):
    """Base class for errors caused by the user's input (files, arguments, models)."""


class DatasetError(LevinError):
    """A dataset file is missing, truncated, corrupt, or not in the expected layout."""


class CheckpointError(LevinError):
    """A checkpoint cannot be read, or belongs to a different run."""
