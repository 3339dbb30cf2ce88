"""How to train for the shortest code: soft weight-sharing with a learned Gaussian-mixture prior
(Ullrich, Meeds & Welling, ICLR 2017), `levin.mdl.train_mdl`."""

from __future__ import annotations

from dataclasses import dataclass

from levin.config._base import ConfigMixin


@dataclass(frozen=True)
class MDLConfig(ConfigMixin):
    """Description-length training of every selected Conv2d / Linear weight.

    Each layer gets its own mixture prior (one entropy model per tensor, as levin's coder keeps
    one frequency table per tensor): a zero component (mean fixed at 0, initial mixing
    proportion `zero_mix`) and `components` learned means, all with learned log-variances and
    mixing proportions. The loss per sample is

        cross-entropy (nats) + lam * ln 2 * (prior NLL of the weights, bits) / N_train,

    so `lam` = 1 is the two-part MDL code (data bits + weight bits); larger values buy smaller
    files with more error. The prior's precisions carry a Gamma(`gamma_alpha`, `gamma_beta`)
    hyper-prior in units of the layer's initial weight variance (scale-free across layers), which
    stops a component's variance from collapsing to zero on the few weights it holds.

    Training: Adam on the weights at the TrainConfig's lr (cosine to 0), Adam on the prior at
    `prior_lr`. After training each weight snaps to the mean of its most responsible component
    (the zero component gives an exact 0) and the means become the layer's int8 codebook.

    Snapping only keeps the accuracy if the weights already sit on the means: `final_sigma` < 1
    shrinks every component's std cap geometrically during training (to `final_sigma` x its
    initial value), which turns the prior's pull on each weight into a hard one by the end.
    `finetune_epochs` > 0 then trains the snapped layers' codebooks with the zeros and the
    assignments held (Deep Compression's centroid fine-tune), and the codebooks are put back
    on the int8 grid.

    `prune_at` (e.g. (0.1, 0.2, 0.3, 0.4)): at those fractions of the training steps, every weight
    whose removal shortens the two-part code (OBD's data bits < lam x the code bits it saves, see
    `levin.mdl.saliency`) becomes a held zero, at most `prune_max_fraction` of a layer's
    nonzeros per event; with it, the starting model's zeros are held too.

    `remove_dead` (after the snap, before the fine-tune): channels and neurons that no nonzero
    weight reads are cut from every coupled layer, and those no nonzero weight writes are first
    folded into their consumers' biases (exact in float). The model's shapes change, so a
    pipeline that reloads this step's checkpoint must replay the cut (`dead_units` in the result).

    `round_biases`: the integer graph's biases are rounded, each layer to the coarsest step whose
    error on the data's test split (the validation split, as the callers hand it) is no higher
    (`levin.quant.bias_precision`).
    """

    lam: float = 100.0                    # strength of the code-length term (1 = plain MDL)
    components: int = 16                  # nonzero components per layer
    zero_mix: float = 0.99                # initial mixing proportion of the zero component
    init_sigma: float = 0.25              # initial std of every component, x the means' spacing
    gamma_alpha: float = 50.0             # Gamma hyper-prior on each component's precision ...
    gamma_beta: float = 0.01              # ... (precision in units of 1 / initial weight variance)
    prior_lr: float = 3e-3                # Adam, on means, log-variances and mixing logits
    final_sigma: float = 0.02             # std cap at the end of training, x the initial std
    finetune_epochs: float = 1.0         # after the snap: train only the codebook (and biases)
    finetune_lr: float = 1e-4             # ... with Adam at this lr (cosine to 0)
    prune_at: tuple[float, ...] = ()      # fractions of training at which to MDL-prune (levin.mdl.saliency)
    prune_batches: int = 16               # ... batches estimating the Fisher diagonal
    prune_max_fraction: float = 0.3       # ... most of a layer's nonzeros one event removes
    remove_dead: bool = False             # after the snap: fold/cut units no weight uses (levin.mdl.dead)
    calibration_size: int = 1000          # training samples that calibrate the int8 activations
    round_biases: bool = False            # biases to the coarsest step that costs no error
    include: tuple[str, ...] = ()         # module-name patterns; empty = every Conv2d/Linear
    exclude: tuple[str, ...] = ()

    def __post_init__(self):
        self._normalise()
        self._check([
            (self.lam >= 0, "lam must be >= 0"),
            (1 <= self.components <= 255, "components must be in 1..255"),
            (0.0 < self.zero_mix < 1.0, "zero_mix must be in (0, 1)"),
            (self.init_sigma > 0, "init_sigma must be > 0"),
            (self.gamma_alpha >= 1, "gamma_alpha must be >= 1"),
            (self.gamma_beta >= 0, "gamma_beta must be >= 0"),
            (self.prior_lr > 0, "prior_lr must be > 0"),
            (0.0 < self.final_sigma <= 1.0, "final_sigma must be in (0, 1]"),
            (self.finetune_epochs >= 0, "finetune_epochs must be >= 0"),
            (self.finetune_lr > 0, "finetune_lr must be > 0"),
            (all(0.0 <= f < 1.0 for f in self.prune_at), "prune_at fractions must be in [0, 1)"),
            (self.prune_batches >= 1, "prune_batches must be >= 1"),
            (0.0 < self.prune_max_fraction <= 1.0, "prune_max_fraction must be in (0, 1]"),
            (self.calibration_size >= 1, "calibration_size must be >= 1"),
        ])
