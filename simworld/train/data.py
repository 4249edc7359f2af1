"""Training batches (config group ``data``): a resumable stream of ``WindowDataset`` batches.

``WindowDataset`` already splits windows across DDP ranks and DataLoader workers, so there is no
``DistributedSampler``. The window order of an epoch is a pure function of (seed, epoch, rank,
worker), so the data position is just (epoch, batches taken in that epoch): :class:`BatchStream`
resumes by re-creating that epoch's loader and skipping the batches already taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from simworld.data.mixed_sizes import MixedSizes, check_mixed_sizes
from simworld.data.windows import WindowDataset


@dataclass
class DataConfig:
    """The training data (config group ``data``).

    Attributes:
        path: a dataset folder written by ``simworld collect`` (mandatory).
        window: frames per training clip (T >= 2).
        batch_size: clips per micro-batch per rank.
        num_workers: DataLoader worker processes per rank (0: in the training process).
        val_fraction: share of episodes held out (sample videos start from val windows).
        latent_cache: latent cache folder of the ``dit`` stage; null: ``<out>/latents``.
        frame_size: [H, W] to train on, for datasets holding several sizes; null: the only one.
        sizes: mixed-size training (NaViT-style packing, stage dit): [[H, W], ...] frame sizes in
            pixels, one drawn per clip, the stored frames resized to cover it and cropped
            (``simworld.data.mixed_sizes``); each a multiple of the latent spatial factor x
            ``model.patch_size``. null: every clip at the stored size.
        size_weights: sampling weight of each entry of ``sizes``; null: uniform.
        windows: clip durations (frames) drawn uniformly per clip, each in [2, ``window``]; null:
            every clip ``window`` frames.
    """

    path: str = "???"
    window: int = 8
    batch_size: int = 4
    num_workers: int = 0
    val_fraction: float = 0.1
    latent_cache: str | None = None
    frame_size: list[int] | None = None
    sizes: list[list[int]] | None = None
    size_weights: list[float] | None = None
    windows: list[int] | None = None

    def __post_init__(self) -> None:
        if self.window < 2 or self.batch_size < 1 or self.num_workers < 0:
            raise ValueError(
                f"need window >= 2, batch_size >= 1, num_workers >= 0; got {self.window}, "
                f"{self.batch_size}, {self.num_workers}"
            )
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        check_mixed_sizes(self.sizes, self.size_weights, self.windows, self.window)

    @property
    def mixed(self) -> bool:
        """True when clips get their own size or duration (``sizes`` or ``windows`` set)."""
        return self.sizes is not None or self.windows is not None

    def mixed_sizes(self, seed: int, factor: int) -> MixedSizes | None:
        """The per-clip size/duration transform of the batch stream; None unless :attr:`mixed`.

        Args:
            seed: the run's seed.
            factor: the latent space's spatial factor (latent caches are resized at size / factor).
        """
        if not self.mixed:
            return None
        return MixedSizes(self.sizes, self.size_weights, self.windows, self.window, seed, factor)

    def dataset(self, path: str | Path, split: str, seed: int) -> WindowDataset:
        """Windows of ``path`` (frames or a latent cache) of ``split``."""
        return WindowDataset(
            path,
            self.window,
            split=split,
            val_fraction=self.val_fraction,
            seed=seed,
            frame_size=self.frame_size,
        )


class BatchStream:
    """Endless batches over epochs, with a resumable position.

    Args:
        dataset: the windows (split over ranks by the dataset itself).
        batch_size: clips per batch.
        num_workers: DataLoader workers.
        seed: seeds the DataLoader's worker seeds (so that the global torch RNG is not drawn from).
        transform: per-clip sizes and durations (``MixedSizes``), applied to each batch with the
            stream's (epoch, position), so that resuming repeats them; None: batches as collated.
    """

    def __init__(
        self,
        dataset: WindowDataset,
        batch_size: int,
        num_workers: int,
        seed: int = 0,
        transform: MixedSizes | None = None,
    ) -> None:
        if len(dataset) < batch_size:
            raise ValueError(
                f"the training split has {len(dataset)} windows per rank, fewer than batch_size="
                f"{batch_size}: use more episodes, a shorter data.window or a smaller data.batch_size"
            )
        self.dataset, self.batch_size, self.num_workers, self.seed = dataset, batch_size, num_workers, seed
        self.transform = transform
        self.epoch, self.position = 0, 0
        self._iter: Iterator[dict[str, Any]] | None = None

    def state(self) -> dict[str, int]:
        """The data position: epoch and batches already taken in it."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state(self, state: dict[str, int]) -> None:
        """Continue from a position returned by :meth:`state`."""
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._iter = None

    def _start(self) -> Iterator[dict[str, Any]]:
        self.dataset.set_epoch(self.epoch)
        generator = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            drop_last=True,
            generator=generator,
        )
        it = iter(loader)
        for _ in range(self.position):  # resume: the epoch's order is deterministic
            next(it)
        return it

    def next(self) -> dict[str, Any]:
        """The next batch (moving to the next epoch when one ends)."""
        for _ in range(2):
            if self._iter is None:
                self._iter = self._start()
            try:
                batch = next(self._iter)
            except StopIteration:
                self.epoch, self.position, self._iter = self.epoch + 1, 0, None
                continue
            self.position += 1
            if self.transform is not None:
                batch = self.transform(batch, self.epoch, self.position - 1)
            return batch
        raise RuntimeError("an epoch yielded no batch")
