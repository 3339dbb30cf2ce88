"""Pruning passes on torch modules.

    magnitude.prune(model, PruneConfig)          unstructured magnitude masks (per layer / global)
    finetune.prune_and_finetune(...)             with a schedule: one-shot, iterative, AGP
    nm.prune_nm(model, NMConfig, example)        N:M semi-structured masks (groups in the IR's column order)
    channel.prune_channels(model, example, ...)  remove channels, dependency groups kept consistent
    sensitivity.scan(model, x, y, ...)           accuracy vs sparsity / bits, per layer
    masks.remove_masks(model)                    bake masks in before capture or export
"""
