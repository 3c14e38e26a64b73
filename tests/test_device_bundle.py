"""Training on a lent GPU (posegan/device_bundle.py): the bundle round trip and its size guard, the slim git index
on and off, and what comes back from the device continuing here through train.init_from."""
import re
import subprocess

import pytest
import torch

from posegan.checkpoint import load_checkpoint
from posegan.cli import main
from posegan.config import load_config
from posegan.data import MarketPoseDataset
from posegan.device_bundle import (RETURN_LIMIT, build_bundle, collect_run, slim_index_off, slim_index_on,
                                   travelling_bytes, travelling_files)
from posegan.losses import ReconstructionLoss
from posegan.networks.vgg import DEFAULT_WEIGHTS as VGG_WEIGHTS
from posegan.train import Trainer
from conftest import MINI_DATA, REPO
from test_train import TINY


def assert_fp16_copy(trainer: Trainer, source: Trainer) -> None:
    """``trainer``'s G, moving average and D are ``source``'s rounded to float16."""
    for name in ("G", "G_ema", "D"):
        ours, theirs = getattr(trainer, name).state_dict(), getattr(source, name).state_dict()
        assert ours.keys() == theirs.keys()
        for key, value in theirs.items():
            assert torch.equal(ours[key], value.half().float()), f"{name}.{key}"


def initialised_from(cfg, path, out) -> Trainer:
    cfg.train.init_from = str(path)
    return Trainer(cfg, out, MINI_DATA, device="cpu")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Trainer:
    """Two steps of a tiny run on the fixture data (a training state in RUN/latest.pt, a log, a sample grid)."""
    cfg = load_config(REPO / "configs" / "market-small.yaml", TINY)
    trainer = Trainer(cfg, tmp_path_factory.mktemp("run"), MINI_DATA, device="cpu")
    trainer.run(max_steps=2)
    return trainer


def test_bundle_holds_the_train_split_and_the_init_weights(trained, tiny_cfg, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    main(["device-bundle", "--data", str(MINI_DATA), "--init", str(trained.out_dir / "latest.pt"), "--out", str(bundle)])
    assert re.search(rf"wrote {bundle}: \d+\.\d MiB; with the slim tree", capsys.readouterr().out)

    assert not (bundle / "data" / "pairs-train.csv").exists()  # rebuilt from the annotations, exactly
    for split in ("train", "samples"):
        ours, theirs = MarketPoseDataset(bundle / "data", split), MarketPoseDataset(MINI_DATA, split)
        assert ours.pairs == theirs.pairs
        for a, b in zip(ours, theirs):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k]
                                                for k in a)
    assert_fp16_copy(initialised_from(tiny_cfg, bundle / "init.pt", tmp_path / "tuned"), trained)

    # The float16 VGG19 gives the losses of the float32 file (to 2e-4 on real images, 1e-3 asked).
    tiny_cfg.loss.perceptual, tiny_cfg.loss.style = 1.0, 1.0
    pair = MarketPoseDataset(MINI_DATA, "train")[0]
    images = pair["source_image"][None], pair["target_image"][None]
    with torch.no_grad():
        full = ReconstructionLoss(tiny_cfg.loss, VGG_WEIGHTS)(*images)
        half = ReconstructionLoss(tiny_cfg.loss, bundle / VGG_WEIGHTS.name)(*images)
    for name, value in full.items():
        assert abs(half[name] / value - 1) < 1e-3, name


def test_bundle_over_the_size_limit_is_refused_and_removed(trained, tmp_path):
    bundle = tmp_path / "bundle"
    with pytest.raises(ValueError, match=r"over the 1\.0 MiB that may travel"):
        build_bundle(bundle, MINI_DATA, trained.out_dir / "latest.pt", limit=2 ** 20)
    assert not bundle.exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a bundle")
    with pytest.raises(ValueError, match="is not a bundle"):  # never deletes a folder it did not write
        build_bundle(tmp_path / "mine", MINI_DATA, trained.out_dir / "latest.pt")


def test_returned_weights_continue_here_through_init_from(trained, tiny_cfg, tmp_path, capsys):
    out = tmp_path / "OUT"
    main(["device-collect", str(trained.out_dir), str(out)])
    assert "warning" not in capsys.readouterr().out
    files = sorted(p.name for p in out.iterdir())
    assert files == ["generator.pt", "log.csv", "loss.png", "samples.png", "weights.pt"]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) and (out / name).stat().st_size < RETURN_LIMIT for name in files)
    assert load_checkpoint(out / "generator.pt")["step"] == 2
    with pytest.raises(ValueError, match="not a training state"):  # no optimiser states: init_from, not --resume
        load_checkpoint(out / "weights.pt", kind="train")
    assert_fp16_copy(initialised_from(tiny_cfg, out / "weights.pt", tmp_path / "here"), trained)


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                          capture_output=True, text=True).stdout


def test_slim_index_leaves_only_the_code_and_off_restores_git_status(tmp_path):
    repo = tmp_path / "repo"
    for name in ("posegan/model.py", "configs/recipe.yaml", "benchmarks/device/train_gpu.sh", "benchmarks/other.py",
                 "checkpoints/big.pt", "README.md", "pyproject.toml"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(name)
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "files")
    (repo / "README.md").write_text("edited, not staged")
    (repo / "notes.txt").write_text("untracked")
    (repo / "posegan" / "new.py").write_text("untracked code")
    (repo / ".device").mkdir()
    (repo / ".device" / "init.pt").write_bytes(b"0" * 1000)
    status, exclude = git(repo, "status", "--porcelain"), (repo / ".git" / "info" / "exclude").read_text()

    dropped = slim_index_on(repo)
    assert sorted(dropped) == ["README.md", "benchmarks/other.py", "checkpoints/big.pt"]
    assert travelling_files(repo) == ["benchmarks/device/train_gpu.sh", "configs/recipe.yaml", "posegan/model.py",
                                      "posegan/new.py", "pyproject.toml"]
    kept = sum((repo / name).stat().st_size for name in travelling_files(repo))
    assert travelling_bytes(repo, carry=(".device",)) == kept + 1000
    assert (repo / "checkpoints" / "big.pt").read_text() == "checkpoints/big.pt"  # the files stay
    with pytest.raises(ValueError, match="already on"):
        slim_index_on(repo)

    assert sorted(slim_index_off(repo)) == sorted(dropped)
    assert git(repo, "status", "--porcelain") == status
    assert (repo / ".git" / "info" / "exclude").read_text() == exclude
    git(repo, "add", "README.md")
    with pytest.raises(ValueError, match="staged changes"):
        slim_index_on(repo)
