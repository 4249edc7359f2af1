"""Two-view geometry of the consistency probes: the camera convention against the renderer, the
epipolar maths against synthetic scenes and OpenCV, pose estimation and depth warping."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from envs.voxel.render import camera_basis
from evals.probes import geometry as G
from evals.probes.base import Case, ProbeEnv, run_truth
from evals.probes.consistency import textured_scene
from evals.probes.frames import psnr
from evals.probes.scenarios import action, in_arena, repeat

K64 = np.array([[45.7, 0.0, 32.0], [0.0, 45.7, 32.0], [0.0, 0.0, 1.0]])


def _truth(size: int, act: dict, steps: int = 2):
    env = ProbeEnv(params={"width": size, "height": size})
    case = Case("test", "motion", 3, [], repeat(act, steps), scenario=in_arena(textured_scene))
    return run_truth(env, case)


@pytest.fixture(scope="module")
def arc48():
    """A true run at 48×48: forward while turning right 5° per step (both rotation and translation)."""
    return _truth(48, action(forward=1, yaw=5), steps=3)


def test_camera_to_world_is_the_renderers_camera():
    for yaw in np.linspace(-180, 360, 13):
        for pitch in (-90.0, -37.0, 0.0, 12.5, 90.0):
            R, eye = G.camera_to_world(np.array([1.0, 2.0, 3.0, yaw, pitch]))
            np.testing.assert_allclose(R, camera_basis(yaw, pitch), atol=1e-12)
            np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
            assert np.linalg.det(R) == pytest.approx(1.0)
            np.testing.assert_array_equal(eye, [1.0, 2.0, 3.0])
    # yaw 0 looks along +z (south); yaw 90 along -x; positive pitch looks down; image x is to the right
    R, _ = G.camera_to_world(np.array([0, 0, 0, 90.0, 0.0]))
    np.testing.assert_allclose(R[:, 2], [-1, 0, 0], atol=1e-12)
    R, _ = G.camera_to_world(np.array([0, 0, 0, 0.0, 30.0]))
    assert R[1, 2] < 0 and R[1, 1] < 0  # forward and image-down both point below the horizon


def test_unprojected_depth_lands_on_the_segmented_block(arc48):
    """The convention end to end: every block pixel's depth, unprojected with K and the pose, lies
    on a face of a cell holding that pixel's block (the renderer's own ground truth)."""
    env = ProbeEnv(params={"width": 48, "height": 48}).make()
    env.reset(options={"world_seed": 3, "scenario": in_arena(textured_scene)})
    for a in repeat(action(forward=1, yaw=5), 3):
        env.step(a)
    blocks = env.unwrapped.world.blocks
    t = arc48
    for f in (0, len(t.frames) - 1):
        R, eye = G.camera_to_world(t.pose[f])
        rays = G.pixel_rays(48, 48, t.intrinsics)
        seg, depth = t.segmentation[f], t.depth[f]
        sel = (seg > 0) & (seg < 1000)
        X = (rays[sel] * depth[sel][:, None]) @ R.T + eye
        d = rays[sel] @ R.T
        inside = np.floor(X + 1e-3 * d / np.linalg.norm(d, axis=1, keepdims=True)).astype(int)
        hit = blocks[inside[:, 0], inside[:, 1], inside[:, 2]]
        assert sel.sum() > 500
        assert (hit == seg[sel]).mean() > 0.99


def test_relative_pose_maps_camera_coordinates():
    rng = np.random.default_rng(0)
    p1, p2 = np.array([3.0, 20.0, -4.0, 33.0, -10.0]), np.array([2.5, 20.3, -3.0, 71.0, 25.0])
    X = rng.normal(size=(20, 3)) * 5
    (R1, e1), (R2, e2) = G.camera_to_world(p1), G.camera_to_world(p2)
    c1, c2 = (X - e1) @ R1, (X - e2) @ R2  # X_cam = R^T (X - eye), row form
    R, t = G.relative_pose(p1, p2)
    np.testing.assert_allclose(c1 @ R.T + t, c2, atol=1e-9)
    assert np.linalg.norm(t) == pytest.approx(np.linalg.norm(e1 - e2))
    assert G.rotation_angle_deg(G.relative_pose(p1, p1)[0]) == pytest.approx(0.0, abs=1e-6)
    # a pure yaw turn of 5° is a rotation of 5° about the camera's vertical axis
    R, t = G.relative_pose(np.array([0, 0, 0, 10.0, 0]), np.array([0, 0, 0, 15.0, 0]))
    assert G.rotation_angle_deg(R) == pytest.approx(5.0)
    np.testing.assert_allclose(t, 0, atol=1e-12)


def _synthetic(R, t, K, n=60, seed=0):
    rng = np.random.default_rng(seed)
    X1 = np.c_[rng.uniform(-3, 3, (n, 2)), rng.uniform(4, 10, n)]
    X2 = X1 @ R.T + t
    x1 = X1 @ K.T
    x2 = X2 @ K.T
    return x1[:, :2] / x1[:, 2:], x2[:, :2] / x2[:, 2:]


def test_sampson_error_zero_on_true_matches_and_matches_opencv():
    R, t = G.relative_pose(np.array([0, 0, 0, 0.0, 0]), np.array([-0.2, 0.1, 0.6, 7.0, 3.0]))
    x1, x2 = _synthetic(R, t, K64)
    F = G.fundamental_matrix(R, t, K64)
    assert G.sampson_error(F, x1, x2).max() < 1e-9
    noisy = x2 + np.random.default_rng(1).normal(scale=2.0, size=x2.shape)
    ours = G.sampson_error(F, x1, noisy)
    h1, h2 = np.c_[x1, np.ones(len(x1))], np.c_[noisy, np.ones(len(x1))]
    ref = np.sqrt([cv2.sampsonDistance(h1[i], h2[i], F) for i in range(len(x1))])
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    assert np.median(ours) > 0.5


def test_estimate_pose_recovers_synthetic_motion_and_identity_when_static():
    R, t = G.relative_pose(np.array([0, 0, 0, 0.0, 0]), np.array([-0.3, 0.0, 0.5, 6.0, 0.0]))
    x1, x2 = _synthetic(R, t, K64, n=80)
    est = G.estimate_pose(x1, x2, K64)
    assert est is not None and not est.static
    assert G.rotation_error_deg(est.R, R) < 0.05
    assert G.direction_error_deg(est.t, t) < 0.5
    assert est.inliers.all()
    still = G.estimate_pose(x1, x1.copy(), K64)
    assert still.static and still.t is None
    np.testing.assert_array_equal(still.R, np.eye(3))


def test_angles():
    assert G.rotation_error_deg(np.eye(3), np.eye(3)) == 0.0
    Rz = cv2.Rodrigues(np.array([0.0, 0.0, math.radians(30)]))[0]
    assert G.rotation_error_deg(Rz, np.eye(3)) == pytest.approx(30.0)
    assert G.rotation_error_deg(Rz, Rz.T) == pytest.approx(60.0)
    assert G.direction_error_deg([1, 0, 0], [0, 2, 0]) == pytest.approx(90.0)
    assert G.direction_error_deg([1, 0, 0], [-3, 0, 0]) == pytest.approx(180.0)


def test_detect_and_match_on_rendered_frames(arc48):
    a, b = arc48.frames[-2], arc48.frames[-1]
    ka, kb = G.detect(a), G.detect(b)
    assert len(ka.xy) > 20 and ka.xy.min() >= 0 and ka.xy[:, 0].max() <= 48
    x1, x2 = G.match(ka, kb)
    assert len(x1) >= 12
    R, t = G.relative_pose(arc48.pose[-2], arc48.pose[-1])
    err = G.sampson_error(G.fundamental_matrix(R, t, arc48.intrinsics), x1, x2)
    assert np.median(err) < 1.0  # keypoint positions follow K's pixel-centre convention
    orb = G.detect(a, "orb")
    assert orb.descriptors is None or orb.descriptors.dtype == np.uint8
    for bad in ("surf", "SIFT"):
        with pytest.raises(ValueError, match="valid: auto, sift, orb"):
            G.resolve_detector(bad)


def test_warp_identity_and_next_view(arc48):
    t = arc48
    f, d, p, K = t.frames[-1], t.depth[-1], t.pose[-1], t.intrinsics
    warped, mask = G.warp_to_view(f, d, d, p, p, K)
    np.testing.assert_array_equal(mask, np.isfinite(d))  # everything but the sky is co-visible with itself
    np.testing.assert_array_equal(warped[mask], f[mask])
    # the previous true frame warped into the last pose explains the last frame well; copying it does not
    warped, mask = G.warp_to_view(t.frames[-2], t.depth[-2], d, t.pose[-2], p, K)
    assert 0.5 < mask.mean() < 1.0
    assert not mask[~np.isfinite(d)].any()
    warp_self = psnr(f[None], warped[None], mask[None])[0]
    copy = psnr(t.frames[-2][None], f[None], mask[None])[0]
    assert warp_self > 20.0 and warp_self > copy + 5.0
    # occlusion: a source whose depth says everything is much nearer hides every target point
    _, hidden = G.warp_to_view(t.frames[-2], t.depth[-2] * 0.5, d, t.pose[-2], p, K)
    assert not hidden.any()


@pytest.mark.parametrize("upscale", [1, 2, 3])
def test_keypoint_positions_use_the_pixel_centre_convention(upscale):
    """A dark blob centred at (20.3, 30.7) in K's convention (pixel (i, j) spans [j, j+1) × [i, i+1))
    is found there, whatever the upsampling."""
    v, u = np.mgrid[0:64, 0:64] + 0.5
    blob = 1 - 0.8 * np.exp(-((u - 20.3) ** 2 + (v - 30.7) ** 2) / (2 * 2.5**2))
    frame = np.repeat((blob * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    kp = G.detect(frame, "sift", upscale)
    d = np.linalg.norm(kp.xy - [20.3, 30.7], axis=1)
    assert d.min() < 0.1
