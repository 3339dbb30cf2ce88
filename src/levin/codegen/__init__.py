"""C code generation: an integer Graph (or a .lvn file) -> a C package: NAME.c / NAME.h, the C
runtime, and the README, Makefile, CMakeLists.txt and example around them.

    export.py         `export_c(graph_or_lvn, out_dir, weight_format, prefer, name)`: the driver;
                      each op's template and parameters come from its registry entry (`levin.ops`)
    package.py        the folder as a package: README, build files, example, levin_config.h
    weight_fields.py  how a weight tensor is stored for the C readers (formats, descriptors)
    fuzz.py           the export path under mutated .lvn files
    templates/        model.c / model.h, one template per kernel, the host harness, package/
"""

from levin.codegen.export import FORMATS, ExportResult, arena_plan, comment_text, export_c

__all__ = ["FORMATS", "ExportResult", "arena_plan", "comment_text", "export_c"]
