"""What the repository knows about a generator checkpoint: the file's own record (step, training time, weights,
config) and what its training run and its evaluations left in ``results/`` (issue #15: the app's checkpoint
picker). Nothing here builds a network.

    paths = generator_files()                  # every PoseGAN checkpoint in checkpoints/
    card = model_card(paths[0])
    card.step, card.metrics, card.loss_curve, card.samples

Results are found by convention, never guessed from numbers:
  * evaluations: the ``results/**/metrics.json`` whose ``checkpoint_sha256`` names the file's sha256, as the
    evaluated model ("ours") or as the ablation ("no_deform"); the one over the most pairs wins;
  * training run: ``results/train-<name>/`` for ``posegan-<name>.pt`` and for ``<name>-train-state.pt``: its
    ``loss.png`` and its ``samples-step<step>.png`` grids up to the checkpoint's step.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint import CheckpointError, checkpoint_config, load_checkpoint
from .config import DEFAULT_GENERATOR, REPO_ROOT, PoseGANConfig

CHECKPOINTS = DEFAULT_GENERATOR.parent
RESULTS = REPO_ROOT / "results"
METRICS = ("ssim", "mask_ssim", "lpips", "fid", "pckh", "l1")


@dataclass
class ModelCard:
    path: Path
    kind: str                      # "generator" (exported), "train" (a training state: its G is used) or "weights"
    step: int
    train_seconds: float | None
    weights: str                   # "ema" (moving average of G), "raw", or "" where the file does not say
    sha256: str
    config: PoseGANConfig
    metrics: dict[str, float] = field(default_factory=dict)  # of the evaluation below; empty: never evaluated
    evaluation: Path | None = None                             # that evaluation's metrics.json
    pairs: int = 0                                             # test pairs it was evaluated on
    loss_curve: Path | None = None
    samples: list[Path] = field(default_factory=list)          # the run's sample grids up to this step, by step
    averaged_steps: list[int] = field(default_factory=list)    # steps whose G this file averages; empty: one step


def architecture(cfg: PoseGANConfig) -> str:
    """The generator's shape in a few words: "encoder widths [16, ...], 4 deformable skips"."""
    model = cfg.model
    skips = f"{model.warp_levels} deformable skips" if model.deformable_skips else "plain skips"
    skips += " and an image skip" if model.image_skip else ""
    return f"encoder widths {model.encoder_channels}, {skips}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_folder(path: Path, results: Path = RESULTS) -> Path:
    """``results/train-<name>`` for ``posegan-<name>.pt`` or ``<name>-train-state.pt`` (it may not exist)."""
    name = re.sub(r"-train-state$", "", re.sub(r"^posegan-", "", path.stem))
    return results / f"train-{name}"


def evaluation_of(sha256: str, results: Path = RESULTS) -> tuple[dict, Path | None, int]:
    """(metrics, metrics.json, pairs) of the evaluation over the most pairs that names ``sha256``; ({}, None, 0)."""
    found = []
    for path in sorted(results.rglob("metrics.json")):
        report = json.loads(path.read_text())
        for role, digest in (report.get("checkpoint_sha256") or {}).items():
            if digest == sha256 and role in report.get("results", {}):
                found.append((report.get("pairs", 0), path, report["results"][role]))
    if not found:
        return {}, None, 0
    pairs, path, numbers = max(found, key=lambda item: item[0])  # the first of the largest: sorted paths
    return {k: numbers[k] for k in METRICS if k in numbers}, path, pairs


def model_card(path, results: Path = RESULTS) -> ModelCard:
    """The card of one checkpoint file; :class:`CheckpointError` (a ValueError) for files that are not PoseGAN
    checkpoints, such as the detector's weights."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    sha256 = file_sha256(path)
    metrics, evaluation, pairs = evaluation_of(sha256, results)
    run = run_folder(path, results)
    step = int(ckpt.get("step", 0))
    samples = sorted(p for p in run.glob("samples-step*.png") if int(re.findall(r"\d+", p.stem)[-1]) <= step)
    loss_curve = run / "loss.png"
    return ModelCard(path, ckpt.get("kind", ""), step, ckpt.get("train_seconds"),
                     ckpt.get("weights", "ema" if "G_ema" in ckpt else ""), sha256, checkpoint_config(ckpt),
                     metrics, evaluation, pairs, loss_curve if loss_curve.is_file() else None, samples,
                     [int(s) for s in ckpt.get("averaged_steps", [])])


def generator_files(folder: Path = CHECKPOINTS) -> list[Path]:
    """Every PoseGAN checkpoint (``*.pt``: exported generators and training states) in ``folder``; other files,
    such as the detector's weights, are skipped."""
    found = []
    for path in sorted(Path(folder).glob("*.pt")):
        try:
            load_checkpoint(path)
        except CheckpointError:
            continue
        found.append(path)
    return found
