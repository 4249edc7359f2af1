"""Scenes of the consistency probes on ViZDoom (``simworld/Doom-*``), in the scenario's map as it is.

Doom maps cannot be edited like the voxel world's blocks; a probe's scene is a ``scenario(game)``
callable (``envs.vizdoom.env.DoomEnv.reset(options={"scenario": ...})``) run on the
``vizdoom.DoomGame`` after the episode starts, before the first frame:

- ``face_open``: turn the player, in place, to the most open of eight headings (the largest
  depth in the centre of the view), so that the motion cases of ``geometry`` and
  ``reprojection`` walk into the room instead of into the wall a spawn may face;
- ``summon_column``: ``face_open``, then summon a ``Column`` (a static decoration: one sprite
  frame, no behaviour, the same in every map) in front of the player, the labelled object of the
  ``permanence`` probe. Doom's monsters move and animate, and items are picked up by walking
  over them: a summoned decoration is the one object that stays where and as it was.

The pitch stays 0 in every scene and case: Doom looks up and down by shearing the image, so the
true K holds only at pitch 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.registration import DOOM_IDS
from envs.vizdoom.env import BUTTON_NAMES
from evals.probes.base import Case, Truth

DOOM_ENVS: tuple[str, ...] = tuple(DOOM_IDS)
"""The ViZDoom ids the Doom scenes run on."""

OBJECT_CLASS = "Column"
"""Doom class of the permanence probe's object (a static decoration, ``Column``)."""

DOOM_OBJECTS = ("column",)
"""Object kinds of the permanence probe on Doom."""

HEADINGS = 8
"""Headings ``face_open`` compares (every 360 / 8 = 45 degrees)."""


def _turn(game: Any, degrees: float) -> None:
    """Turn the player in place by ``degrees`` (positive: right) in one tic, nothing else pressed."""
    buttons = [0.0] * len(BUTTON_NAMES)  # DoomEnv's fixed button set
    buttons[BUTTON_NAMES.index("TURN_LEFT_RIGHT_DELTA")] = float(degrees)
    game.make_action(buttons, 1)


def _free_ahead(game: Any) -> float:
    """Smallest depth-buffer level in the central quarter of the view's middle row (larger: more open)."""
    state = game.get_state()
    if state is None or state.depth_buffer is None:
        raise ValueError("the Doom scenes need the depth buffer: make the env with ground_truth='all'")
    depth = state.depth_buffer
    H, W = depth.shape
    return float(depth[H // 2, W // 2 - W // 8 : W // 2 + W // 8].min())


def face_open(game: Any) -> None:
    """Turn to the most open of ``HEADINGS`` headings (the first on ties), one tic per turn."""
    step = 360.0 / HEADINGS
    free = []
    for _ in range(HEADINGS):
        free.append(_free_ahead(game))
        _turn(game, step)
    best = int(np.argmax(free))  # after the full turn the player faces the start heading again
    if best:
        _turn(game, step * best)


def summon_column(game: Any) -> None:
    """``face_open``, then summon an ``OBJECT_CLASS`` in front of the player.

    ``DoomEnv`` starts the game with ``+sv_cheats 1``, which ``summon`` needs. Where the spot in
    front is blocked nothing appears, and the permanence probe refuses the case.
    """
    face_open(game)
    game.send_game_command(f"summon {OBJECT_CLASS}")
    _turn(game, 0.0)  # console commands run on the next tic


def object_masks(case: Case, truth: Truth) -> np.ndarray:
    """bool (C+K, H, W): the summoned object's TRUE screen region in every frame.

    The pixels of the segmentation whose value is that of the ``OBJECT_CLASS`` label of the frame
    (label values are assigned per frame, so each frame's own label is looked up).

    Raises:
        ValueError: the truth lacks segmentation or labels.
    """
    if truth.segmentation is None or truth.labels is None:
        raise ValueError("the permanence probe on Doom needs segmentation and labels ground truth")
    out = np.zeros(truth.segmentation.shape, bool)
    for t, labels in enumerate(truth.labels):
        for label in labels:
            if label["name"] == OBJECT_CLASS:
                out[t] |= truth.segmentation[t] == label["value"]
    return out
