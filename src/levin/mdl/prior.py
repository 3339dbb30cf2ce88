"""A learned Gaussian-mixture prior over one layer's weights, and the code length it implies.

Read me first. Component 0 has its mean fixed at 0 (it absorbs the pruned weights); components
1..J have learned means. Every component has a learned log-variance and mixing logit. Three
quantities, all in bits and all differentiable:

- `nll_bits(w)`: -sum_i log2 p(w_i), the soft weight-sharing regulariser (Ullrich et al. 2017).
  With responsibilities r_ik it splits exactly into
      sum_ik r_ik * -log2 pi_k          (the index code: what the file pays)
    + sum_ik r_ik * -log2 N(w_i | mu_k, sigma_k^2)   (the residual, which snapping throws away)
    - sum_i H(r_i)                       (the assignments' uncertainty, -> 0 as they harden);
- `code_bits(w)`: N * H(n / N) with soft counts n_k = sum_i r_ik, the order-0 entropy of the
  snapped index stream (zeros included) as levin's rANS codes it with the tensor's own frequency
  table; with hard responsibilities it is exactly that entropy;
- `hyperprior_bits()`: -log2 of a Gamma(alpha, beta) density on each precision, measured in
  units of 1 / (the layer's initial weight variance) so one setting serves every layer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

LN2 = math.log(2.0)


class MixturePrior(nn.Module):
    """The mixture prior of one weight tensor (see the module docstring)."""

    def __init__(self, weights: torch.Tensor, components: int = 16, zero_mix: float = 0.99,
                 init_sigma: float = 0.25, gamma_alpha: float = 50.0, gamma_beta: float = 0.01):
        super().__init__()
        w = weights.detach().double().reshape(-1)
        lo, hi = float(w.min()), float(w.max())
        if not hi > lo:
            lo, hi = lo - 1.0, hi + 1.0
        # Means evenly over the range, skipping the slot at 0 that the zero component holds.
        grid = np.linspace(lo, hi, components + 1)
        grid = np.delete(grid, int(np.argmin(np.abs(grid))))
        spacing = (hi - lo) / components
        self.means = nn.Parameter(torch.tensor(grid, dtype=torch.float32))
        self.log_var = nn.Parameter(torch.full((components + 1,), 2 * math.log(init_sigma * spacing)))
        rest = (1.0 - zero_mix) / components
        self.logits = nn.Parameter(torch.tensor([math.log(zero_mix)] + [math.log(rest)] * components))
        self.register_buffer("var0", torch.tensor(max(float(w.var()), 1e-12)))
        # No component may grow wider than it started: in small layers the hyper-prior is too
        # weak to stop the zero component from widening into a catch-all that snaps large
        # weights to 0 (seen on LeNet-300-100's fc3: sigma_0 0.21, 83% of the weights).
        self.register_buffer("initial_log_var", self.log_var.detach().clone())
        self.register_buffer("max_log_var", self.log_var.detach().clone())
        self.gamma_alpha, self.gamma_beta = gamma_alpha, gamma_beta

    @torch.no_grad()
    def shrink(self, factor: float) -> None:
        """Cap every component's std at `factor` x its initial std (annealing: factor 1 -> small
        pulls each weight onto its component's mean before the snap, so snapping moves it little)."""
        self.max_log_var.copy_(self.initial_log_var + 2 * math.log(factor))

    @property
    def all_means(self) -> torch.Tensor:
        return torch.cat([self.means.new_zeros(1), self.means])

    @property
    def variances_log(self) -> torch.Tensor:
        """The log-variances in use: the learned ones, capped at their initial values."""
        return torch.minimum(self.log_var, self.max_log_var)

    def log_joint(self, w: torch.Tensor) -> torch.Tensor:
        """[N, K] natural-log terms log pi_k + log N(w_i | mu_k, sigma_k^2)."""
        w = w.reshape(-1, 1)
        log_pi = torch.log_softmax(self.logits, 0)
        log_var = self.variances_log
        return log_pi - 0.5 * (math.log(2 * math.pi) + log_var) - (w - self.all_means) ** 2 / (2 * torch.exp(log_var))

    def responsibilities(self, w: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.log_joint(w), 1)

    def nll_bits(self, w: torch.Tensor) -> torch.Tensor:
        return _MixtureNLL.apply(w.reshape(-1), self.all_means, self.variances_log, self.logits) / LN2

    def code_bits(self, w: torch.Tensor) -> torch.Tensor:
        return soft_entropy_bits(self.responsibilities(w).sum(0))

    def hyperprior_bits(self) -> torch.Tensor:
        if self.gamma_beta == 0 and self.gamma_alpha == 1:
            return self.log_var.new_zeros(())
        log_prec = -self.variances_log + torch.log(self.var0)  # precision x initial weight variance
        log_density = (self.gamma_alpha - 1) * log_prec - self.gamma_beta * torch.exp(log_prec)
        return -log_density.sum() / LN2

    @torch.no_grad()
    def assign(self, w: torch.Tensor) -> np.ndarray:
        """Index of each weight's most responsible component (0 = the zero component)."""
        return self.log_joint(w).argmax(1).cpu().numpy()

    def summary(self) -> dict:
        pi = torch.softmax(self.logits.detach(), 0)
        return {"means": self.all_means.detach().tolist(), "sigmas": torch.exp(0.5 * self.variances_log.detach()).tolist(),
                "mix": pi.tolist()}


