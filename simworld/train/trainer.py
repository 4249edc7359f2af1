"""The training loop of ``simworld train`` (config group ``trainer``).

One loop serves every stage (:mod:`simworld.train.tasks` says what a step computes): per step,
``grad_accum`` micro-batches (DDP gradient sync on the last only), autocast in the chosen
precision, global-norm clipping, AdamW with linear warmup then cosine decay, an EMA of the DiT and
head, logging, sample videos and an atomic save of everything needed to resume exactly.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from simworld.train.state import capture_rng, restore_rng

STAGES = ("vae", "dit", "joint")
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass
class TrainerConfig:
    """How to train (config group ``trainer``).

    Attributes:
        stage: "vae" (the VAE, then its latent stats), "dit" (DiT + reward head on cached latents of
            ``vae.pretrained`` or the pixel space) or "joint" (both at once).
        out: run folder: metrics.csv, samples/, train_state/, vae/ or checkpoint/.
        max_steps: optimisation steps; the LR schedule ends here.
        stop_at: stop (and save) after this step as if interrupted; null: at ``max_steps``.
        lr: peak AdamW learning rate.
        warmup_steps: linear warmup steps from 0 to ``lr``.
        min_lr_ratio: the cosine decay ends at ``lr * min_lr_ratio``.
        weight_decay: AdamW weight decay.
        grad_clip: max global gradient norm; 0 turns clipping off.
        grad_accum: micro-batches per optimisation step.
        precision: "fp32" or "bf16" (autocast; weights and optimizer state stay fp32).
        ema_decay: EMA decay of the DiT and head weights (used for samples and the checkpoint).
        log_every: steps between log rows (the last step is always logged).
        sample_every: steps between sample videos (0: never; else the last step gets one too).
        save_every: steps between saves of train_state/ and the checkpoint (the last step always).
        seed: seeds weights, data order, noise and dropout.
        device: "auto" (the rank's GPU when CUDA is available, else CPU), "cpu" or "cuda".
        resume: continue from ``out/train_state`` when it exists.
        init_from: a checkpoint folder (``<out>/checkpoint`` of a run, or a ``simworld export``)
            whose DiT + head weights start a new run (stages dit and joint); its tensor names and
            shapes and its latent space must match the configured ones (``simworld.train.init_from``).
            Ignored, with a notice, when the run resumes from ``out/train_state``.
        progress: show a progress bar (rank 0).
    """

    stage: str = "dit"
    out: str = "runs/train"
    max_steps: int = 1000
    stop_at: int | None = None
    lr: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    grad_accum: int = 1
    precision: str = "fp32"
    ema_decay: float = 0.999
    log_every: int = 10
    sample_every: int = 500
    save_every: int = 500
    seed: int = 0
    device: str = "auto"
    resume: bool = True
    init_from: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"trainer.stage must be one of {list(STAGES)}, got {self.stage!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"trainer.precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.init_from is not None and self.stage == "vae":
            raise ValueError(
                "trainer.init_from applies to stage dit (and the DiT of stage joint): it loads a "
                "checkpoint's DiT + head; stage vae trains no DiT"
            )
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"trainer.device must be one of ['auto', 'cpu', 'cuda'], got {self.device!r}")
        if self.max_steps < 1 or self.grad_accum < 1 or self.log_every < 1 or self.save_every < 1:
            raise ValueError("max_steps, grad_accum, log_every and save_every must be >= 1")
        if self.stop_at is not None and not 1 <= self.stop_at <= self.max_steps:
            raise ValueError(f"stop_at must be in [1, max_steps={self.max_steps}], got {self.stop_at}")
        if min(self.lr, self.warmup_steps, self.min_lr_ratio, self.weight_decay, self.grad_clip) < 0:
            raise ValueError("lr, warmup_steps, min_lr_ratio, weight_decay and grad_clip must be >= 0")
        if not 0.0 <= self.ema_decay < 1.0 or self.sample_every < 0:
            raise ValueError(
                f"ema_decay must be in [0, 1) and sample_every >= 0; got {self.ema_decay}, "
                f"{self.sample_every}"
            )

    @property
    def dtype(self) -> torch.dtype:
        """The autocast dtype."""
        return PRECISIONS[self.precision]


def lr_at(step: int, config: TrainerConfig) -> float:
    """Learning rate of step ``step`` (0-based): linear warmup, then cosine decay to the floor."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(config.max_steps - config.warmup_steps, 1)
    progress = min((step - config.warmup_steps) / span, 1.0)
    floor = config.lr * config.min_lr_ratio
    return floor + (config.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class EMA:
    """Exponential moving average of a module's parameters (buffers are copied).

    Args:
        module: the module to average (a copy is kept, frozen, in eval mode).
        decay: weight of the old average per update.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """``ema ← decay · ema + (1 - decay) · weights``."""
        for ema_p, p in zip(self.module.parameters(), module.parameters(), strict=True):
            ema_p.lerp_(p.detach(), 1.0 - self.decay)
        for ema_b, b in zip(self.module.buffers(), module.buffers(), strict=True):
            ema_b.copy_(b)


@dataclass
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 without one).

    Attributes:
        rank: global rank.
        world_size: number of processes.
        local_rank: rank on this machine (picks the GPU).
        device: where this rank trains.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes logs, samples and checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every rank (no-op alone)."""
        if self.enabled:
            dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` of every rank, in rank order (in memory only; nothing is stored pickled)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def average_grads(self, params: Iterable[nn.Parameter]) -> None:
        """All-reduce-mean the gradients of parameters not wrapped in DDP."""
        if self.enabled:
            for p in params:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.world_size

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` wrapped in DDP when distributed, else itself."""
        if not self.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def init_distributed(device: str) -> Distributed:
    """Join the torchrun job described by RANK/WORLD_SIZE/LOCAL_RANK (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("trainer.device=cuda but CUDA is not available; use trainer.device=cpu or auto")
    target = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(target)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(rank, world, local, target)


class Trainer:
    """Runs the optimisation steps of a task; see the module docstring.

    Args:
        config: the trainer settings.
        distributed: this process's place in the job.
        task: a ``simworld.train.tasks`` task (modules, loss, optional EMA target).
        next_batch: returns the next micro-batch.
        on_log: called on rank 0 with (step, metrics) at logging steps.
        on_sample: called on rank 0 with the step at sampling steps.
        on_save: called on every rank with the step at saving steps (it gathers RNG states).
    """

    def __init__(
        self,
        config: TrainerConfig,
        distributed: Distributed,
        task: Any,
        next_batch: Callable[[], dict[str, Any]],
        on_log: Callable[[int, dict[str, Any]], None],
        on_sample: Callable[[int], None],
        on_save: Callable[[int], None],
    ) -> None:
        self.config, self.dist, self.task, self.next_batch = config, distributed, task, next_batch
        self.on_log, self.on_sample, self.on_save = on_log, on_sample, on_save
        params = [p for m in task.modules.values() for p in m.parameters() if p.requires_grad]
        self.params = params
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        target = task.ema_target
        self.ema = EMA(target, config.ema_decay) if target is not None else None
        self.generator = torch.Generator().manual_seed(config.seed * 1_000_003 + distributed.rank)
        self.step = 0
        self.last_metrics: dict[str, Any] = {}
        self.wall_seconds = 0.0

    def state(self) -> dict[str, Any]:
        """This rank's part of the resume state that is not already in rank 0's (its RNG)."""
        return capture_rng(self.generator)

    def state_dict(self, rng: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything to resume from (``rng``: every rank's :meth:`state`)."""
        return {
            "step": self.step,
            "wall_seconds": self.wall_seconds,
            "modules": {name: m.state_dict() for name, m in self.task.modules.items()},
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "task": self.task.extra_state(),
            "rng": rng,
            "world_size": self.dist.world_size,
            "last_metrics": {k: v for k, v in self.last_metrics.items() if isinstance(v, (int, float))},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (on every rank)."""
        if state["world_size"] != self.dist.world_size:
            raise ValueError(
                f"train_state was saved with {state['world_size']} processes; resume with the same "
                f"number (got {self.dist.world_size}) for an exact resume"
            )
        for name, module in self.task.modules.items():
            module.load_state_dict(state["modules"][name])
        if self.ema is not None:
            self.ema.module.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.task.load_extra_state(state["task"])
        restore_rng(state["rng"][self.dist.rank], self.generator)
        self.step, self.wall_seconds = int(state["step"]), float(state["wall_seconds"])
        self.last_metrics = dict(state["last_metrics"])

    def _micro_step(self, index: int, totals: dict[str, float]) -> None:
        cfg = self.config
        sync = index == cfg.grad_accum - 1
        with contextlib.ExitStack() as stack:
            if not sync:
                for module in self.task.wrapped:
                    if hasattr(module, "no_sync"):
                        stack.enter_context(module.no_sync())
            device = self.dist.device
            with torch.autocast(device.type, dtype=cfg.dtype, enabled=cfg.dtype != torch.float32):
                terms = self.task.loss(self.next_batch(), self.step, self.generator)
            (terms["loss"] / cfg.grad_accum).backward()
        for key, value in terms.items():
            if isinstance(value, torch.Tensor):
                totals[key] = totals.get(key, 0.0) + float(value.detach()) / cfg.grad_accum
            else:
                totals[key] = value

    def train_step(self) -> dict[str, Any]:
        """One optimisation step; returns its metrics."""
        cfg = self.config
        lr = lr_at(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, Any] = {}
        for index in range(cfg.grad_accum):
            self._micro_step(index, totals)
        clip = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        totals["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.params, clip))
        self.optimizer.step()
        totals.update(self.task.after_step(self.step, self.dist))
        if self.ema is not None:
            self.ema.update(self.task.ema_target)
        totals["lr"] = lr
        self.step += 1
        return totals

    def run(self) -> None:
        """Train from the current step to ``stop_at`` (or ``max_steps``)."""
        cfg = self.config
        stop = cfg.stop_at or cfg.max_steps
        bar = tqdm(
            total=stop,
            initial=self.step,
            desc=f"train {cfg.stage}",
            disable=not (cfg.progress and self.dist.is_main),
        )
        t0 = time.perf_counter() - self.wall_seconds
        while self.step < stop:
            metrics = self.train_step()
            self.wall_seconds = time.perf_counter() - t0
            self.last_metrics = metrics
            last = self.step == stop
            bar.update(1)
            bar.set_postfix(loss=f"{metrics['loss']:.4f}")
            if self.dist.is_main and (self.step % cfg.log_every == 0 or last):
                self.on_log(self.step, {**metrics, "seconds": self.wall_seconds})
            if self.dist.is_main and cfg.sample_every and (self.step % cfg.sample_every == 0 or last):
                self.on_sample(self.step)
            if self.step % cfg.save_every == 0 or last:
                self.on_save(self.step)
        bar.close()
