"""Module 07's exercises as its reference solution answers them, for the tests of the models
and the views that train with them (`tests/test_families.py`, `tests/test_families_views.py`).

Import it after `pytest.importorskip("torch")`: `make compat` runs without torch.
"""

import torch


def reparameterise(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)


def elbo(x, x_mean, log_sigma, mu, logvar):
    normal = torch.distributions.Normal(x_mean, log_sigma.exp())
    return normal.log_prob(x).sum(-1) - gaussian_kl(mu, logvar)


def coupling_forward(x, mask, layer):
    s, t = layer(x * mask)
    return mask * x + (1 - mask) * (x * torch.exp(s) + t), ((1 - mask) * s).sum(-1)


def coupling_inverse(y, mask, layer):
    s, t = layer(y * mask)
    return mask * y + (1 - mask) * (y - t) * torch.exp(-s)


def flow_log_likelihood(x, couplings):
    total = torch.zeros(len(x))
    for mask, layer in couplings:
        x, log_det = coupling_forward(x, mask, layer)
        total = total + log_det
    return total + torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(-1)
