"""simworld: a learned world simulator for RL research.

The model stack (VAE, DiT, samplers), data, training, checkpoints and the ``simworld`` CLI.
Sibling packages: ``envs`` (Gymnasium environments) and ``evals`` (metrics, probes, reports).
"""

from simworld.compat import ensure_torchvision_importable

__version__ = "0.1.0"

# Must run before anything imports torchvision (lpips and torchmetrics' LPIPS do); inert on a
# normal install where torchvision's compiled extension loads. See simworld/compat.py.
ensure_torchvision_importable()

__all__ = ["__version__"]
