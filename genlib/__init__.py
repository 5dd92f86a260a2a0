"""genlib: small generative models you can read, train on a laptop CPU and look inside.

The library behind the genlab app. It never imports streamlit or plotly: use it from a notebook,
a script or ``python -m genlib``.
"""

__version__ = "0.1.0"


def default_device():
    """The device genlib trains on when nobody says otherwise: CUDA where present, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
