"""Your own data from the command line: arrays, image folders, WAV folders, CSV files and Python
factories, read into the `Dataset` every command takes (see docs/data.md).

>>> from levin.data import load_source, with_validation
>>> data = with_validation(load_source("readings.csv"), seed=0)      # doctest: +SKIP
"""

from levin.data.resolve import DataOptions, describe, load_source
from levin.data.splits import with_validation

__all__ = ["DataOptions", "describe", "load_source", "with_validation"]
