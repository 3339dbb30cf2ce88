"""The mixture prior's math: NLL, its split into index code + residual - assignment entropy,
the soft code length, the hyper-prior, and the config's checks."""

import math

import numpy as np
import pytest
import torch

from levin.coding.entropy_model import empirical_entropy_bits
from levin.config.mdl import MDLConfig
from levin.errors import LevinError
from levin.mdl.prior import MixturePrior, _MixtureNLL, soft_entropy_bits


def prior_for(w, **kw):
    torch.manual_seed(0)
    return MixturePrior(torch.as_tensor(w, dtype=torch.float32), **kw)


def test_nll_matches_a_direct_mixture_density():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.1, 500).astype(np.float32)
    p = prior_for(w, components=4)
    with torch.no_grad():
        p.log_var.copy_(torch.tensor([-6.0, -5.0, -4.0, -5.5, -4.5]))
        p.logits.copy_(torch.tensor([2.0, 0.1, -0.3, 0.5, 0.0]))
    mu = p.all_means.detach().double().numpy()
    var = np.exp(p.variances_log.detach().double().numpy())   # capped at the initial widths
    pi = np.exp(p.logits.detach().double().numpy())
    pi /= pi.sum()
    dens = (pi * np.exp(-(w[:, None] - mu) ** 2 / (2 * var)) / np.sqrt(2 * math.pi * var)).sum(1)
    with torch.no_grad():
        assert float(p.nll_bits(torch.from_numpy(w))) == pytest.approx(-np.log2(dens).sum(), rel=1e-4)
    assert mu[0] == 0.0 and p.all_means.shape == (5,)


def test_nll_splits_into_index_code_residual_and_assignment_entropy():
    w = torch.from_numpy(np.random.default_rng(1).normal(0, 0.2, 300).astype(np.float32))
    p = prior_for(w, components=3)
    with torch.no_grad():
        log_pi = torch.log_softmax(p.logits, 0)
        joint = p.log_joint(w)
        r = torch.softmax(joint, 1)
        log_normal = joint - log_pi
        index = -(r * log_pi).sum() / math.log(2)
        residual = -(r * log_normal).sum() / math.log(2)
        h = -(r * torch.log2(r.clamp_min(1e-30))).sum()
        assert float(p.nll_bits(w)) == pytest.approx(float(index + residual - h), rel=1e-5)


def test_soft_code_length_with_hard_counts_is_the_empirical_entropy():
    counts = np.array([900, 50, 30, 20, 0])
    assert float(soft_entropy_bits(torch.tensor(counts, dtype=torch.float64))) == pytest.approx(
        empirical_entropy_bits(counts))


def test_code_bits_hardens_to_the_entropy_of_the_assignments():
    # Weights exactly on three well-separated means, tiny variances: responsibilities are one-hot.
    w = np.repeat([0.0, -0.5, 0.5], [800, 150, 50]).astype(np.float32)
    p = prior_for(np.array([-0.5, 0.5], dtype=np.float32), components=2)
    with torch.no_grad():
        p.means.copy_(torch.tensor([-0.5, 0.5]))
        p.log_var.fill_(math.log(1e-4))
        code_bits = float(p.code_bits(torch.from_numpy(w)))
    assert np.array_equal(np.bincount(p.assign(torch.from_numpy(w))), [800, 150, 50])
    assert code_bits == pytest.approx(
        empirical_entropy_bits(np.array([800, 150, 50])), rel=1e-6)


def test_code_bits_is_differentiable_in_weights_and_prior():
    w = torch.from_numpy(np.random.default_rng(2).normal(0, 0.1, 200).astype(np.float32)).requires_grad_()
    p = prior_for(w.detach(), components=4)
    p.code_bits(w).backward()
    assert w.grad.abs().sum() > 0 and p.means.grad.abs().sum() > 0 and p.logits.grad.abs().sum() > 0


def test_hyperprior_prefers_its_mode_and_is_scale_free():
    w = torch.from_numpy(np.random.default_rng(3).normal(0, 1, 100).astype(np.float32))
    a = prior_for(w, components=2, gamma_alpha=11.0, gamma_beta=0.1)       # mode precision 100
    b = prior_for(10 * w, components=2, gamma_alpha=11.0, gamma_beta=0.1)  # same, in units of var0
    def bits_at(p, sigma_in_std):
        with torch.no_grad():
            p.log_var.fill_(math.log(sigma_in_std ** 2 * float(p.var0)))
            return float(p.hyperprior_bits())
    at_mode = bits_at(a, 0.1)
    assert at_mode < bits_at(a, 0.05) and at_mode < bits_at(a, 0.2)
    assert bits_at(b, 0.1) == pytest.approx(at_mode, rel=1e-5)


def test_initial_means_span_the_weights_and_zero_takes_most_mass():
    w = np.linspace(-1, 1, 101).astype(np.float32)
    p = prior_for(w, components=8, zero_mix=0.9)
    means = p.means.detach().numpy()
    assert means.min() == pytest.approx(-1) and means.max() == pytest.approx(1)
    assert not np.any(np.isclose(means, 0))
    assert float(torch.softmax(p.logits.detach(), 0)[0]) == pytest.approx(0.9)


@pytest.mark.parametrize("field,value", [("lam", -1.0), ("components", 0), ("zero_mix", 1.0),
                                         ("gamma_alpha", 0.5), ("prior_lr", 0.0), ("final_sigma", 0.0),
                                         ("final_sigma", 1.5), ("finetune_epochs", -1.0),
                                         ("finetune_lr", 0.0)])
def test_config_rejects_bad_values_with_one_line(field, value):
    with pytest.raises(LevinError, match=f"MDLConfig: .*{field.split('_')[0]}"):
        MDLConfig(**{field: value})


def test_config_round_trips_through_a_dict():
    c = MDLConfig(lam=30.0, include=["fc*"])
    assert MDLConfig.from_dict(c.to_dict()) == c


def test_hand_written_gradients_match_autograd():
    w = torch.from_numpy(np.random.default_rng(4).normal(0, 0.1, 50)).requires_grad_()
    p = MixturePrior(w.detach().float(), components=3).double()
    with torch.no_grad():
        p.log_var.copy_(torch.tensor([-5.0, -4.0, -6.0, -4.5], dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda w, m, v, l: _MixtureNLL.apply(w, torch.cat([m.new_zeros(1), m]), v, l),
                                    (w, p.means, p.log_var, p.logits))


def test_no_component_grows_wider_than_it_started():
    w = torch.from_numpy(np.random.default_rng(5).normal(0, 0.1, 100).astype(np.float32))
    p = prior_for(w, components=4)
    start = p.variances_log.detach().clone()
    with torch.no_grad():
        p.log_var.add_(3.0)
    assert torch.equal(p.variances_log.detach(), start)
    p.nll_bits(w).backward()
    assert p.log_var.grad.abs().sum() == 0          # capped: no gradient pushes it wider
