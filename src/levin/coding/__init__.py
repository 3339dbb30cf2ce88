"""Entropy-coding primitives for weight streams: models, rANS, Huffman, bit packing, sparse positions.

Byte formats are given in each module's docstring, precisely enough to write a C decoder:
`varint` (LEB128 fields), `bitstream` (bit order, Exp-Golomb), `entropy_model` (frequency tables),
`rans` (payloads, chunks), `huffman` (canonical codes), `bitpack` (fixed widths), `sparse`
(positions of nonzeros), `adaptive_bits` (bits under adaptive probabilities, binary rANS), and on
it `context_positions` (positions under an adaptive context model) and `adaptive_values` (short
value streams with no table), `golomb` (table-free codes of wide integers such as biases).

The .lvn container (docs/format.md) is built on them: `container` (file layout, sections,
CRCs), `graph_codec` (the graph description), `graph_compact` (its compact form, format 3.0),
`weights` (the codec chain of one tensor),
`symbols` (one value stream and its coder), `channels` (per-output-channel decoding, as the C
runtime does it), `fields` (bounded field readers), `limits` (every limit a reader enforces on
untrusted files, in one place), `native` (the C rANS coder via ctypes),
`fuzz` (mutation fuzzing of the reader: `python -m levin.coding.fuzz --seconds 600`).
"""
