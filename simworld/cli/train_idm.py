"""``simworld train-idm``: train an inverse-dynamics model on a collected dataset.

The IDM reads the actions back from frames; the controllability probe
(``evals.probes.controllability``) uses it on generated frames.
"""

from __future__ import annotations

import sys

from simworld.cli.registry import command
from simworld.models.serialization import CheckpointError
from simworld.train.idm import TrainIDMConfig, train_idm


@command(
    "train-idm",
    TrainIDMConfig,
    help="Train an inverse-dynamics model (frames -> keys + camera) for the controllability probe.",
)
def run(cfg: TrainIDMConfig) -> int:
    """Train, print the validation scores beside chance; exit 1 on a data or checkpoint error."""
    try:
        summary = train_idm(cfg)
    except (FileNotFoundError, CheckpointError, ValueError) as exc:
        print(f"simworld train-idm: error: {exc}", file=sys.stderr)
        return 1
    losses = ", ".join(f"{k}={v:.4g}" for k, v in summary["final_losses"].items())
    print(f"trained {summary['steps']} steps in {summary['train_seconds']:.1f}s ({losses}); wrote {cfg.out}/")
    val = summary.get("validation")
    if val:
        keys = val["keys"]
        f1 = ", ".join(
            f"{k} {keys[k]['f1']:.2f} (chance {val['chance_f1'][k]:.2f})"
            for k in keys
            if keys[k]["support"] and keys[k]["f1"] is not None
        )
        print(
            f"held-out ({val['transitions']} transitions): F1 {f1}; camera MAE pitch "
            f"{val['camera_mae'][0]:.2f}° yaw {val['camera_mae'][1]:.2f}°; yaw sign accuracy "
            f"{val['yaw_sign_accuracy']} (chance {val['chance_yaw_sign']})"
        )
    return 0
