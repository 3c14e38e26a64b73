"""Trainer: overfitting, checkpoint/resume across a kill, distributed run, CLI entry."""
import copy
import csv
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from posegan.checkpoint import export_generator, export_training_state, load_checkpoint
from posegan.data import rare_pose_weights
from posegan.inference import PoseTransfer
from posegan.pose_edits import raise_arm
from posegan.pose_prior import PosePrior
from posegan.train import Trainer, trim_log
from posegan.visualize import plot_training_log
from conftest import MINI_DATA, REPO

TINY = ["model.encoder_channels=[4, 8, 8, 8, 8, 8]", "model.decoder_channels=[8, 8, 8, 8, 4]",
        "model.discriminator_channels=[4, 8, 8, 8]", "train.batch_size=2", "train.sample_pairs=2",
        "train.log_every=1", "train.sample_every=2", "train.threads=1"]


def train_command(out, *extra):
    """A fresh tiny run on the fixture data."""
    args = resume_command(out, "--config", str(REPO / "configs" / "market-small.yaml"))
    for item in TINY:
        args += ["--set", item]
    return args + list(extra)


def resume_command(out, *extra):
    """Continue a run: the checkpoint's config applies, so no --config / model overrides. The fixture folder is a
    complete Market folder, so the default splits apply (train on train/, sample grids from test/)."""
    return [sys.executable, "-m", "posegan", "train", "--out", str(out), "--data", str(MINI_DATA), *extra]


def wait_until(proc, condition, what: str, timeout: float = 120):
    """Poll ``condition()`` while the training process ``proc`` runs; fail if it exits first or time runs out."""
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"training exited (code {proc.returncode}) before {what}"
        assert time.time() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


def logged_steps(log) -> int:
    """Rows of a run's log.csv (log_every=1: one per finished step)."""
    return len(log.read_text().splitlines()) - 1 if log.exists() else 0


def test_overfit_two_pairs_lowers_the_loss(tiny_cfg, tmp_path):
    tiny_cfg.loss.adversarial = 0.0  # reconstruction only: deterministic progress
    tiny_cfg.train.lr = 1e-3
    trainer = Trainer(tiny_cfg, tmp_path, MINI_DATA, split="samples", sample_split="samples", device="cpu")
    trainer.dataset.pairs = trainer.dataset.pairs[:2]
    trainer.cfg.train.batch_size = 2
    losses = []
    for step in range(30):
        losses.append(trainer.train_step(trainer.batch(0))["G/nn"])
        trainer.step += 1
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses


def test_batches_depend_only_on_seed_and_step(tiny_cfg, tmp_path):
    a = Trainer(tiny_cfg, tmp_path / "a", MINI_DATA, split="samples", sample_split="samples", device="cpu")
    b = Trainer(tiny_cfg, tmp_path / "b", MINI_DATA, split="samples", sample_split="samples", device="cpu")
    for step in (0, 5, 7):  # 12 pairs, batch 2: step 7 is in the second pass
        assert a.batch(step)["source_name"] == b.batch(step)["source_name"]
    names = [n for s in range(6) for n in zip(a.batch(s)["source_name"], a.batch(s)["target_name"])]
    assert sorted(names) == sorted(a.dataset.pairs)  # one pass visits every pair once


def test_loader_workers_give_the_same_batches(tiny_cfg, tmp_path):
    trainer = Trainer(tiny_cfg, tmp_path, MINI_DATA, split="samples", sample_split="samples", device="cpu")
    tiny_cfg.train.workers = 2
    loaded = trainer.batches(5)  # 12 pairs, batch 2: steps 5-7 cross into the second pass
    for step in (5, 6, 7):
        batch, expected = next(loaded), trainer.batch(step)
        assert batch["target_name"] == expected["target_name"]
        assert torch.equal(batch["part_masks"], expected["part_masks"])


