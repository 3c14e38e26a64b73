"""CLI smoke tests: every subcommand answers --help, bad input exits non-zero with a message, train->export->transfer."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from posegan.background import keep_background
from posegan.checkpoint import load_checkpoint
from posegan.cli import main
from posegan.data import read_pairs
from posegan.keypoints import load_pose_json, read_market_csv, save_pose_json
from conftest import MINI_DATA, REPO

SAMPLE_POSE = REPO / "demo" / "examples" / "target-pose-walking-left.json"  # the target pose shipped for the CLI
from test_train import resume_command, train_command


@pytest.mark.parametrize("command", ["train", "export", "transfer", "evaluate", "detect", "annotate", "pairs", "bench",
                                     "space", "pose-prior", "device-bundle", "device-slim",
                                     "device-collect"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert exc.value.code == 0 and "usage:" in out
    assert "(default: None)" not in out and ")(default" not in out  # a default is stated once, or not at all


def test_pairs_follows_the_paper_rule(tmp_path, capsys):
    out = tmp_path / "pairs.csv"
    main(["pairs", "--annotations", str(MINI_DATA / "samples" / "annotations.csv"), "--out", str(out)])
    assert sorted(read_pairs(out)) == sorted(read_pairs(MINI_DATA / "samples" / "pairs.csv"))  # the same rule
    assert f"wrote 12 pairs to {out}" in capsys.readouterr().out


def test_train_dry_run_and_bad_override(capsys):
    main(["train", "--config", str(REPO / "configs/market-small.yaml"), "--dry-run", "--set", "train.batch_size=8"])
    assert "batch_size: 8" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["train", "--config", str(REPO / "configs/market-small.yaml"), "--dry-run", "--set", "train.nope=1"])
    assert exc.value.code == 2 and "unknown config key 'train.nope'" in capsys.readouterr().err


def test_train_export_transfer(tmp_path):
    run = tmp_path / "run"
    subprocess.run(train_command(run, "--max-steps", "2"), check=True, capture_output=True, timeout=300)
    shipped = tmp_path / "generator.pt"
    main(["export", str(run / "latest.pt"), str(shipped)])
    ckpt = torch.load(shipped, weights_only=True)
    assert ckpt["kind"] == "generator" and "D" not in ckpt and next(iter(ckpt["G"].values())).dtype == torch.float16
    assert load_checkpoint(shipped)["step"] == 2
    state = tmp_path / "state.pt"
    main(["export", "--train-state", str(run / "latest.pt"), str(state)])
    subprocess.run(resume_command(tmp_path / "resumed", "--resume", str(state), "--max-steps", "3"), check=True,
                   capture_output=True, timeout=300)
    with pytest.raises(SystemExit) as exc:  # a shipped generator is not a resumable training state
        main(["train", "--resume", str(shipped), "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert load_checkpoint(tmp_path / "resumed" / "latest.pt")["step"] == 3

    source = "0617_c6s2_026818_06.jpg"
    save_pose_json(tmp_path / "source.json", read_market_csv(MINI_DATA / "samples" / "annotations.csv")[source])
    transfer = ["transfer", str(MINI_DATA / "samples" / source), "--target-pose", str(SAMPLE_POSE),
                "--source-pose", str(tmp_path / "source.json"), "--checkpoint", str(shipped)]
    main(transfer + ["--out", str(tmp_path / "generated.png")])
    main(transfer + ["--out", str(tmp_path / "enlarged.png"), "--scale", "3"])
    generated, enlarged = (np.asarray(Image.open(tmp_path / name)) for name in ("generated.png", "enlarged.png"))
    assert generated.shape == (128, 64, 3) and enlarged.shape == (384, 192, 3)
    assert (enlarged == generated.repeat(3, axis=0).repeat(3, axis=1)).all()  # nearest neighbour: 3x3 blocks
    main(transfer + ["--out", str(tmp_path / "kept.png"), "--keep-background"])
    kept = np.asarray(Image.open(tmp_path / "kept.png"))
    source_pose = read_market_csv(MINI_DATA / "samples" / "annotations.csv")[source]
    photo = np.asarray(Image.open(MINI_DATA / "samples" / source).convert("RGB"))
    assert (kept == keep_background(generated, photo, source_pose, load_pose_json(SAMPLE_POSE))).all()


def test_transfer_with_malformed_pose_json_fails_clearly(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2]}]}))
    result = subprocess.run([sys.executable, "-m", "posegan", "transfer", str(MINI_DATA / "samples" / "0617_c6s2_026818_06.jpg"),
                             "--target-pose", str(tmp_path / "bad.json"), "--source-pose", str(tmp_path / "bad.json"),
                             "--checkpoint", str(tmp_path / "missing.pt")], capture_output=True, text=True)
    assert result.returncode == 2 and "54 numbers" in result.stderr


HOSTILE_POSES = {  # before: RecursionError / OverflowError tracebacks, a numeric string accepted silently
    "nested": ("[" * 40_000 + "]" * 40_000, "nested too deeply"),
    "400 digits": ('{"people": [{"pose_keypoints_2d": [' + "9" * 400 + ", 1" * 53 + "]}]}", "item 0 is out of range"),
    "string": ('{"people": [{"pose_keypoints_2d": ["1"' + ", 1" * 53 + "]}]}", "item 0 must be a number"),
}


@pytest.mark.parametrize("case", HOSTILE_POSES)
def test_transfer_refuses_hostile_pose_json_in_one_line(tmp_path, capsys, case):
    text, message = HOSTILE_POSES[case]
    (tmp_path / "pose.json").write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["transfer", str(MINI_DATA / "samples" / "0617_c6s2_026818_06.jpg"), "--target-pose",
              str(tmp_path / "pose.json"), "--checkpoint", str(tmp_path / "missing.pt")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_transfer_with_deeply_nested_pose_json_exits_without_a_traceback(tmp_path):
    (tmp_path / "pose.json").write_text(HOSTILE_POSES["nested"][0])
    result = subprocess.run([sys.executable, "-m", "posegan", "transfer",
                             str(MINI_DATA / "samples" / "0617_c6s2_026818_06.jpg"), "--target-pose",
                             str(tmp_path / "pose.json")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr == "error: pose JSON is nested too deeply\n"
