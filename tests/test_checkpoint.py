"""Checkpoint files: the tensor digest, and every unusable file (empty, truncated, not PyTorch, unsafe pickle,
bit-flipped) refused with one CheckpointError that names the file, in the library and on the command line."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from posegan.checkpoint import CHECKSUM_KEY, FORMAT, CheckpointError, load_checkpoint, save_atomic
from posegan.cli import main
from posegan.config import DEFAULT_GENERATOR
from posegan.keypoints import save_pose_json
from posegan.networks import Generator

from conftest import REPO

MARKET_PHOTO = REPO / "demo" / "examples" / "market-0161_c3s3_033028_07.jpg"


class RunsCode:
    """Unpickling this calls open(marker, "w"): the marker appears if anything unpickles it in full."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def damaged_checkpoint(source: Path, folder: Path, damage: str) -> Path:
    """A copy of checkpoint ``source`` in ``folder``, damaged: "empty", "truncated", "text", "malicious" (a pickle
    that runs code; its marker is ``folder / "ran"``) or "bit-flipped" (one bit of the largest weight tensor)."""
    path = folder / f"{damage}.pt"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(source.read_bytes()[:source.stat().st_size // 2])
    elif damage == "text":
        path.write_text("not a checkpoint")
    elif damage == "malicious":
        torch.save({"format": FORMAT, "kind": "train", "G": {}, "payload": RunsCode(folder / "ran")}, path)
    elif damage == "bit-flipped":
        ckpt = load_checkpoint(source)
        save_atomic(ckpt, path)  # with the digest (the committed checkpoints predate it)
        largest = max(ckpt["G"].values(), key=torch.Tensor.nelement)
        data = bytearray(path.read_bytes())
        at = data.find(largest.contiguous().view(torch.uint8).numpy().tobytes()[:64])
        assert at > 0, "the tensor's bytes were not found in the file"
        data[at + 11] ^= 0x40
        path.write_bytes(bytes(data))
    else:
        raise ValueError(damage)
    return path


@pytest.fixture
def generator_checkpoint(tiny_cfg, tmp_path) -> Path:
    path = tmp_path / "generator.pt"
    save_atomic({"format": FORMAT, "kind": "generator", "config": tiny_cfg.to_dict(), "step": 0,
                 "train_seconds": 0.0, "weights": "raw", "G": Generator(tiny_cfg.model).state_dict()}, path)
    return path


def test_the_tensor_digest_is_stored_and_checked(generator_checkpoint):
    stored = torch.load(generator_checkpoint, weights_only=True)[CHECKSUM_KEY]
    assert len(stored) == 64 and int(stored, 16) >= 0
    ckpt = load_checkpoint(generator_checkpoint)
    assert CHECKSUM_KEY not in ckpt and ckpt["kind"] == "generator"


def test_checkpoints_without_a_digest_still_load(tmp_path):
    paper_recipe = DEFAULT_GENERATOR.parent / "posegan-market-small.pt"
    legacy = torch.load(paper_recipe, weights_only=True)
    assert CHECKSUM_KEY not in legacy  # the committed file predates the digest
    assert load_checkpoint(paper_recipe)["kind"] == "generator"


@pytest.mark.parametrize("damage, reason", [
    ("empty", "the file is empty"),
    ("truncated", "truncated or not a PyTorch checkpoint"),
    ("text", r"truncated or not a PyTorch checkpoint \(UnpicklingError: Unsupported operand"),
    ("malicious", "refused: loading it would call io.open"),
    ("bit-flipped", "corrupt: its tensors do not match the sha256 stored with them"),
])
def test_unusable_files_raise_one_clear_error(generator_checkpoint, tmp_path, damage, reason):
    path = damaged_checkpoint(generator_checkpoint, tmp_path, damage)
    with pytest.raises(CheckpointError, match=f"^{path}: {reason}"):
        load_checkpoint(path)
    assert not (tmp_path / "ran").exists()


def test_the_malicious_file_really_runs_code_when_unpickled(tmp_path):
    """Control for the test above: the refused file is not harmless by accident."""
    path = damaged_checkpoint(DEFAULT_GENERATOR, tmp_path, "malicious")
    torch.load(path, weights_only=False)
    assert (tmp_path / "ran").exists()


@pytest.mark.parametrize("damage", ["empty", "malicious", "bit-flipped"])
def test_cli_reports_an_unusable_checkpoint_in_one_line(generator_checkpoint, frontal_pose, tmp_path, capsys, damage):
    path = damaged_checkpoint(generator_checkpoint, tmp_path, damage)
    save_pose_json(tmp_path / "pose.json", frontal_pose)
    commands = (["train", "--resume", str(path), "--out", str(tmp_path / "run")],
                ["export", str(path), str(tmp_path / "out.pt")],
                ["transfer", str(MARKET_PHOTO), "--target-pose", str(tmp_path / "pose.json"), "--checkpoint", str(path)])
    for command in commands:
        with pytest.raises(SystemExit) as exc:
            main(command)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.startswith(f"error: {path}: ") and err.count("\n") == 1, (command, err)
    assert not (tmp_path / "ran").exists()


def test_cli_resume_from_a_truncated_checkpoint_exits_with_one_error_line(generator_checkpoint, tmp_path):
    """Before: a raw traceback from torch.load."""
    path = damaged_checkpoint(generator_checkpoint, tmp_path, "truncated")
    result = subprocess.run([sys.executable, "-m", "posegan", "train", "--resume", str(path), "--out",
                             str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: truncated or not a PyTorch checkpoint")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
