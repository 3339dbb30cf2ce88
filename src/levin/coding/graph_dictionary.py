"""The preset DEFLATE dictionary of graph section kind 6: strings most graphs spell.

Read me first. A small model's compact graph section is mostly its string table (op names,
attribute keys, layer names); DEFLATE can only refer back to strings it has already seen, so the
first use of each is spelled out. With a preset dictionary (RFC 1951 allows any; zlib's `zdict`)
the first use is a reference too: LeNet-5's compact graph deflates to 278 B instead of 325,
LeNet-300-100's to 206 instead of 231 (issue 22).

Frozen: a file names no dictionary version, so a changed dictionary would misread every kind-6
file ever written. New strings need a new section kind. The bytes are each string as the compact
string table stores one that shares no prefix with the string before it (u8 0, u8 length, the
ASCII bytes; `graph_compact.py`), names first, then attribute keys, then op names, which most
graphs use and so sit nearest the data (DEFLATE codes near distances in fewer bits).
"""

from __future__ import annotations

NAMES = ("x", "input", "output", "weight", "bias", "flatten",
         "conv1", "conv2", "conv3", "fc1", "fc2", "fc3", "relu1", "relu2", "relu3",
         "pool1", "pool2", "pool3", "bn1", "bn2", "bn3")
ATTRIBUTES = ("align_corners", "alpha", "approximate", "axes", "axis", "begin", "count_include_pad",
              "dilation", "end", "groups", "half_pixel_centers", "keepdims", "kernel", "max", "min",
              "mode", "output_padding", "padding", "pads", "perm", "shape", "size", "stride", "strides",
              "value")
OPS = ("Add", "AvgPool2d", "Clamp", "Concat", "Conv2d", "ConvTranspose2d", "ELU", "GELU", "GlobalAvgPool",
       "Hardsigmoid", "Hardswish", "LeakyReLU", "Linear", "MaxPool2d", "Maximum", "Mean", "Minimum",
       "MirrorPad", "Mul", "Pad", "ReLU", "ReLU6", "ReduceMax", "Reshape", "ResizeBilinear", "ResizeNearest",
       "SiLU", "Sigmoid", "Softmax", "StridedSlice", "Sub", "Sum", "Tanh", "Transpose")

DICTIONARY = b"".join(bytes([0, len(s)]) + s.encode("ascii") for s in NAMES + ATTRIBUTES + OPS)
