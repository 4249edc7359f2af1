#!/usr/bin/env bash
# The GIFs of docs/modes.md: every generation mode of `simworld sample` on the voxel-trained demo
# model (recipe: docs/modes.md, "The demo model"), from held-out episode 6 of the reference dataset
# (an `explore` episode; the val split of data.val_fraction=0.1, seed 0).
# Usage: bash docs/media/modes/make_gifs.sh [CHECKPOINT] [DATASET] [OUT]
set -euo pipefail
CKPT=${1:-runs/modes/train/checkpoint}
DATA=${2:-runs/reference/data}
OUT=${3:-docs/media/modes}
WIDE=${WIDE:-runs/modes/wide}   # voxel episodes rendered at 32x64, a size the model never trained on
SIMWORLD=${SIMWORLD:-simworld}
common=(checkpoint="$CKPT" scale=3 fps=6 mark_given=true seed=0)
ep=(input="$DATA" episode=6)

# animate one frame under the episode's recorded actions (truth | model)
$SIMWORLD sample "${common[@]}" "${ep[@]}" mode=image_to_video start=40 num_frames=16 actions=input \
    truth=true out="$OUT/image_to_video.gif"
# 4 given frames, 12 generated after them
$SIMWORLD sample "${common[@]}" "${ep[@]}" mode=extend start=40 length=4 num_frames=12 actions=input \
    truth=true out="$OUT/extend_forward.gif"
# 4 given frames, the 4 that led to them generated jointly (bidirectional attention)
$SIMWORLD sample "${common[@]}" "${ep[@]}" mode=extend direction=backward start=48 length=4 num_frames=4 \
    actions=input truth=true out="$OUT/extend_backward.gif"
# clip A (frames 40-41) and clip B (46-47) given, the 4-frame transition between them generated
$SIMWORLD sample "${common[@]}" "${ep[@]}" mode=interpolate start=40 length=2 start_b=46 num_frames=4 \
    actions=input truth=true out="$OUT/interpolate.gif"
# SDEdit: frames 40-47 noised to half strength and re-denoised under random actions
$SIMWORLD sample "${common[@]}" "${ep[@]}" mode=edit start=40 length=8 strength=0.5 actions=random \
    truth=true out="$OUT/edit.gif"
# the same at 32x64 (never seen in training), on episodes the voxel world renders at that size
[ -f "$WIDE/manifest.json" ] || $SIMWORLD collect out="$WIDE" episodes=2 steps=64 policy=explore \
    env.world.width=64 env.world.height=32 seed=1000 num_workers=0 progress=false
$SIMWORLD sample "${common[@]}" input="$WIDE" episode=0 mode=extend start=20 length=4 num_frames=12 \
    actions=input truth=true out="$OUT/extend_forward_32x64.gif"
$SIMWORLD sample "${common[@]}" input="$WIDE" episode=0 mode=interpolate start=20 length=2 start_b=26 \
    num_frames=4 actions=input truth=true out="$OUT/interpolate_32x64.gif"
# from scratch: 8-frame videos and images at training sizes and at 32x64, never seen in training
$SIMWORLD sample "${common[@]}" mode=video num_frames=8 num_samples=3 out="$OUT/video_64x64.gif"
$SIMWORLD sample "${common[@]}" mode=video num_frames=8 num_samples=3 height=32 width=64 \
    out="$OUT/video_32x64.gif"
$SIMWORLD sample "${common[@]}" mode=image num_samples=4 out="$OUT/image_64x64.gif"
$SIMWORLD sample "${common[@]}" mode=image num_samples=4 height=32 width=64 out="$OUT/image_32x64.gif"
