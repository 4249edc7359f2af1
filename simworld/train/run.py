"""``train(config)``: the whole ``simworld train`` job (docs/training.md).

Stages (``trainer.stage``):

- ``vae``: train the VAE on frame clips; at the end measure the latent shift/scale on
  ``vae.stats_batches`` training batches and write ``<out>/vae/`` (a VAE folder that
  ``vae.pretrained`` accepts).
- ``dit``: encode the dataset once into a latent cache (``simworld.data.latents``) with the
  pretrained VAE or the pixel space, then train the DiT + reward/termination head on it.
- ``joint``: VAE and DiT together on frame clips (latent stats measured once, on the initial
  VAE, unless a pretrained VAE brings them).

``dit`` and ``joint`` write the world-model checkpoint ``<out>/checkpoint/`` (EMA weights;
``WorldModel.load`` reads it) and a model card. Every stage keeps ``<out>/train_state/`` for
exact resume, ``<out>/metrics.csv`` and sample videos in ``<out>/samples/``.

``trainer.init_from`` starts a ``dit`` or ``joint`` run from a checkpoint's DiT + head weights
(:mod:`simworld.train.init_from`); a resumed run ignores it (its train_state holds the weights).
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simworld.checkpoint import save_checkpoint
from simworld.data.latents import cache_latents
from simworld.data.mixed_sizes import check_sizes
from simworld.data.windows import WindowDataset
from simworld.diffusion.samplers import SamplerConfig
from simworld.models.pixel_space import PixelSpace
from simworld.models.vae import VideoVAE
from simworld.train.card import model_card, write_card
from simworld.train.components import Denoiser, LatentSpaceConfig, ModelConfig
from simworld.train.data import BatchStream, DataConfig
from simworld.train.init_from import check_latent_space, load_init_weights, resolve_init_from
from simworld.train.logger import RunLogger
from simworld.train.samples import write_samples
from simworld.train.state import load_train_state, save_train_state
from simworld.train.tasks import DiTTask, JointTask, VAETask
from simworld.train.trainer import Distributed, Trainer, TrainerConfig, init_distributed


@dataclass
class TrainConfig:
    """Train the world model: VAE, DiT on cached latents, or both (``configs/train.yaml``).

    Attributes:
        model: DiT + head (config group ``model``).
        vae: latent space (config group ``vae``: tiny/small/base VAE presets or ``pixel``).
        data: dataset, window, batch size, workers, val split (config group ``data``).
        trainer: stage, steps, optimiser, precision, EMA, logging, saving (config group ``trainer``).
        sampler: sampler defaults stored in the checkpoint and used for sample videos (group ``sampler``).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    vae: LatentSpaceConfig = field(default_factory=LatentSpaceConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)

    def __post_init__(self) -> None:
        stage, vae = self.trainer.stage, self.vae
        if stage == "vae" and vae.kind != "vae":
            raise ValueError("trainer.stage=vae trains a VideoVAE; vae=pixel has nothing to train")
        if stage == "dit" and vae.kind == "vae" and vae.pretrained is None:
            raise ValueError(
                "trainer.stage=dit with a VAE needs vae.pretrained=<a stage-vae run folder or VAE folder>; "
                "or use vae=pixel, or trainer.stage=joint"
            )
        if stage != "vae" and vae.kind == "vae" and vae.temporal_factor != 1:
            raise ValueError(
                "the world model steps one frame per action: stages dit/joint need temporal_factor=1"
            )
        if self.data.mixed and stage != "dit":
            raise ValueError(
                f"data.sizes / data.windows (mixed-size training) need trainer.stage=dit, got {stage!r}"
            )
        if self.data.sizes is not None:
            check_sizes(self.data.sizes, vae.spatial_factor * self.model.patch_size)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _weights_digest(modules: dict[str, torch.nn.Module]) -> str:
    """sha256 of every parameter's bytes (checks that DDP ranks hold the same weights)."""
    h = hashlib.sha256()
    for name, module in sorted(modules.items()):
        for key, value in module.state_dict().items():
            h.update(f"{name}.{key}".encode())
            h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _latent_cache(cfg: TrainConfig, space: VideoVAE | PixelSpace, dist: Distributed) -> Path:
    """Encode the dataset (rank 0; the others wait) and return the latent cache folder."""
    out = Path(cfg.data.latent_cache or Path(cfg.trainer.out) / "latents")
    digest = _weights_digest({"latent": space})[:16]
    if dist.is_main:
        space = space.to(dist.device).eval()

        def encode(frames: torch.Tensor) -> torch.Tensor:  # (B, H, W, 3) -> (B, C, h, w)
            return space.encode(frames[:, None].to(dist.device))[:, 0]

        name = f"{type(space).__name__}:{digest}"
        cache_latents(
            cfg.data.path,
            out,
            encode,
            encoder_name=name,
            dtype=cfg.vae.cache_dtype,
            progress=cfg.trainer.progress,
        )
    dist.barrier()
    return out


