"""``validate`` flags truncated, corrupt and malformed shards by file and episode."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from simworld.data.format import load_manifest
from simworld.data.shards import encode_shard, read_shard
from simworld.data.validate import validate_dataset


def simworld(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "simworld"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "simworld.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)


def test_validate_cli_flags_truncated_shard_and_flipped_byte(tmp_path: Path, make_dataset) -> None:
    root = make_dataset(tmp_path / "ds", [6, 6, 6, 6])
    ok = simworld("validate", f"path={root}")
    assert ok.returncode == 0, ok.stderr
    assert "valid: 0 errors" in ok.stdout

    truncated = root / "episodes" / "ep_000001.npz"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    flipped = root / "episodes" / "ep_000002.npz"
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))

    bad = simworld("validate", f"path={root}")
    assert bad.returncode == 1
    report = bad.stderr
    assert "episode 1 (episodes/ep_000001.npz): has" in report and "(truncated or replaced)" in report
    assert "episode 2 (episodes/ep_000002.npz): sha256 is" in report and "(corrupt)" in report
    assert "ep_000000" not in report and "ep_000003" not in report
    assert "INVALID" in report


def test_validate_reports_schema_violations_and_strays(tmp_path: Path, make_dataset) -> None:
    root = make_dataset(tmp_path / "ds", [6, 6])
    manifest = load_manifest(root)
    # rewrite episode 1 with 5 actions for 7 frames and fix up its checksum: only the shapes are wrong
    arrays = read_shard(root, manifest.episodes[1])
    arrays["actions"] = arrays["actions"][:5]
    data = encode_shard(arrays)
    (root / manifest.episodes[1].file).write_bytes(data)
    entries = json.loads((root / "manifest.json").read_text())
    entries["episodes"][1].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    entries["episodes"][0]["frame_size"] = [16, 16]
    (root / "manifest.json").write_text(json.dumps(entries))
    (root / "episodes" / "ep_000009.npz").write_bytes(b"stray")
    (root / "episodes" / ".ep_000010.npz.abc.tmp").write_bytes(b"half")

    problems = {(p.episode, p.severity): str(p) for p in validate_dataset(root)}
    assert "frames are 8x8 (HxW) but the manifest says 16x16" in problems[(0, "error")]
    assert (
        "actions must be float32 (T, 21) = (6, 21) for 7 frames, found float32 (5, 21)"
        in problems[(1, "error")]
    )
    warnings = [str(p) for p in validate_dataset(root) if p.severity == "warning"]
    assert any("ep_000009.npz" in w and "not listed" in w for w in warnings)
    assert any(".ep_000010.npz.abc.tmp" in w for w in warnings)


def test_validate_bad_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing does not exist"):
        validate_dataset(tmp_path / "missing")
