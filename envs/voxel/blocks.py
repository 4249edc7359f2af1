"""Block types of the voxel world and their procedural textures.

Every block id indexes the tables below; id 0 is air. Textures are generated once from a
fixed seed (they do not depend on the world seed), 16×16 texels per face kind (top, side,
bottom), RGBA: alpha 0 texels are cut out (glass interior, gaps between leaves), which the
renderer skips so that the ray continues behind them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEXTURE_SIZE = 16
FACE_TOP, FACE_SIDE, FACE_BOTTOM = 0, 1, 2


@dataclass(frozen=True)
class BlockType:
    """One block type.

    Attributes:
        name: Minecraft-style name.
        solid: collides with the player and mobs.
        gravity: falls when the cell below is not solid (sand, gravel).
        cutout: some texels are transparent and the ray passes through them.
    """

    name: str
    solid: bool = True
    gravity: bool = False
    cutout: bool = False


BLOCKS: tuple[BlockType, ...] = (
    BlockType("air", solid=False),
    BlockType("grass"),
    BlockType("dirt"),
    BlockType("stone"),
    BlockType("sand", gravity=True),
    BlockType("gravel", gravity=True),
    BlockType("log"),
    BlockType("leaves", cutout=True),
    BlockType("water", solid=False),
    BlockType("glass", cutout=True),
    BlockType("planks"),
    BlockType("red_wool"),
    BlockType("blue_wool"),
    BlockType("yellow_wool"),
    BlockType("magenta_wool"),
    BlockType("bedrock"),
)

BLOCK_IDS: dict[str, int] = {b.name: i for i, b in enumerate(BLOCKS)}
NUM_BLOCKS = len(BLOCKS)
AIR = 0
WATER = BLOCK_IDS["water"]
LANDMARK_BLOCKS = ("red_wool", "blue_wool", "yellow_wool", "magenta_wool")

SOLID = np.array([b.solid for b in BLOCKS], dtype=np.bool_)
GRAVITY = np.array([b.gravity for b in BLOCKS], dtype=np.bool_)


def block_id(name: str) -> int:
    """Return the id of a block by name.

    Raises:
        ValueError: the name is not a block; the message lists the valid names.
    """
    if name not in BLOCK_IDS:
        raise ValueError(f"unknown block {name!r}; valid blocks: {', '.join(BLOCK_IDS)}")
    return BLOCK_IDS[name]


# Base colours (RGB) per block and face kind: (top, side, bottom).
_COLOURS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "grass": ((95, 159, 53), (134, 96, 67), (134, 96, 67)),
    "dirt": ((134, 96, 67),) * 3,
    "stone": ((125, 125, 125),) * 3,
    "sand": ((219, 207, 163),) * 3,
    "gravel": ((136, 126, 126),) * 3,
    "log": ((160, 130, 80), (102, 81, 50), (160, 130, 80)),
    "leaves": ((60, 120, 40),) * 3,
    "water": ((47, 84, 200),) * 3,
    "glass": ((200, 230, 240),) * 3,
    "planks": ((162, 130, 78),) * 3,
    "red_wool": ((200, 40, 40),) * 3,
    "blue_wool": ((40, 70, 210),) * 3,
    "yellow_wool": ((240, 210, 40),) * 3,
    "magenta_wool": ((200, 60, 200),) * 3,
    "bedrock": ((60, 60, 60),) * 3,
}


def _noise_texel(rng: np.random.Generator, base: tuple[int, int, int], amount: float) -> np.ndarray:
    """A 16×16 RGB tile: the base colour with per-texel brightness noise (Minecraft's speckle)."""
    shade = 1.0 + amount * rng.standard_normal((TEXTURE_SIZE, TEXTURE_SIZE, 1))
    return np.clip(np.asarray(base, np.float32) * shade, 0, 255)


def _pattern(name: str, face: int, tile: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> None:
    """Block-specific structure on top of the speckle, so that motion is visible on every surface."""
    n = TEXTURE_SIZE
    yy, xx = np.mgrid[0:n, 0:n]
    if name == "grass" and face == FACE_SIDE:
        # green fringe hanging down from the top edge, with an irregular lower border
        depth = 3 + rng.integers(0, 3, size=n)
        mask = yy < depth[None, :]
        tile[mask] = _noise_texel(rng, (95, 159, 53), 0.12)[mask]
    elif name == "log" and face == FACE_SIDE:
        tile *= (0.85 + 0.15 * ((xx % 4) == 0))[..., None]  # vertical bark grooves
    elif name == "log":
        r = np.hypot(xx - 7.5, yy - 7.5)
        tile *= (0.8 + 0.2 * (np.floor(r) % 2))[..., None]  # growth rings
    elif name == "planks":
        tile *= (0.75 + 0.25 * ((yy % 4) != 3))[..., None]  # board seams
        tile[(yy % 8 < 4) & (xx == 5)] *= 0.7
        tile[(yy % 8 >= 4) & (xx == 12)] *= 0.7
    elif name == "stone":
        blobs = rng.random((n, n)) < 0.08
        tile[blobs] *= 0.7
    elif name == "glass":
        edge = (xx == 0) | (yy == 0) | (xx == n - 1) | (yy == n - 1)
        streak = (xx - yy == 3) | (xx - yy == 4) | (xx - yy == -6)
        alpha[:] = edge | (streak & (xx > 2) & (xx < 13))
        tile[edge] = (220, 235, 240)
    elif name == "leaves":
        alpha[:] = rng.random((n, n)) > 0.3
    elif name.endswith("_wool"):
        tile *= (0.9 + 0.1 * (((xx + yy) % 3) == 0))[..., None]  # knit diagonal
    elif name == "water":
        tile *= (0.9 + 0.1 * np.sin(xx * 0.8 + yy * 0.4))[..., None]
    elif name == "bedrock":
        tile[rng.random((n, n)) < 0.3] *= 0.4


def make_textures(seed: int = 1234) -> np.ndarray:
    """Build the texture atlas.

    Returns:
        uint8 (NUM_BLOCKS, 3, 16, 16, 4): RGBA per block, face kind (top, side, bottom), row, column.
    """
    rng = np.random.default_rng(seed)
    atlas = np.zeros((NUM_BLOCKS, 3, TEXTURE_SIZE, TEXTURE_SIZE, 4), np.uint8)
    for i, block in enumerate(BLOCKS):
        if block.name == "air":
            continue
        for face in (FACE_TOP, FACE_SIDE, FACE_BOTTOM):
            amount = 0.04 if block.name in ("water", "glass") else 0.1
            tile = _noise_texel(rng, _COLOURS[block.name][face], amount)
            alpha = np.ones((TEXTURE_SIZE, TEXTURE_SIZE), np.bool_)
            _pattern(block.name, face, tile, alpha, rng)
            atlas[i, face, ..., :3] = np.clip(tile, 0, 255).astype(np.uint8)
            atlas[i, face, ..., 3] = np.where(alpha, 255, 0)
    return atlas


TEXTURES = make_textures()