class _MixtureNLL(torch.autograd.Function):
    """-sum_i log p(w_i) in nats, with hand-written gradients: autograd of logsumexp over an
    [N, K] matrix keeps ~8 temporaries of that size and made a LeNet-5 step 5x slower.

    With responsibilities r_ik and d_ik = w_i - mu_k: dNLL/dw_i = sum_k r_ik d_ik / var_k,
    dNLL/dmu_k = -sum_i r_ik d_ik / var_k, dNLL/dlog var_k = sum_i r_ik (1 - d_ik^2 / var_k) / 2,
    dNLL/dlogit_k = N pi_k - sum_i r_ik.
    """

    @staticmethod
    def forward(ctx, w, means, log_var, logits):
        prec = torch.exp(-log_var)
        log_pi = torch.log_softmax(logits, 0)
        d = w.reshape(-1, 1) - means                     # [N, K]
        j = d * d
        j.mul_(-0.5 * prec).add_(log_pi - 0.5 * (math.log(2 * math.pi) + log_var))
        top = j.max(1, keepdim=True).values              # (torch.logsumexp is 10x slower here)
        r = j.sub_(top).exp_()
        total = r.sum(1, keepdim=True)
        r.div_(total)                                    # responsibilities, in place of j
        lse = top + torch.log(total)
        ctx.save_for_backward(r, d, prec, log_pi)
        return -lse.sum()

    @staticmethod
    def backward(ctx, g):
        r, d, prec, log_pi = ctx.saved_tensors
        rd = r * d
        rd.mul_(prec)                                    # r d / var
        n_k = r.sum(0)
        grad_w = rd.sum(1) * g
        grad_mu = -rd.sum(0) * g
        rdd = (rd * d).sum(0)                            # sum_i r d^2 / var
        grad_log_var = 0.5 * (n_k - rdd) * g
        grad_logits = (r.shape[0] * torch.exp(log_pi) - n_k) * g
        return grad_w, grad_mu, grad_log_var, grad_logits


def soft_entropy_bits(counts: torch.Tensor) -> torch.Tensor:
    """sum_k n_k * -log2(n_k / N): the order-0 code length of a stream with (soft) counts n."""
    n = counts.sum()
    p = counts / n.clamp_min(1e-12)
    return -(counts * torch.log2(p.clamp_min(1e-30))).sum()
