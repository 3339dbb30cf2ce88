"""Entropy-coding primitives for weight streams: models, rANS, Huffman, bit packing, sparse positions.

Byte formats are given in each module's docstring, precisely enough to write a C decoder:
`varint` (LEB128 fields), `bitstream` (bit order, Exp-Golomb), `entropy_model` (frequency tables),
`rans` (payloads, chunks), `huffman` (canonical codes), `bitpack` (fixed widths), `sparse`
(positions of nonzeros). The .lvn container that holds them is built elsewhere.
"""
