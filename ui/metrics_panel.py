"""A VAE's held-out metrics as the ELBO page shows them (``genlib.metrics.evaluate``'s report): the ELBO and its
terms, active units and the IWAE bound in a row, then the KL of each latent dimension."""

from __future__ import annotations

import streamlit as st

from ui import figures
from ui.state import plot


def heldout_metrics(m: dict, unit: str, key: str) -> None:
    """Draw the report ``m``; ``unit`` names the nats' denominator (per image or per point), ``key`` the
    KL chart (the page passes it, where tours read it: ui.tours)."""
    cols = st.columns(5)
    cols[0].metric(f"ELBO ({unit})", f"{m['elbo']:.2f}")
    cols[1].metric("Reconstruction", f"{m['recon']:.2f}")
    cols[2].metric("KL", f"{m['kl']:.2f}")
    cols[3].metric("Active units", f"{m['active_units']} / {len(m['kl_per_dim'])}")
    cols[4].metric(f"IWAE NLL (K={m['iwae_samples']})", f"{m['nll_iwae']:.2f}")
    plot(figures.bar_chart([f"z{i}" for i in range(len(m["kl_per_dim"]))], m["kl_per_dim"],
                           "KL per latent dimension (test set)", ylabel="nats", threshold=0.01,
                           threshold_label="0.01: collapsed below"), key=key)
    st.caption(f"On the {m['n_examples']} held-out test examples. Mutual information I(x; z) ≈ "
               f"{m['mutual_information']:.2f} nats (minibatch estimator, at most log N).")
