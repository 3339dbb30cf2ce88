"""Description-length training: train for the shortest .lvn, not the fewest parameters.

Entry point:

    result = levin.mdl.train_mdl(model, data, MDLConfig(lam=100), TrainConfig(optimizer="adam",
                                 lr=5e-4, epochs=10), out_dir="runs/mdl")
    result.lvn, result.file_bytes, result.predicted_bytes, result.integer_error, result.cost

Method: soft weight-sharing (Ullrich, Meeds & Welling, ICLR 2017). Each Conv2d / Linear weight
gets a learned Gaussian-mixture prior with a zero component (`prior.MixturePrior`); the loss is
the task loss plus lam x the prior's negative log-likelihood of the weights in bits per training
sample. After training each weight snaps to the mean of its most responsible component (zero ->
exact 0; `snap`), the means land on a per-tensor int8 grid the integer graph holds exactly
(`export`), and levin's container codes them as sparse positions + codebook + rANS indices.

Two predictions, both reported beside the file:
- `MDLResult.predicted_weight_bits`: the differentiable code length at the end of training (soft
  assignments, order-0 over all weights, zeros included): what the loss optimized. It is not
  what the coder pays: the sparse gap coder exploits runs of zeros an order-0 model does not see.
- `MDLResult.estimated_weight_bytes`: the snapped codes' size predicted before coding
  (`levin.coding.estimate`): each stream's order-0 entropy under its own empirical distribution,
  counted the way the chosen chain codes it (positions stream included when sparse), plus exact
  tables, codebook and headers. `weight_estimate_error` compares it with the coded tensor
  bodies; `predicted_bytes` adds the file's other bytes (graph, biases, scales, framing, header),
  measured, so the whole-file error is the weight estimate's error.

`levin.coding.cost.levin_cost(report)` (re-exported here) gives the Levin cost of any .lvn: bits + log2(decode steps).
"""

from levin.coding.cost import LevinCost, levin_cost
from levin.mdl.prior import MixturePrior, soft_entropy_bits
from levin.mdl.train import MDLResult, train_mdl

__all__ = ["LevinCost", "MDLResult", "MixturePrior", "levin_cost", "soft_entropy_bits", "train_mdl"]
