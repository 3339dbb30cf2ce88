"""Running levin's integer graphs: `reference` is the numpy integer oracle (TFLite int8
semantics) that the C runtime and TFLite interop are checked against."""
