"""``simworld train``: train the VAE, the DiT on cached latents, or both (docs/training.md).

Runs alone or under torchrun for DDP: ``torchrun --nproc_per_node=2 -m simworld.cli train ...``.
"""

from __future__ import annotations

import sys

from simworld.cli.registry import command
from simworld.models.serialization import CheckpointError
from simworld.train.run import TrainConfig, train


@command(
    "train",
    TrainConfig,
    help="Train the world model (stage vae | dit | joint); DDP under torchrun; resumes from its run folder.",
)
def run(cfg: TrainConfig) -> int:
    """Train, then print where the results are; exit 1 on a data or checkpoint error."""
    try:
        card = train(cfg)
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        print(f"simworld train: error: {exc}", file=sys.stderr)
        return 1
    if card:
        product = "vae" if cfg.trainer.stage == "vae" else "checkpoint"
        losses = ", ".join(
            f"{k}={v:.4g}" for k, v in card["final_losses"].items() if k in ("loss", "diffusion")
        )
        print(
            f"trained {card['steps']} steps in {card['wall_seconds']:.1f}s ({losses}); "
            f"wrote {cfg.trainer.out}/{product}/ and {cfg.trainer.out}/model_card.md"
        )
    return 0
