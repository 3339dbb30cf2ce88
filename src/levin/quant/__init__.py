"""Quantization to TFLite's int8 semantics (the arithmetic itself: levin.intmath).

    plan               which tensors share quantization parameters; `QuantPlan`
    observers          calibration ranges: min/max, percentile, MSE
    lowbit             symmetric per-channel 2..8-bit weights, packing
    ptq                float Graph -> integer Graph (`quantize_graph`)
    fakequant          torch fake quantizers, STE, LSQ
    graphmodule        a Graph as a torch module, float or fake-quantized
    qat                quantization-aware training, converted through the PTQ path
    mixed              per-layer bit widths under an accuracy-drop limit
    pipeline           `quantize(model, data, config)`: graph + float/fake-quant/integer accuracy
"""
