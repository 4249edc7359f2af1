"""Configuration of the voxel world (one dataclass, validated on construction)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class VoxelWorldConfig:
    """Parameters of a voxel world and of its camera.

    Attributes:
        world_size: horizontal extent in blocks (the world is world_size × world_size columns).
        world_height: vertical extent in blocks.
        sea_level: water fills air below this height.
        terrain_height: mean ground height in blocks.
        terrain_amplitude: peak-to-mean height variation of the hills in blocks.
        tree_density: expected trees per 100 grass columns.
        num_landmarks: vividly coloured wool structures placed in the world.
        num_huts: small plank-and-glass huts placed in the world.
        num_mobs: box creatures wandering from the seed.
        width: rendered frame width in pixels.
        height: rendered frame height in pixels.
        fov_y: vertical field of view in degrees (Minecraft's default is 70).
        view_distance: distance in blocks beyond which only sky is drawn.
        fog_start: distance in blocks where distance fog starts.
        ticks_per_step: 20 Hz physics ticks per env step (1 is Minecraft/MineRL's 20 steps/s).
    """

    world_size: int = 128
    world_height: int = 48
    sea_level: int = 14
    terrain_height: int = 16
    terrain_amplitude: float = 7.0
    tree_density: float = 1.0
    num_landmarks: int = 4
    num_huts: int = 2
    num_mobs: int = 4
    width: int = 64
    height: int = 64
    fov_y: float = 70.0
    view_distance: float = 32.0
    fog_start: float = 20.0
    ticks_per_step: int = 1

    _RANGES = {
        "world_size": (32, 1024),
        "world_height": (16, 256),
        "sea_level": (0, 255),
        "terrain_height": (2, 250),
        "terrain_amplitude": (0.0, 64.0),
        "tree_density": (0.0, 20.0),
        "num_landmarks": (0, 16),
        "num_huts": (0, 16),
        "num_mobs": (0, 64),
        "width": (8, 4096),
        "height": (8, 4096),
        "fov_y": (10.0, 160.0),
        "view_distance": (4.0, 512.0),
        "fog_start": (0.0, 512.0),
        "ticks_per_step": (1, 100),
    }

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            lo, hi = self._RANGES[f.name]
            is_int = isinstance(lo, int)
            if isinstance(value, bool) or not isinstance(value, int if is_int else (int, float)):
                kind = "an integer" if is_int else "a number"
                raise ValueError(f"{f.name} must be {kind} in [{lo}, {hi}], got {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"{f.name} must be in [{lo}, {hi}], got {value!r}")
        if self.terrain_height + self.terrain_amplitude + 8 > self.world_height:
            raise ValueError(
                f"terrain_height + terrain_amplitude + 8 (room for trees) must be <= world_height="
                f"{self.world_height}, got {self.terrain_height} + {self.terrain_amplitude} + 8"
            )
        if self.sea_level >= self.world_height:
            raise ValueError(f"sea_level must be < world_height={self.world_height}, got {self.sea_level}")
        if self.fog_start > self.view_distance:
            raise ValueError(f"fog_start must be <= view_distance={self.view_distance}, got {self.fog_start}")

    def to_dict(self) -> dict:
        """Plain dict of the parameters (JSON-serialisable)."""
        return asdict(self)
