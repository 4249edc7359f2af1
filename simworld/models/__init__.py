"""The model stack: latent spaces (``vae``, ``pixel_space``), the spacetime DiT (``dit``), heads."""
