"""Analysis of a Graph: profile (params, MACs, bytes), memory plan (arena), device cost models."""
