"""Export a trained checkpoint for distribution: smaller weights, bundled starting contexts, a card.

``simworld export checkpoint=runs/x/checkpoint out=checkpoints/x`` reads a checkpoint strictly,
writes a copy whose floating weights are stored as ``weights_dtype`` (float16 halves the size;
loading casts back to the dtype the user asks for), bundles ``num_contexts`` real starting
contexts drawn from the HELD-OUT episodes of the training data (the learned env's default reset),
and extends the model card with what was exported from where. The copy is written into a
temporary folder beside ``out`` and renamed into place, so a crash never leaves half a checkpoint;
the result is loaded back strictly before the rename.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simworld.checkpoint import CONTEXTS_FILE, load_checkpoint, save_checkpoint, write_contexts
from simworld.data.shards import sha256_file

WEIGHTS_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
"""Storage dtypes ``weights_dtype`` accepts."""

CARD_FILES = ("model_card.json", "model_card.md")


@dataclass
class ExportConfig:
    """``simworld export`` (``configs/export.yaml``).

    Attributes:
        checkpoint: the checkpoint folder to export (mandatory).
        out: the folder to write (mandatory; replaced only with ``overwrite``).
        weights_dtype: storage dtype of floating weights: float32, float16 or bfloat16.
        contexts_from: dataset folder to draw starting contexts from; null: the training data
            recorded in the checkpoint (``training.data.path``).
        num_contexts: starting contexts to bundle (0: none; an existing bundle is then kept).
        context_length: frames per context (1 .. the checkpoint's ``max_context_frames``).
        val_fraction: the held-out share used when splitting ``contexts_from``; null: the
            training run's ``data.val_fraction`` (so contexts come from episodes never trained on).
        seed: seeds the split (null: the training run's seed) and the choice of episodes/starts.
        num_inference_steps: the sampler's default steps in the export (null: the source's);
            ``simworld eval`` and the learned env sample with it unless told otherwise.
        evaluation: an eval run directory (``simworld eval``) of this checkpoint: its
            ``summary.json`` goes into the card (JSON) and its ``summary.md`` tables into the
            Markdown card, so the card carries the metrics beside the references. Exporting is
            deterministic, so re-exporting with ``evaluation`` after evaluating the export gives
            the same weights (and hashes) as the evaluated ones.
        overwrite: replace an existing ``out``.
    """

    checkpoint: str = "???"
    out: str = "???"
    weights_dtype: str = "float16"
    contexts_from: str | None = None
    num_contexts: int = 16
    context_length: int = 8
    val_fraction: float | None = None
    seed: int | None = None
    num_inference_steps: int | None = None
    evaluation: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.weights_dtype not in WEIGHTS_DTYPES:
            raise ValueError(
                f"weights_dtype must be one of {sorted(WEIGHTS_DTYPES)}, got {self.weights_dtype!r}"
            )
        if self.num_inference_steps is not None and self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1 or null, got {self.num_inference_steps}")
        if self.num_contexts < 0 or self.context_length < 1:
            raise ValueError(
                "need num_contexts >= 0 and context_length >= 1, "
                f"got {self.num_contexts}, {self.context_length}"
            )


def _training_config(training: dict[str, Any]) -> dict[str, Any]:
    return training.get("config", {}) if isinstance(training.get("config"), dict) else {}


def held_out_contexts(
    dataset: str | Path,
    num_contexts: int,
    length: int,
    frame_size: tuple[int, int],
    val_fraction: float,
    split_seed: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, int]]]:
    """``num_contexts`` clips of ``length`` frames from the held-out (val) episodes of a dataset.

    Episodes are split exactly as training splits them (``simworld.data.windows.split_episodes``
    with the same fraction and seed), then episodes and start frames are drawn with ``seed``.

    Returns:
        frames uint8 (K, T, H, W, 3), actions float32 (K, T-1, 21), and per context its
        ``{"episode", "start"}``.

    Raises:
        ValueError: no held-out episode is long enough, or frames of another size.
    """
    from envs.learned.contexts import from_dataset
    from simworld.data import load_manifest
    from simworld.data.windows import split_episodes

    manifest = load_manifest(dataset)
    lengths = {r.index: r.num_frames for r in manifest.episodes}
    val = split_episodes(sorted(lengths), "val", val_fraction, split_seed)
    usable = [e for e in val if lengths[e] >= length]
    if not usable:
        raise ValueError(
            f"{dataset}: no held-out episode (val_fraction {val_fraction}, seed {split_seed}) has "
            f"{length} frames; held-out lengths: {[lengths[e] for e in val]}"
        )
    rng = np.random.default_rng(seed)
    episodes = rng.choice(usable, size=num_contexts, replace=num_contexts > len(usable))
    frames, actions, origin = [], [], []
    for episode in sorted(int(e) for e in episodes):
        start = int(rng.integers(0, lengths[episode] - length + 1))
        context = from_dataset(dataset, episode, start, length, frame_size)
        frames.append(context.frames)
        actions.append(context.actions)
        origin.append({"episode": episode, "start": start})
    return np.stack(frames), np.stack(actions).astype(np.float32), origin


def _evaluation(run_dir: str | Path) -> tuple[dict[str, Any], str]:
    """(card entry, Markdown section) from an eval run's summary files."""
    run_dir = Path(run_dir)
    files = run_dir / "summary.json", run_dir / "summary.md"
    if not all(f.exists() for f in files):
        raise FileNotFoundError(
            f"{run_dir}: no summary.json/summary.md (is it a simworld eval run directory?)"
        )
    doc = json.loads(files[0].read_text())
    entry = {"run": str(run_dir.resolve()), "suite": doc.get("suite", ""), "results": doc["results"]}
    body = files[1].read_text().split("\n", 1)[1]  # drop the document's own title
    body = body.replace("\n## ", "\n### ")
    return entry, f"\n## Evaluation (`simworld eval`, suite {entry['suite']})\n{body}"


def _card(source: Path, export: dict[str, Any], evaluation: str | None) -> tuple[dict[str, Any], str]:
    card_json = source / "model_card.json"
    card = json.loads(card_json.read_text()) if card_json.exists() else {}
    card["export"] = export
    md_file = source / "model_card.md"
    md = md_file.read_text() if md_file.exists() else "# simworld model card\n"
    lines = [
        "",
        "## Export",
        "",
        f"- exported from `{export['source']}` (steps: {card.get('steps', 'unknown')})",
        f"- weights stored as {export['weights_dtype']} (loading casts to the requested dtype)",
        "- default sampler: " + ", ".join(f"{k} {v}" for k, v in export.get("sampler", {}).items()),
    ]
    if export.get("contexts"):
        c = export["contexts"]
        lines.append(
            f"- {c['count']} bundled starting contexts of {c['length']} frames from held-out episodes "
            f"of `{c['dataset']}` (episodes {sorted({o['episode'] for o in c['origin']})})"
        )
    lines += [f"- `{name}` sha256 {digest}" for name, digest in export["sha256"].items()]
    text = md.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    if evaluation is not None:
        card["evaluation"], section = _evaluation(evaluation)
        text += section
    return card, text


def export_checkpoint(cfg: ExportConfig) -> Path:
    """Write the exported copy of ``cfg.checkpoint`` to ``cfg.out`` (see the module docstring).

    Returns:
        The exported folder.

    Raises:
        FileExistsError: ``out`` exists and ``overwrite`` is false.
        simworld.checkpoint.CheckpointError: the source is not a valid checkpoint.
        ValueError: bad settings (context length, no held-out data).
    """
    source, out = Path(cfg.checkpoint), Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=true to replace it")
    if out.resolve() == source.resolve():
        raise ValueError("out must differ from checkpoint")
    ckpt = load_checkpoint(source)
    manifest = ckpt.manifest
    if cfg.context_length > manifest.max_context_frames:
        raise ValueError(
            f"context_length must be in 1..{manifest.max_context_frames} (the checkpoint's "
            f"max_context_frames), got {cfg.context_length}"
        )
    train_cfg = _training_config(manifest.training)
    dtype = WEIGHTS_DTYPES[cfg.weights_dtype]
    sampler = ckpt.sampler
    if cfg.num_inference_steps is not None:
        sampler = dataclasses.replace(sampler, num_inference_steps=cfg.num_inference_steps)
    tmp = out.with_name(f".{out.name}.export-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_checkpoint(
            tmp,
            latent_space=ckpt.latent_space.to(dtype),
            dit=ckpt.dit.to(dtype),
            head=ckpt.head.to(dtype),
            frame_size=tuple(manifest.frame_size),
            sampler=sampler,
            max_context_frames=manifest.max_context_frames,
            noise_schedule=ckpt.noise_schedule,
            training=manifest.training,
        )
        export: dict[str, Any] = {
            "source": str(source.resolve()),
            "weights_dtype": cfg.weights_dtype,
            "sampler": dataclasses.asdict(sampler),
        }
        if cfg.num_contexts > 0:
            dataset = cfg.contexts_from or manifest.training.get("data", {}).get("path")
            if not dataset:
                raise ValueError("the checkpoint records no training data path; pass contexts_from=DATASET")
            val_fraction = cfg.val_fraction
            if val_fraction is None:
                val_fraction = float(train_cfg.get("data", {}).get("val_fraction", 0.1))
            split_seed = (
                cfg.seed if cfg.seed is not None else int(train_cfg.get("trainer", {}).get("seed", 0))
            )
            frames, actions, origin = held_out_contexts(
                dataset,
                cfg.num_contexts,
                cfg.context_length,
                tuple(manifest.frame_size),
                val_fraction,
                split_seed,
                cfg.seed if cfg.seed is not None else 0,
            )
            write_contexts(tmp, frames, actions)
            export["contexts"] = {
                "dataset": str(Path(dataset).resolve()),
                "count": len(origin),
                "length": cfg.context_length,
                "val_fraction": val_fraction,
                "split_seed": split_seed,
                "origin": origin,
            }
        elif (source / CONTEXTS_FILE).exists():
            (tmp / CONTEXTS_FILE).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / CONTEXTS_FILE, tmp / CONTEXTS_FILE)
        export["sha256"] = {
            str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*.safetensors"))
        }
        card, md = _card(source, export, cfg.evaluation)
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
        (tmp / "model_card.md").write_text(md)
        load_checkpoint(tmp)  # strict round trip before anything replaces out
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
