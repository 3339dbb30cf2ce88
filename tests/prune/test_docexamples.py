"""The examples in the pruning and sharing modules' docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = ["levin.prune.magnitude", "levin.prune.channel"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