def test_sigterm_saves_and_resume_continues_the_step_count(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(train_command(out, "--max-steps", "100000"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = out / "log.csv"
    wait_until(proc, lambda: logged_steps(log) >= 3, "3 logged steps")
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output
    assert "signal SIGTERM" in output
    stopped = load_checkpoint(out / "latest.pt")["step"]
    assert stopped >= 3
    assert (out / "samples").is_dir() and list((out / "samples").glob("step*.png"))
    assert (out / "loss.png").stat().st_size > 0

    result = subprocess.run(resume_command(out, "--resume", "--max-steps", str(stopped + 2)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resumed from {out / 'latest.pt'} at step {stopped}" in result.stdout
    ckpt = load_checkpoint(out / "latest.pt")
    assert ckpt["step"] == stopped + 2
    steps = [int(line.split(",")[0]) for line in log.read_text().splitlines()[1:]]
    assert steps == list(range(1, stopped + 3))  # the log continues without gaps or repeats


def test_sigkill_leaves_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(train_command(out, "--max-steps", "100000", "--set", "train.checkpoint_minutes=0"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # checkpoint_minutes=0 writes latest.pt after every step. Once a checkpoint exists and 3 steps are logged, the
    # run is inside a later step or checkpoint write: the kill lands there, as a power cut would.
    wait_until(proc, lambda: (out / "latest.pt").exists() and logged_steps(out / "log.csv") >= 3,
               "a checkpoint and 3 logged steps")
    proc.kill()
    proc.wait()
    ckpt = torch.load(out / "latest.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] >= 1 and set(ckpt) >= {"G", "D", "opt_G", "opt_D", "config"}


def test_resume_without_checkpoint_fails_clearly(tmp_path):
    result = subprocess.run(resume_command(tmp_path / "none", "--resume"), capture_output=True, text=True)
    assert result.returncode == 2 and "no checkpoint" in result.stderr
    result = subprocess.run(train_command(tmp_path / "none", "--resume"), capture_output=True, text=True)
    assert result.returncode == 2 and "drop --config" in result.stderr


def test_fresh_run_never_overwrites_an_existing_one(tmp_path):
    (tmp_path / "latest.pt").write_bytes(b"previous run")
    result = subprocess.run(train_command(tmp_path), capture_output=True, text=True)
    assert result.returncode == 2 and "--resume" in result.stderr
    assert (tmp_path / "latest.pt").read_bytes() == b"previous run"


def test_trim_log_keeps_the_complete_rows_up_to_the_checkpoint(tmp_path):
    log = tmp_path / "log.csv"
    log.write_bytes(b"step,loss\r\n1,0.5\r\n2,0.4\r\n3,0.3\r\n4,0.")  # row 3 ran ahead of the checkpoint, 4 is torn
    assert trim_log(log, 2) == 1
    assert log.read_text() == "step,loss\n1,0.5\n2,0.4\n"


def test_resume_drops_a_nul_padded_log_tail_with_a_warning(tiny_cfg, tmp_path, capsys):
    """A hard kill can leave NUL bytes at the end of log.csv; resume used to fail on them ("invalid literal for
    int()")."""
    def trainer(resume=None):
        return Trainer(None if resume else tiny_cfg, tmp_path, MINI_DATA, split="samples", sample_split="samples",
                       resume=resume, device="cpu")
    trainer().run(max_steps=2)
    log = tmp_path / "log.csv"
    with open(log, "ab") as file:
        file.write(b"\x00" * 512)
    trainer(resume=str(tmp_path / "latest.pt")).run(max_steps=3)
    assert f"warning: dropped 1 torn line(s) from {log}" in capsys.readouterr().out
    assert [int(line.split(",")[0]) for line in log.read_text().splitlines()[1:]] == [1, 2, 3]


def test_resume_with_an_added_loss_term_widens_the_log(tiny_cfg, tmp_path):
    """Switching a term on when resuming (``--set loss.ssim=10``) used to append rows one cell longer than the
    header."""
    Trainer(tiny_cfg, tmp_path, MINI_DATA, split="samples", sample_split="samples", device="cpu").run(max_steps=2)
    cfg = copy.deepcopy(tiny_cfg)
    cfg.loss.ssim = 10.0
    Trainer(cfg, tmp_path, MINI_DATA, split="samples", sample_split="samples", resume=str(tmp_path / "latest.pt"),
            device="cpu").run(max_steps=4)
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [r["G/ssim"] != "" for r in rows] == [False, False, True, True]
    assert all(len(r) == len(rows[0]) and None not in r for r in rows)
    assert all(0 < float(r["G/ssim"]) < 20 for r in rows[2:])
    plot_training_log(tmp_path / "log.csv", tmp_path / "loss.png")
    assert Image.open(tmp_path / "loss.png").size[0] > 0


def test_torchrun_two_cpu_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = train_command(out, "--max-steps", "3", "--device", "cpu")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(29500 + os.getpid() % 1000)] + cmd[1:]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "world size 2" in result.stdout
    assert load_checkpoint(out / "latest.pt")["step"] == 3


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tiny_cfg, tmp_path):
    tiny_cfg.train.ema_half_life = 2  # the moving average of G must survive the interruption too
    def trainer(out, resume=None):
        return Trainer(None if resume else tiny_cfg, out, MINI_DATA, split="samples", sample_split="samples",
                       resume=resume, device="cpu")
    straight = trainer(tmp_path / "straight")
    straight.run(max_steps=4)
    first = trainer(tmp_path / "split")
    first.run(max_steps=2)
    second = trainer(tmp_path / "split", resume=str(tmp_path / "split" / "latest.pt"))
    second.run(max_steps=4)
    for (name, a), b in zip(straight.G.state_dict().items(), second.G.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    for a, b in zip(straight.D.state_dict().values(), second.D.state_dict().values()):
        torch.testing.assert_close(a, b)
    for a, b in zip(straight.G_ema.state_dict().values(), second.G_ema.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_learning_rate_decays_linearly_to_zero_and_then_the_weights_stay(tiny_cfg, tmp_path):
    tiny_cfg.train.lr_decay_start, tiny_cfg.train.lr_decay_steps = 2, 4
    trainer = Trainer(tiny_cfg, tmp_path, MINI_DATA, split="samples", sample_split="samples", device="cpu")
    assert [trainer.learning_rate(s) / tiny_cfg.train.lr for s in (0, 2, 3, 5, 6, 9)] == [1, 1, 0.75, 0.25, 0, 0]
    trainer.step = 5
    trainer.train_step(trainer.batch(5))
    assert {g["lr"] for g in trainer.opt_G.param_groups + trainer.opt_D.param_groups} == {tiny_cfg.train.lr / 4}
    trainer.step = 6  # decay over: Adam moves nothing at lr 0, so G and D keep their weights
    before = {k: v.clone() for k, v in list(trainer.G.state_dict().items()) + list(trainer.D.state_dict().items())
              if v.is_floating_point() and not k.endswith(("_u", "_v"))}
    trainer.train_step(trainer.batch(6))
    after = dict(list(trainer.G.state_dict().items()) + list(trainer.D.state_dict().items()))
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0, msg=name)


def test_generator_moving_average_and_its_export(tiny_cfg, tmp_path):
    tiny_cfg.train.ema_half_life = 3
    trainer = Trainer(tiny_cfg, tmp_path, MINI_DATA, split="samples", sample_split="samples", device="cpu")
    before = [p.detach().clone() for p in trainer.G_ema.parameters()]
    trainer.train_step(trainer.batch(0))
    weight = 1 - 0.5 ** (1 / 3)  # after 3 steps at a fixed G the average would be half way there
    for old, ema, current in zip(before, trainer.G_ema.parameters(), trainer.G.parameters()):
        torch.testing.assert_close(ema, old + weight * (current - old))
    moved = [not torch.equal(a, b) for a, b in zip(trainer.G_ema.parameters(), trainer.G.parameters())]
    assert sum(moved) > len(moved) // 2  # the average lags behind the optimiser's weights

    trainer.save()
    shipped = export_generator(tmp_path / "latest.pt", tmp_path / "ema.pt", half=False)
    raw = export_generator(tmp_path / "latest.pt", tmp_path / "raw.pt", half=False, ema=False)
    assert (shipped["weights"], raw["weights"]) == ("ema", "raw")
    for name, value in trainer.G_ema.state_dict().items():
        torch.testing.assert_close(shipped["G"][name], value)
        torch.testing.assert_close(raw["G"][name], trainer.G.state_dict()[name])
    # the app's loader prefers the average in a training checkpoint, as export does
    loaded = PoseTransfer.from_checkpoint(tmp_path / "latest.pt").G.state_dict()
    torch.testing.assert_close(loaded, trainer.G_ema.state_dict())

    compact = export_training_state(tmp_path / "latest.pt", tmp_path / "state.pt")
    assert next(iter(compact["G_ema"].values())).dtype == torch.float16
    resumed = Trainer(None, tmp_path / "resumed", MINI_DATA, split="samples", sample_split="samples",
                      resume=str(tmp_path / "state.pt"), device="cpu")
    for name, value in resumed.G_ema.state_dict().items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, trainer.G_ema.state_dict()[name], atol=1e-3, rtol=1e-3)


def test_export_averages_the_generator_over_checkpoints_of_a_run(tiny_cfg, tmp_path):
    """``posegan export --average-with``: G's moving average, meaned over steps of a run (kept snapshots and the last
    state), with their steps recorded for the model card; an earlier mean counts once per step it holds; a step held
    twice and checkpoints of other networks are refused."""
    from demo.panels import model_card_panel
    from posegan.cli import main
    from posegan.model_card import model_card

    tiny_cfg.train.ema_half_life, tiny_cfg.train.keep_every = 3, 1
    trainer = Trainer(tiny_cfg, tmp_path, MINI_DATA, split="samples", sample_split="samples", device="cpu")
    trainer.run(max_steps=3)
    snapshots = sorted((tmp_path / "snapshots").glob("*.pt"))
    assert [path.name for path in snapshots] == [f"generator-000000{step}.pt" for step in (1, 2, 3)]
    earlier, latest = snapshots[0], tmp_path / "latest.pt"
    first = load_checkpoint(earlier)["G"]
    assert next(iter(first.values())).dtype == torch.float32  # kept at full precision for the mean
    torch.testing.assert_close(load_checkpoint(snapshots[2])["G"], trainer.G_ema.state_dict())

    averaged = export_generator(latest, tmp_path / "mean.pt", half=False, average_with=[earlier])
    assert (averaged["step"], averaged["weights"], averaged["averaged_steps"]) == (3, "ema", [1, 3])
    moved = [not torch.equal(value, first[name]) for name, value in trainer.G_ema.state_dict().items()]
    assert sum(moved) > len(moved) // 2  # the two steps' averages differ, so their mean is a real check
    for name, value in trainer.G_ema.state_dict().items():
        torch.testing.assert_close(averaged["G"][name], (first[name] + value) / 2)
    assert "averaged_steps" not in export_generator(latest, tmp_path / "one.pt")

    # The last state plus an earlier mean of steps 1 and 2 gives the mean of the three steps, not of the two files.
    export_generator(load_checkpoint(snapshots[1]), tmp_path / "mean-1-2.pt", half=False, average_with=[earlier])
    extended = export_generator(latest, tmp_path / "mean-1-3.pt", half=False, average_with=[tmp_path / "mean-1-2.pt"])
    assert (extended["step"], extended["averaged_steps"]) == (3, [1, 2, 3])
    at_once = export_generator(latest, tmp_path / "mean-of-3.pt", half=False, average_with=snapshots[:2])
    for name in at_once["G"]:
        third = sum(load_checkpoint(path)["G"][name] for path in snapshots) / 3
        torch.testing.assert_close(extended["G"][name], third)
        torch.testing.assert_close(at_once["G"][name], third)
    with pytest.raises(ValueError, match=r"step\(s\) 1 are in more than one"):
        export_generator(latest, tmp_path / "twice.pt", average_with=[tmp_path / "mean-1-2.pt", earlier])

    main(["export", str(latest), str(tmp_path / "posegan-mean.pt"), "--average-with", str(earlier)])
    card = model_card(tmp_path / "posegan-mean.pt", results=tmp_path / "results")
    assert (card.step, card.averaged_steps) == (3, [1, 3])
    assert "the moving average of G, averaged over steps 1, 3" in model_card_panel(card)
    assert PoseTransfer.from_checkpoint(tmp_path / "posegan-mean.pt").G.state_dict().keys() == first.keys()

    other = load_checkpoint(earlier)
    other["config"]["model"]["image_skip"] = not other["config"]["model"]["image_skip"]
    with pytest.raises(ValueError, match="model configs differ"):
        export_generator(latest, tmp_path / "bad.pt", average_with=[other])
    with pytest.raises(SystemExit):
        main(["export", "--train-state", str(latest), str(tmp_path / "bad.pt"), "--average-with", str(earlier)])


def test_rare_pose_sampling_draws_rare_targets_more_often_and_stays_resumable(tiny_cfg, tmp_path):
    """data.rare_pose_cap: weighted draws with replacement, still a function of (seed, step) only. The mini set's
    poses are all common, so one target gets its right arm raised (a pose the training data hardly holds)."""
    tiny_cfg.data.rare_pose_cap = 8.0
    a = Trainer(tiny_cfg, tmp_path / "a", MINI_DATA, split="samples", sample_split="samples", device="cpu")
    b = Trainer(tiny_cfg, tmp_path / "b", MINI_DATA, split="samples", sample_split="samples", device="cpu")
    prior = PosePrior.load()
    assert torch.equal(a.pair_weights, rare_pose_weights(a.dataset, 8.0, prior))
    for step in (0, 5, 7):
        assert a.batch(step)["target_name"] == b.batch(step)["target_name"]

    rare_target = a.dataset.pairs[3][1]
    a.dataset.poses[rare_target] = raise_arm(a.dataset.poses[rare_target], "right")[0]
    a.pair_weights, a._perm_epoch = rare_pose_weights(a.dataset, 8.0, prior), None
    rare = torch.tensor([target == rare_target for _, target in a.dataset.pairs])
    assert torch.all(a.pair_weights[rare] > 4.0) and torch.all(a.pair_weights[~rare] < 1.5)
    drawn = [target for s in range(300) for target in a.batch(s)["target_name"]]
    share = drawn.count(rare_target) / len(drawn)  # expected 8 r / (8 r + 12 - r) for r pairs with that target
    expected = float(a.pair_weights[rare].sum() / a.pair_weights.sum())
    assert share == pytest.approx(expected, abs=0.08) and share > 3 * rare.float().mean()