def _measure_stats(vae: VideoVAE, cfg: TrainConfig) -> None:
    """Latent shift/scale on the first ``stats_batches`` training batches (same on every rank)."""
    ds = WindowDataset(
        cfg.data.path,
        cfg.data.window,
        val_fraction=cfg.data.val_fraction,
        seed=cfg.trainer.seed,
        frame_size=cfg.data.frame_size,
        rank=0,
        world_size=1,
    )
    loader = torch.utils.data.DataLoader(ds, batch_size=cfg.data.batch_size)
    vae.compute_latent_stats((b["frames"] for b in loader), max_batches=cfg.vae.stats_batches)


def _build(
    cfg: TrainConfig, dist: Distributed, init_from: Path | None
) -> tuple[Any, BatchStream, VideoVAE | PixelSpace, dict[str, Any] | None]:
    """The task, its batch stream, the latent space and, when the DiT starts from the checkpoint
    ``init_from``, the model card's record of it, for the configured stage."""
    tcfg, stage = cfg.trainer, cfg.trainer.stage
    space = cfg.vae.build()
    if init_from is not None:
        check_latent_space(init_from, space)  # before the dataset is encoded
    if stage == "dit":
        data_path: str | Path = _latent_cache(cfg, space, dist)
    else:
        data_path = cfg.data.path
    factor = space.config.spatial_factor  # a pretrained VAE's own factor, not vae.spatial_factor
    if cfg.data.sizes is not None:
        check_sizes(cfg.data.sizes, factor * cfg.model.patch_size)
    stream = BatchStream(
        cfg.data.dataset(data_path, "train", tcfg.seed),
        cfg.data.batch_size,
        cfg.data.num_workers,
        tcfg.seed,
        transform=cfg.data.mixed_sizes(tcfg.seed, factor),
    )
    if stage == "vae":
        return VAETask(space, cfg.vae.loss, dist, tcfg.dtype, tcfg.lr), stream, space, None
    denoiser = Denoiser.build(cfg.model, space.config.latent_channels)
    # before the task: the optimizer and the EMA copy are made from the loaded weights
    record = None if init_from is None else load_init_weights(denoiser, init_from, cfg.model.preset)
    dit_task = DiTTask(denoiser, cfg.model, dist)
    if stage == "dit":
        return dit_task, stream, space.to(dist.device).eval(), record
    if not space.has_latent_stats:
        _measure_stats(space, cfg)
    vae_task = VAETask(space, cfg.vae.loss, dist, tcfg.dtype, tcfg.lr)
    return JointTask(vae_task, dit_task), stream, space, record


def _frame_size(cfg: TrainConfig) -> tuple[int, int]:
    ds = WindowDataset(cfg.data.path, 2, split="all", frame_size=cfg.data.frame_size, rank=0, world_size=1)
    return tuple(ds.episodes[0].frame_size)


