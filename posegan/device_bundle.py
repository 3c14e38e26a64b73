"""Fine-tuning on a lent GPU machine (issue #13): what travels there, what comes back (README "Training on a lent GPU").

    python -m posegan device-bundle                  # .device/: data, init weights, VGG19 (47 MiB)
    python -m posegan device-slim on                 # leave only the code in the tree that travels
    ... the device runs `bash benchmarks/device/train_gpu.sh`, carrying .device; it calls device-collect ...
    python -m posegan device-slim off                # the index as it was

The device tool copies the tracked and untracked-not-ignored files of the working tree plus the ignored folders
named in its ``carry`` list, 64 MiB in all, to a machine without ``../shared``, and brings back at most 8 files of
at most 16 MiB each from ``$OUT``. So:

* :func:`build_bundle` writes one git-ignored folder (``.device/``) holding the train split (its pair list is left
  out: :class:`~posegan.data.MarketPoseDataset` rebuilds it exactly), the small ``samples`` split for the sample
  grids, the init weights (:func:`~posegan.checkpoint.export_weights`: G, its moving average, D in float16, for
  ``train.init_from``) and the VGG19 of the losses in float16 (loss values within 2e-4 of the float32 file's);
* :func:`slim_index_on` takes everything but :data:`TRAVELLING` out of the git index and ignores it through
  ``.git/info/exclude``, without touching a file (a training may be running from this checkout);
  :func:`slim_index_off` puts the index and the exclude file back as they were;
* :func:`collect_run` writes a run's results into ``$OUT`` on the device: the exported generator, the run's weights
  (``train.init_from`` continues from them here), ``log.csv``, the latest sample grid and loss curves.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import torch

from .checkpoint import export_generator, export_weights, load_checkpoint
from .config import DEFAULT_DATA_ROOT, REPO_ROOT
from .data import SPLIT_FILES
from .networks.vgg import DEFAULT_WEIGHTS as VGG_WEIGHTS

DEFAULT_INIT = REPO_ROOT / "checkpoints" / "market-small-resizeconv-snhinge-style-train-state.pt"
BUNDLE = ".device"  # in the repository root: the name in the device call's carry list
TRAVEL_LIMIT = 64 * 2 ** 20  # what the device tool takes, tree and carried folders together
TRAVEL_MARGIN = 4 * 2 ** 20  # room for code that changes after the bundle is built
RETURN_LIMIT, RETURN_FILES = 16 * 2 ** 20, 8  # what comes back from $OUT: bytes per file, files
# What the device needs of the repository: the package, the recipes and the device scripts.
TRAVELLING = ("posegan", "configs", "benchmarks/device", "pyproject.toml", "requirements.txt")
MANIFEST = "bundle.json"
EXCLUDE_BEGIN, EXCLUDE_END = "# >>> posegan device-slim: everything but the code", "# <<< posegan device-slim"
SLIM_STATE = "posegan-device-slim"  # in the worktree's git dir: the paths taken out of the index


def mib(size: int) -> str:
    return f"{size / 2 ** 20:.1f} MiB"


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink())


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), "--literal-pathspecs", *args], input=stdin, text=True,
                          capture_output=True, check=True).stdout


def travelling_files(repo, pathspecs=()) -> list[str]:
    """The files the device tool copies, as it lists them: tracked and untracked-not-ignored (within ``pathspecs``)."""
    listing = _git(Path(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *pathspecs)
    return sorted({name for name in listing.split("\0") if name})


def travelling_bytes(repo, carry=(BUNDLE,), pathspecs=()) -> int:
    """Bytes that travel: :func:`travelling_files` that exist, plus every file under the ``carry`` folders."""
    repo = Path(repo)
    tree = sum((repo / name).stat().st_size for name in travelling_files(repo, pathspecs)
               if (repo / name).is_file() and not (repo / name).is_symlink())
    return tree + sum(folder_bytes(repo / folder) for folder in carry if (repo / folder).exists())


# ------------------------------------------------------------------------------------------------------ bundle
def build_bundle(out=REPO_ROOT / BUNDLE, data=DEFAULT_DATA_ROOT, init=DEFAULT_INIT, repo=REPO_ROOT,
                 limit: int = TRAVEL_LIMIT - TRAVEL_MARGIN) -> tuple[int, int]:
    """Write the bundle to ``out`` (replacing an earlier bundle there); return its bytes and those of the slim tree
    of ``repo`` (what :func:`slim_index_on` leaves). Raises ``ValueError``, leaving no bundle, if the two together
    exceed ``limit``."""
    out, data = Path(out), Path(data)
    if out.exists():
        if not (out / MANIFEST).is_file() and any(out.iterdir()):
            raise ValueError(f"{out} exists and is not a bundle ({MANIFEST} missing): pick another --out")
        shutil.rmtree(out)
    images, annotations, _ = SPLIT_FILES["train"]
    if not (data / annotations).is_file():
        raise FileNotFoundError(f"no Market-1501 train split at {data} ({annotations} missing)")
    (out / "data" / images).mkdir(parents=True)
    shutil.copyfile(data / annotations, out / "data" / annotations)
    names = [line.split(":", 1)[0] for line in (data / annotations).read_text().splitlines()[1:] if line.strip()]
    for name in names:  # the annotated images: all the dataset can use (pairs-train.csv is rebuilt from them)
        shutil.copyfile(data / images / name, out / "data" / images / name)
    shutil.copytree(data / SPLIT_FILES["samples"][0], out / "data" / SPLIT_FILES["samples"][0])
    init_weights = export_weights(init, out / "init.pt")
    vgg = torch.load(VGG_WEIGHTS, map_location="cpu", weights_only=True)
    torch.save({name: value.half() for name, value in vgg.items()}, out / VGG_WEIGHTS.name)
    manifest = {"data": str(data), "train_images": len(names), "init": str(init), "init_step": init_weights["step"]}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")

    size, tree = folder_bytes(out), travelling_bytes(repo, carry=(), pathspecs=TRAVELLING)
    if size + tree > limit:
        shutil.rmtree(out)
        raise ValueError(f"the bundle ({mib(size)}) and the slim tree ({mib(tree)}) make {mib(size + tree)}, over "
                         f"the {mib(limit)} that may travel to the device ({mib(TRAVEL_LIMIT)} at most); "
                         "bundle removed")
    return size, tree


# ------------------------------------------------------------------------------------------------- slim index
def _exclude_path(repo: Path) -> Path:
    return repo / _git(repo, "rev-parse", "--git-path", "info/exclude").strip()


def _state_path(repo: Path) -> Path:
    return repo / _git(repo, "rev-parse", "--git-path", SLIM_STATE).strip()


def exclude_lines(travelling=TRAVELLING) -> list[str]:
    """gitignore lines that ignore every path but ``travelling``: ``/*`` and, for each kept path, its parents
    re-included with their other entries ignored (git cannot re-include a path under an ignored folder)."""
    lines = ["/*"]
    for path in travelling:
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:depth])
            lines += [f"!{prefix}"] + ([f"{prefix}/*"] if depth < len(parts) else [])
    return list(dict.fromkeys(lines))


def slim_index_on(repo=REPO_ROOT, travelling=TRAVELLING) -> list[str]:
    """Take every tracked file outside ``travelling`` out of the index (the files stay) and ignore everything
    outside it through the exclude file; return the paths taken out. Refused with staged changes (``off`` restores
    the index from HEAD) or when already on."""
    repo = Path(repo)
    state = _state_path(repo)
    if state.exists():
        raise ValueError(f"the slim index is already on in {repo} ({state} exists): run `device-slim off` first")
    if subprocess.run(["git", "-C", str(repo), "diff", "--cached", "--quiet"]).returncode != 0:
        raise ValueError(f"{repo} has staged changes: commit or unstage them first (`off` restores the index from "
                         "HEAD)")
    kept = set(_git(repo, "ls-files", "-z", "--", *travelling).split("\0"))
    dropped = [name for name in _git(repo, "ls-files", "-z").split("\0") if name and name not in kept]
    exclude = _exclude_path(repo)
    text = exclude.read_text() if exclude.exists() else None
    added = ("\n" if text and not text.endswith("\n") else "") + "\n".join(
        [EXCLUDE_BEGIN, *exclude_lines(travelling), EXCLUDE_END]) + "\n"
    state.write_text(json.dumps({"head": _git(repo, "rev-parse", "HEAD").strip(), "dropped": dropped,
                                 "exclude_added": added, "exclude_created": text is None}) + "\n")
    if dropped:
        _git(repo, "rm", "-q", "--cached", "--pathspec-from-file=-", "--pathspec-file-nul", stdin="\0".join(dropped))
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text((text or "") + added)
    return dropped


def slim_index_off(repo=REPO_ROOT) -> list[str]:
    """Undo :func:`slim_index_on`: the paths it took out back into the index from HEAD, exactly the lines it added
    out of the exclude file. Refused if HEAD moved meanwhile (a commit made then recorded the paths as deleted)."""
    repo = Path(repo)
    state = _state_path(repo)
    if not state.exists():
        raise ValueError(f"the slim index is not on in {repo}")
    saved = json.loads(state.read_text())
    if _git(repo, "rev-parse", "HEAD").strip() != saved["head"]:
        raise ValueError(f"HEAD moved since `device-slim on` (from {saved['head'][:10]}): a commit made meanwhile "
                         f"recorded the slimmed paths as deleted; restore them from {saved['head'][:10]} and remove "
                         f"{state}")
    if saved["dropped"]:
        _git(repo, "reset", "-q", "--pathspec-from-file=-", "--pathspec-file-nul", stdin="\0".join(saved["dropped"]))
    exclude = _exclude_path(repo)
    text = exclude.read_text().replace(saved["exclude_added"], "", 1) if exclude.exists() else ""
    if saved["exclude_created"] and not text:
        exclude.unlink(missing_ok=True)
    else:
        exclude.write_text(text)
    state.unlink()
    return saved["dropped"]


# ---------------------------------------------------------------------------------------------------- returns
def _copy_atomic(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def collect_run(run_dir, out_dir) -> dict[str, int]:
    """Write what comes back from the device into ``out_dir``: ``generator.pt`` (exported, float16, moving
    average), ``weights.pt`` (G, its moving average, D; for ``train.init_from``), ``log.csv``, the latest sample
    grid as ``samples.png`` and ``loss.png``. Each file is replaced atomically, so a kill mid-way leaves the last
    complete copy (and at most one ``.tmp``). Returns {file name: bytes}."""
    run, out = Path(run_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # loaded once: both files from one step, though the trainer may replace latest.pt meanwhile
    state = load_checkpoint(run / "latest.pt", kind="train")
    export_generator(state, out / "generator.pt")
    export_weights(state, out / "weights.pt")
    grids = sorted((run / "samples").glob("step*.png"))
    for source, name in ((run / "log.csv", "log.csv"), (grids[-1] if grids else None, "samples.png"),
                         (run / "loss.png", "loss.png")):
        if source is not None and source.is_file():
            _copy_atomic(source, out / name)
    return {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
