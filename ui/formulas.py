"""The objectives as the ELBO and hierarchical VAE pages typeset them (LaTeX for ``st.latex``), free bits or not."""

from __future__ import annotations


def vae_loss(free_bits: float) -> tuple[str, str]:
    """The VAE's training loss with β(t) (and free bits where ``free_bits`` > 0), then its closed-form KL and
    the ELBO it bounds."""
    kl = r"\max\big(\lambda,\ \overline{\mathrm{KL}}_d\big)" if free_bits else r"\mathrm{KL}_d"
    return (r"\text{loss} = \frac{1}{B}\sum_{b=1}^{B}\Big[\underbrace{-\log p_\theta(x_b \mid z_b)}_{\text{recon}}"
            r" + \beta(t)\sum_{d=1}^{D}" + kl + r"\Big],\quad z_b \sim q_\phi(z \mid x_b)",
            r"\mathrm{KL}_d = \tfrac12\left(\mu_d^2 + \sigma_d^2 - 1 - \log\sigma_d^2\right),\qquad "
            r"\text{ELBO} = -(\text{recon} + \textstyle\sum_d \mathrm{KL}_d) \le \log p(x)")


def hierarchical_loss(free_bits: float) -> tuple[str, str]:
    """A Ladder VAE's loss, a β and free bits per layer, then its posterior: the bottom-up estimate merged with
    the top-down prior (Sønderby et al. 2016, Eq. 19-21)."""
    kl = r"\max\big(\lambda,\overline{\mathrm{KL}}_{i,d}\big)" if free_bits else r"\mathrm{KL}_{i,d}"
    return (r"\text{loss} = \frac1B\sum_b\Big[-\log p(x_b\mid z_1) + \sum_{i=1}^{L}\beta_i(t)\sum_d" + kl
            + r"\Big],\ \mathrm{KL}_i = \mathrm{KL}\big(q(z_i\mid x, z_{i+1})\,\|\,p(z_i\mid z_{i+1})\big)",
            r"q(z_i\mid x, z_{i+1}) = \mathcal N\Big(\sigma_q^2\big(\tfrac{\hat\mu_i}{\hat\sigma_i^2}"
            r"+ \tfrac{\mu_{p,i}}{\sigma_{p,i}^2}\big),\ "
            r"\sigma_q^2 = \big(\hat\sigma_i^{-2} + \sigma_{p,i}^{-2}\big)^{-1}\Big),"
            r"\quad p(z_L) = \mathcal N(0, I),\quad "
            r"\text{ELBO} = -\big(\text{recon} + \textstyle\sum_i \mathrm{KL}_i\big)")
