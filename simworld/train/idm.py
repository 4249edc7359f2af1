"""Train an inverse-dynamics model (``simworld.models.idm``) on a collected dataset.

The data are windows of ``clip_length`` frames with their ``clip_length - 1`` canonical actions
(``simworld.data.WindowDataset``, random starts, seeded). The loss is binary cross-entropy on the
nine keys plus ``camera_weight`` × smooth-L1 on the camera deltas in units of ``camera_scale``
degrees (hotbar changes are not predicted). AdamW, constant learning rate after a linear warmup,
gradient clipping at 1. At the end the model is scored on the held-out episodes (strided windows
that share their boundary frames, so each transition counts once) and saved with
:func:`simworld.models.idm.save_idm`; the validation scores and the chance levels they should beat
go in ``idm.json``'s ``training`` summary. A rerun writes the folder anew (no resume: a few
thousand steps take minutes).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from simworld import actions as A
from simworld.data.windows import WindowDataset
from simworld.models.idm import IDMConfig, InverseDynamicsModel, save_idm, score_actions


@dataclass
class TrainIDMConfig:
    """Train an inverse-dynamics model (``configs/train-idm.yaml``).

    Attributes:
        dataset: a dataset folder written by ``simworld collect`` (mandatory).
        out: the IDM folder to write (``config.json``, ``model.safetensors``, ``idm.json``).
        model: the architecture (``simworld.models.idm.IDMConfig``).
        steps: optimiser steps.
        batch_size: clips per step.
        lr: AdamW learning rate (after ``warmup_steps`` of linear warmup).
        warmup_steps: linear warmup steps.
        weight_decay: AdamW weight decay.
        camera_weight: weight of the camera loss against the key loss.
        balance_keys: weight each key's pressed examples by (1 - p) / p (p: its frequency in the
            first ``BALANCE_BATCHES`` batches, clipped to [1, 20]), so that rare keys are not
            learned as "never pressed" (F1 at threshold 0.5 rewards this).
        val_fraction: share of episodes held out for the final validation scores.
        frame_size: [H, W] to train on, for datasets holding several sizes; null: the only one.
        num_workers: DataLoader worker processes.
        seed: seeds the weights, the split and the window order.
        device: torch device.
        log_every: print the running losses every this many steps (0: never).
        progress: show a progress bar.
    """

    dataset: str = "???"
    out: str = "runs/idm"
    model: IDMConfig = field(default_factory=IDMConfig)
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    camera_weight: float = 1.0
    balance_keys: bool = True
    val_fraction: float = 0.1
    frame_size: list[int] | None = None
    num_workers: int = 0
    seed: int = 0
    device: str = "cpu"
    log_every: int = 100
    progress: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.warmup_steps < 0 or self.num_workers < 0:
            raise ValueError(
                "need steps >= 1, batch_size >= 1, warmup_steps >= 0, num_workers >= 0; got "
                f"{self.steps}, {self.batch_size}, {self.warmup_steps}, {self.num_workers}"
            )
        if not self.lr > 0 or self.weight_decay < 0 or self.camera_weight < 0 or self.log_every < 0:
            raise ValueError("need lr > 0 and weight_decay, camera_weight, log_every >= 0")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.frame_size is not None and len(self.frame_size) != 2:
            raise ValueError(f"frame_size must be [H, W] or null, got {self.frame_size}")


BALANCE_BATCHES = 16


def targets(actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat canonical actions float (..., 21) → (keys float (..., 9) in {0, 1}, camera (..., 2) degrees)."""
    return actions[..., A.FLAT_KEYS], actions[..., A.FLAT_CAMERA] * A.CAMERA_MAX_DEG


