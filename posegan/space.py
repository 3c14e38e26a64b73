"""Assemble a Hugging Face Space folder from this repository: only what the app needs, binaries marked for LFS.

    python -m posegan space --out ../posegan-space     # then commit and push that folder to the Space

A Space accepts binary files only through Git LFS, and the repository carries more than the app needs (a 40 MB
training state, results, benchmarks, tests). The Space gets ``app.py``, ``demo/``, ``posegan/``, the weights the app
loads, ``requirements.txt``, a README with the Space's YAML front matter and a ``.gitattributes`` that stores every
binary through LFS. What it writes replaces the same paths in ``--out``; anything else there (the ``.git`` of a
cloned Space) is left alone.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .config import DEFAULT_GENERATOR, REPO_ROOT

PACKAGES = ("demo", "posegan")  # copied whole, less caches and the type stubs Gradio writes next to demo/
CHECKPOINTS = (DEFAULT_GENERATOR.name, "yolo11n-pose.pt", "pose-prior-market-train.npz", "README.md")  # generator,
# detector, the training poses of the plausibility meter, their card
FILES = ("app.py", "requirements.txt")
LFS_PATTERNS = ("*.pt", "*.pth", "*.npz", "*.jpg", "*.png")  # every binary the copy holds; tests/test_space.py checks this
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyi")

README_BODY = """
# PoseGAN Studio

Upload a photo of a person, drag the joints of a skeleton to a new pose, and see the person redrawn in that pose:
a PyTorch re-implementation of *Deformable GANs for Pose-based Human Image Generation* (Siarohin et al., CVPR 2018)
trained on Market-1501 at 128×64, with a view inside its deformable skip connections. Runs on a CPU.

The generator and the example crops come from Market-1501: **non-commercial research use only** (Zheng et al.,
ICCV 2015); the detector is Ultralytics YOLO11n-pose (AGPL-3.0). Model card: `checkpoints/README.md`.
"""


def front_matter(readme: str) -> str:
    """The ``---``-fenced YAML block at the top of a README, fences included."""
    lines = readme.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ValueError("the README does not start with YAML front matter (---)")
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
    if end is None:
        raise ValueError("the README's YAML front matter has no closing ---")
    return "".join(lines[:end + 1])


def _replace(source: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target, ignore=IGNORE)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def assemble_space(out_dir, repo: Path = REPO_ROOT) -> list[Path]:
    """Write the Space into ``out_dir``; returns the paths written (relative to it)."""
    out_dir = Path(out_dir)
    if out_dir.resolve() == repo.resolve():
        raise ValueError("--out must not be the repository itself")
    sources = [Path(p) for p in PACKAGES + FILES] + [Path("checkpoints", name) for name in CHECKPOINTS]
    missing = [str(p) for p in sources if not (repo / p).exists()]
    if missing:
        raise FileNotFoundError(f"not in {repo}: {', '.join(missing)} (a Space is assembled from a clone)")
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "checkpoints").is_dir():  # weights dropped since the last assembly must not linger
        shutil.rmtree(out_dir / "checkpoints")
    for path in sources:
        _replace(repo / path, out_dir / path)
    readme = front_matter((repo / "README.md").read_text(encoding="utf-8")) + README_BODY
    (out_dir / "README.md").write_text(readme, encoding="utf-8")
    (out_dir / ".gitattributes").write_text(
        "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS))
    return sources + [Path("README.md"), Path(".gitattributes")]
