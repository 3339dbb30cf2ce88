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

The prediction (`MDLResult.predicted_weight_bits`) is the differentiable code length at the end
of training: per layer N * H(soft component counts / N), the order-0 entropy of the index stream
(zeros included) that the coder then meets. It covers the weight symbols only; codebooks,
frequency tables, rANS states, framing, the graph description, scales, biases and the header
are not modelled, and `MDLResult.predicted_bytes` adds them as measured in the file, so the
difference to the file is exactly the error of the weight estimate (`to_dict` reports both).

`cost.levin_cost(report)` gives the Levin cost of any .lvn: bits + log2(decode steps).
"""

from levin.mdl.cost import LevinCost, levin_cost
from levin.mdl.prior import MixturePrior, soft_entropy_bits
from levin.mdl.train import MDLResult, train_mdl

__all__ = ["LevinCost", "MDLResult", "MixturePrior", "levin_cost", "soft_entropy_bits", "train_mdl"]
