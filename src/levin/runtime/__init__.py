"""Running levin's integer graphs: `reference` is the numpy integer oracle (TFLite int8
semantics) that the C runtime and TFLite interop are checked against; `codegen.export_c` writes
the C code of a model and `build` compiles and runs it on the host."""

__all__ = ["FORMATS", "ExportResult", "export_c"]


def __getattr__(name: str):
    # lazy: importing the oracle must not pull in jinja2 and the code generator
    if name in __all__:
        from levin.runtime import codegen
        return getattr(codegen, name)
    raise AttributeError(f"module 'levin.runtime' has no attribute {name!r}")
