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


class LevinFormatError(LevinError):
    """Coded bytes (a table, a payload, a container part) are truncated, corrupt or inconsistent.

    The message names the part and what is wrong with it, e.g. "rANS payload truncated: ...".
    """


class GraphError(LevinError):
    """A graph is malformed: an unknown op, a shape or attribute that does not fit, a cycle."""


class TrainingInterrupted(LevinError):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint it can resume from (exit 130)."""


class VerificationError(LevinError):
    """Generated code disagrees with the integer reference (the CLI exits with status 4)."""


class CaptureError(LevinError):
    """A model cannot be captured into levin's graph IR (an unsupported op, an untraceable forward)."""
