"""Quantization: TFLite's int8 integer arithmetic (`intmath`, `softmax`) and, later, observers/PTQ/QAT."""