class _Run:
    """Callbacks of one job: logging, samples, saving (see :func:`train`).

    ``init_from``: the checkpoint folder the DiT starts from (None: fresh weights or a resume).
    """

    def __init__(self, cfg: TrainConfig, dist: Distributed, init_from: Path | None = None) -> None:
        self.cfg, self.dist, self.out = cfg, dist, Path(cfg.trainer.out)
        # the model card's init_from record: kept in train_state so that resumed runs keep it
        self.task, self.stream, self.space, self.init_from = _build(cfg, dist, init_from)
        self.frame_size = _frame_size(cfg)
        self.trainer = Trainer(
            cfg.trainer, dist, self.task, self.stream.next, self.log, self.sample, self.save
        )
        self.logger = RunLogger(self.out, echo=cfg.trainer.progress) if dist.is_main else None
        self.digests: list[str] = []
        self.sample_window: dict[str, Any] | None = None  # the held-out clip of the sample videos

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from a loaded ``train_state`` (see :func:`_saved_state`)."""
        self.trainer.load_state_dict(state)
        self.stream.load_state(state["data"])
        self.init_from = state.get("init_from")

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """Write a metrics row."""
        self.logger.log(step, metrics)

    def world_model_parts(self) -> tuple[Any, Any, Any]:
        """(latent space, EMA DiT, EMA head) for sampling and the checkpoint."""
        ema = self.trainer.ema.module
        return self.space, ema.dit, ema.head

    def sample(self, step: int) -> None:
        """Write a sample video of the current (EMA) model."""
        write_samples(self, step)

    def save(self, step: int) -> None:
        """Save train_state (rank 0 gathers every rank's RNG) and the stage's product."""
        rng = self.dist.gather(self.trainer.state())
        stop = self.cfg.trainer.stop_at or self.cfg.trainer.max_steps
        if step == stop:
            self.digests = self.dist.gather(_weights_digest(self.task.modules))
        if self.dist.is_main:
            state = {
                **self.trainer.state_dict(rng),
                "stage": self.cfg.trainer.stage,
                "data": self.stream.state(),
                "init_from": self.init_from,
            }
            save_train_state(self.out, state)
            self.write_product(step)
        self.dist.barrier()

    def write_product(self, step: int) -> None:
        """``<out>/vae/`` (stage vae) or ``<out>/checkpoint/`` (dit, joint), with the model card."""
        cfg = self.cfg
        card = model_card(self, step)
        if cfg.trainer.stage == "vae":
            vae = copy.deepcopy(self.space)
            if step == cfg.trainer.max_steps:
                _measure_stats(vae, cfg)
                card["latent_stats"] = {
                    "shift": vae.latent_shift.tolist(),
                    "scale": vae.latent_scale.tolist(),
                }
            folder = vae.save_pretrained(self.out / "vae")
        else:
            space, dit, head = self.world_model_parts()
            folder = save_checkpoint(
                self.out / "checkpoint",
                latent_space=space,
                dit=dit,
                head=head,
                frame_size=self.frame_size,
                sampler=cfg.sampler,
                max_context_frames=cfg.model.max_context_frames,
                noise_schedule=cfg.model.noise_schedule,
                training=card,
            )
        write_card(folder, card)
        write_card(self.out, card)


def _saved_state(cfg: TrainConfig) -> dict[str, Any] | None:
    """``<out>/train_state`` when ``trainer.resume`` and present (checked before anything is built).

    Raises:
        ValueError: the state belongs to another stage.
    """
    out = Path(cfg.trainer.out)
    state = load_train_state(out) if cfg.trainer.resume else None
    if state is not None and state["stage"] != cfg.trainer.stage:
        raise ValueError(
            f"{out}/train_state is from stage {state['stage']!r}, not {cfg.trainer.stage!r}; "
            f"use another trainer.out or trainer.resume=false"
        )
    return state


def _init_source(cfg: TrainConfig, state: dict[str, Any] | None, dist: Distributed) -> Path | None:
    """The checkpoint folder of ``trainer.init_from``; None when unset or when the run resumes."""
    if cfg.trainer.init_from is None:
        return None
    if state is not None:
        if dist.is_main:
            print(
                f"trainer.init_from={cfg.trainer.init_from} ignored: resuming {cfg.trainer.out}/train_state "
                f"(it holds the weights)"
            )
        return None
    return resolve_init_from(cfg.trainer.init_from)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run the job (under torchrun: one call per process); return rank 0's model card (``{}`` elsewhere)."""
    dist = init_distributed(cfg.trainer.device)
    try:
        return _train(cfg, dist)
    finally:
        if dist.enabled and torch.distributed.is_initialized():
            _shut_down(dist)


def _train(cfg: TrainConfig, dist: Distributed) -> dict[str, Any]:
    _seed_everything(cfg.trainer.seed)
    out = Path(cfg.trainer.out)
    state = _saved_state(cfg)
    init_from = _init_source(cfg, state, dist)
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    run = _Run(cfg, dist, init_from)
    if state is not None:
        run.resume(state)
        if dist.is_main and cfg.trainer.progress:
            print(f"resumed {out}/train_state at step {run.trainer.step}")
    run.trainer.run()
    if run.logger is not None:
        run.logger.close()
    card = model_card(run, run.trainer.step) if dist.is_main else {}
    dist.barrier()  # every rank done with collectives before any rank tears the group down
    return card


def _shut_down(dist: Distributed) -> None:
    """Free the DDP wrappers (they hold the process group) and destroy the group while Python is alive.

    Left to interpreter shutdown, gloo's worker threads can be destroyed while still joinable, which
    aborts the process ("terminate called without an active exception") after a successful run.
    """
    gc.collect()
    torch.distributed.destroy_process_group()
    gc.collect()
