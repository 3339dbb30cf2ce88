"""levin: the shortest program that still meets the accuracy target and fits the device."""

from levin.errors import LevinError

__version__ = "0.1.0"
__all__ = ["LevinError", "__version__"]
