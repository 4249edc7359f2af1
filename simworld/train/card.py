"""The model card of a training run: data, steps, wall time, hardware, final losses (JSON + Markdown)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from simworld.info import hardware

CARD_NAME = "model_card"


def model_card(run: Any, step: int) -> dict[str, Any]:
    """The card of a ``simworld.train.run`` job at ``step`` (JSON-serialisable)."""
    cfg, trainer, dist = run.cfg, run.trainer, run.dist
    dataset = run.stream.dataset
    card = {
        "stage": cfg.trainer.stage,
        # the env the data came from: the learned env's live resets and the probes' env use it
        "env": dict(dataset.manifest.env),
        "data": {
            "path": str(Path(cfg.data.path).resolve()),
            "train_episodes": len(dataset.episodes),
            "windows_per_epoch_per_rank": len(dataset),
            "window": cfg.data.window,
            "frame_size": list(run.frame_size),
        },
        "steps": step,
        "max_steps": cfg.trainer.max_steps,
        "epoch": run.stream.epoch,
        "samples_seen": step * cfg.data.batch_size * cfg.trainer.grad_accum * dist.world_size,
        "wall_seconds": round(trainer.wall_seconds, 3),
        "device": str(dist.device),
        "world_size": dist.world_size,
        "precision": cfg.trainer.precision,
        "hardware": hardware(dist.device),
        "parameters": {
            name: sum(p.numel() for p in m.parameters()) for name, m in trainer.task.modules.items()
        },
        "final_losses": {k: v for k, v in trainer.last_metrics.items() if isinstance(v, (int, float))},
        "config": dataclasses.asdict(cfg),
    }
    if cfg.data.mixed:  # NaViT-style packing: each clip got its own size and duration
        card["data"]["sizes"] = cfg.data.sizes
        card["data"]["size_weights"] = cfg.data.size_weights
        card["data"]["windows"] = cfg.data.windows
    if run.digests:
        card["rank_weight_sha256"] = list(run.digests)
    if run.init_from:  # {"path", "steps", "dit_sha256"}: see simworld.train.init_from
        card["init_from"] = dict(run.init_from)
    return card


def _markdown(card: dict[str, Any]) -> str:
    losses = "\n".join(f"| {k} | {v:.6g} |" for k, v in card["final_losses"].items())
    params = ", ".join(f"{k}: {v:,}" for k, v in card["parameters"].items())
    hw, data = card["hardware"], card["data"]
    H, W = data["frame_size"]
    frames = f"frames {H}x{W}"
    if data.get("sizes") or data.get("windows"):
        sizes = ", ".join(f"{h}x{w}" for h, w in data.get("sizes") or [[H, W]])
        windows = ", ".join(map(str, data.get("windows") or [data["window"]]))
        frames = f"mixed sizes {sizes}, clips of {windows} frames"
    source = card.get("init_from")
    init = ""
    if source:
        steps = "unknown" if source["steps"] is None else source["steps"]
        init = (
            f"- initialised from: `{source['path']}` ({steps} steps; dit weights sha256 "
            f"{source['dit_sha256']})\n"
        )
    objective = ""
    if card["stage"] != "vae":  # the DiT's training objective (simworld.diffusion.training)
        model = card.get("config", {}).get("model", {})
        tf = model.get("objective", {}).get("teacher_forcing", False)
        reference = (
            ", denoised relative to the previous frame" if model.get("reference") == "previous" else ""
        )
        objective = f"- objective: {'teacher forcing' if tf else 'diffusion forcing'}{reference}\n"
    return (
        f"# simworld model card ({card['stage']} stage)\n\n"
        f"- data: `{data['path']}` ({data['train_episodes']} training episodes, "
        f"window {data['window']}, {frames})\n"
        f"- steps: {card['steps']} of {card['max_steps']} ({card['samples_seen']} clips seen)\n"
        f"{init}"
        f"{objective}"
        f"- wall time: {card['wall_seconds']:.1f} s\n"
        f"- device: {card['device']} x {card['world_size']} process(es), {card['precision']}\n"
        f"- hardware: {hw['cpu']} ({hw['cpu_count']} CPUs), {hw.get('gpu', 'no GPU')}, torch {hw['torch']}\n"
        f"- parameters: {params}\n\n"
        f"| final loss term | value |\n|---|---|\n{losses}\n"
    )


def write_card(folder: str | Path, card: dict[str, Any]) -> None:
    """Write ``model_card.json`` and ``model_card.md`` into ``folder``."""
    folder = Path(folder)
    for suffix, text in (("json", json.dumps(card, indent=2) + "\n"), ("md", _markdown(card))):
        tmp = folder / f".{CARD_NAME}.{suffix}.tmp"
        tmp.write_text(text)
        os.replace(tmp, folder / f"{CARD_NAME}.{suffix}")