def idm_loss(
    model: InverseDynamicsModel,
    frames: torch.Tensor,
    actions: torch.Tensor,
    camera_weight: float,
    pos_weight: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The training loss of a batch.

    Args:
        model: the IDM.
        frames: uint8 (B, T, H, W, 3).
        actions: float32 (B, T-1, 21) flat canonical actions.
        camera_weight: weight of the camera term.
        pos_weight: float (9,) weight of each key's pressed examples in the BCE (None: 1).

    Returns:
        ``{"loss", "keys", "camera"}``: BCE over keys, smooth-L1 over camera / ``camera_scale``.
    """
    out = model(frames)
    keys, camera = targets(actions)
    key_loss = F.binary_cross_entropy_with_logits(out.key_logits, keys, pos_weight=pos_weight)
    scale = model.config.camera_scale
    camera_loss = F.smooth_l1_loss(out.camera / scale, camera / scale)
    return {"loss": key_loss + camera_weight * camera_loss, "keys": key_loss, "camera": camera_loss}


def _dataset(cfg: TrainIDMConfig, split: str, random: bool) -> WindowDataset:
    T = cfg.model.clip_length
    return WindowDataset(
        cfg.dataset,
        window=T,
        stride=T - 1,
        random=random,
        split=split,
        val_fraction=cfg.val_fraction,
        seed=cfg.seed,
        shuffle=random,
        frame_size=cfg.frame_size,
    )


def evaluate_idm(model: InverseDynamicsModel, dataset: WindowDataset, batch_size: int = 32) -> dict[str, Any]:
    """Score an IDM on every window of ``dataset`` (see :func:`simworld.models.idm.score_actions`).

    Returns:
        The scores, plus ``transitions`` and the chance levels: ``chance_f1`` per key (F1 of always
        pressing it: 2p / (1 + p) for its frequency p, the best F1 of a guess that ignores the
        frames), ``chance_yaw_sign`` (the majority sign) and ``zero_camera_mae`` (the camera MAE of
        always predicting no turn).
    """
    device = next(model.parameters()).device
    probs, cams, keys, true_cams = [], [], [], []
    model.eval()
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=batch_size):
            out = model(batch["frames"].to(device))
            k, c = targets(batch["actions"])
            probs.append(torch.sigmoid(out.key_logits).flatten(0, 1).double().cpu())
            cams.append(out.camera.flatten(0, 1).double().cpu())
            keys.append(k.flatten(0, 1))
            true_cams.append(c.flatten(0, 1).double())
    p, c, k, tc = (torch.cat(x).numpy() for x in (probs, cams, keys, true_cams))
    scores = score_actions(p, c, k, tc)
    freq = k.mean(axis=0)
    scores["chance_f1"] = {name: float(2 * f / (1 + f)) for name, f in zip(A.ACTION_KEYS, freq)}
    turning = np.abs(tc[:, 1]) >= 1.0
    right = float(np.mean(tc[turning, 1] > 0)) if turning.any() else float("nan")
    scores["chance_yaw_sign"] = max(right, 1 - right)
    scores["zero_camera_mae"] = np.abs(tc).mean(axis=0).tolist()
    scores["transitions"] = int(len(k))
    return scores


def _batches(dataset: WindowDataset, cfg: TrainIDMConfig):
    epoch = 0
    while True:
        dataset.set_epoch(epoch)
        empty = True
        for batch in DataLoader(
            dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers, drop_last=False
        ):
            empty = False
            yield batch
        if empty:
            raise ValueError(f"{cfg.dataset}: the train split yielded no windows")
        epoch += 1


def train_idm(cfg: TrainIDMConfig) -> dict[str, Any]:
    """Train an IDM on ``cfg.dataset``, score it on the held-out episodes and save it to ``cfg.out``.

    Returns:
        The training summary written to ``idm.json`` (steps, losses, validation scores, chance levels).

    Raises:
        FileNotFoundError: no dataset at ``cfg.dataset``.
        ValueError: a dataset the IDM cannot use (actions not in the canonical schema, frames
            smaller than 16×16, several frame sizes without ``frame_size``, episodes too short).
    """
    torch.manual_seed(cfg.seed)
    train_set = _dataset(cfg, "train", random=True)
    schema = train_set.manifest.action_schema
    if schema.get("name") != "simworld.actions":
        raise ValueError(f"{cfg.dataset}: actions are {schema}, the IDM predicts canonical simworld.actions")
    H, W = (int(s) for s in (cfg.frame_size or train_set.episodes[0].frame_size))
    if min(H, W) < 16:
        raise ValueError(f"{cfg.dataset}: frames of {H}×{W}; the IDM needs at least 16×16")
    device = torch.device(cfg.device)
    model = InverseDynamicsModel(cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, history, running = time.perf_counter(), [], {}
    batches = _batches(train_set, cfg)
    first = [next(batches) for _ in range(min(BALANCE_BATCHES, cfg.steps))]
    pos_weight = None
    if cfg.balance_keys:
        p = torch.cat([targets(b["actions"])[0].flatten(0, 1) for b in first]).mean(0)
        pos_weight = ((1 - p) / p.clamp_min(1e-6)).clamp(1.0, 20.0).to(device)
    bar = tqdm(range(cfg.steps), desc="train-idm", disable=not cfg.progress)
    for step in bar:
        batch = first[step] if step < len(first) else next(batches)
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
        model.train()
        frames, actions = batch["frames"].to(device), batch["actions"].to(device)
        terms = idm_loss(model, frames, actions, cfg.camera_weight, pos_weight)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        for k, v in ((k, float(v.detach())) for k, v in terms.items()):
            running[k] = 0.9 * running.get(k, v) + 0.1 * v
        if not math.isfinite(running["loss"]):
            raise ValueError(f"the loss became {running['loss']} at step {step}; lower lr")
        if cfg.log_every and ((step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps):
            history.append({"step": step + 1, **{k: round(v, 5) for k, v in running.items()}})
            bar.write(f"step {step + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in running.items()))
    summary: dict[str, Any] = {
        "dataset": str(cfg.dataset),
        "steps": cfg.steps,
        "config": _jsonable(dataclasses.asdict(cfg)),
        "final_losses": {k: round(v, 5) for k, v in running.items()},
        "key_pos_weight": None if pos_weight is None else [round(float(w), 4) for w in pos_weight],
        "history": history,
        "train_seconds": round(time.perf_counter() - start, 2),
    }
    if cfg.val_fraction > 0:
        summary["validation"] = _jsonable(evaluate_idm(model, _dataset(cfg, "val", random=False)))
    save_idm(cfg.out, model.cpu().eval(), (H, W), summary)
    return summary


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float):
        return None if not math.isfinite(x) else round(x, 6)
    if isinstance(x, (np.floating, np.integer)):
        return _jsonable(x.item())
    return x
