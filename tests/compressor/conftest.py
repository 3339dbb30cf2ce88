"""The trained digits fixtures of the pruning tests, shared with the sensitivity scan's tests."""

from tests.prune.conftest import _one_thread, small_digits, trained_digits_state  # noqa: F401
