"""levin: the shortest program that still meets the accuracy target and fits the device.

Public API (more arrives with compression, export and the C runtime):

    levin.load_model(ref)        zoo name, path/to/file.py:factory, or checkpoint -> LoadedModel
    levin.load_graph(ref)        the same, captured into the graph IR (levin.ir.Graph)
    levin.profile(graph)         params, MACs, bytes and the activation-arena plan per layer
    levin.compress(model, data, recipe=...)   prune / share / quantize / code -> integer graph + .lvn
"""

from levin.errors import LevinError

__version__ = "0.1.0"
__all__ = ["LevinError", "__version__", "compress", "load_graph", "load_model", "profile"]


def __getattr__(name):
    # Lazy: `import levin` stays cheap (no torch) for the CLI's --version and for tools.
    if name in ("load_model", "load_graph"):
        from levin import models
        return getattr(models, name)
    if name == "compress":
        from levin.compressor.api import compress
        return compress
    if name == "profile":
        from levin.analyze.profile import profile
        return profile
    raise AttributeError(f"module 'levin' has no attribute {name!r}")
