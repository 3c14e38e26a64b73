"""Command line: ``posegan {train,export,transfer,evaluate,detect,annotate,pairs,bench,space,pose-prior,device-bundle,
device-slim,device-collect} --help``.

``posegan`` is the console script of ``pip install -e .``; ``python -m posegan`` is the same from the repository root.
Each subcommand parses its options and calls one library function, so everything is scriptable from Python.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import DEFAULT_DATA_ROOT, DEFAULT_GENERATOR, DEFAULT_POSE_PRIOR, DEFAULT_WEIGHTS_DIR, REPO_ROOT, ConfigError, config_from_dict, load_config, merge_overrides as _merge_overrides

DEFAULT_CHECKPOINT = str(DEFAULT_GENERATOR)

EPILOG = """examples:
  posegan train --config configs/market-small.yaml --out runs/market-small --max-minutes 30
  posegan train --out runs/market-small --resume --max-minutes 30
  posegan export runs/market-small/latest.pt checkpoints/posegan-market-small.pt
  posegan export runs/market-small/latest.pt g.pt --average-with runs/market-small/state-20000.pt
  posegan transfer photo.png --target-pose demo/examples/target-pose-walking-left.json --scale 4 --out generated.png
  posegan detect photo.jpg --out detections/
  posegan pairs --annotations annotations-train.csv --out pairs-train.csv
  posegan bench --config configs/market-small.yaml --out results/bench.json
  posegan space --out ../posegan-space
  posegan pose-prior   # rebuild checkpoints/pose-prior-market-train.npz from the Market annotations
  posegan device-bundle && posegan device-slim on   # before training on a lent GPU (README)
"""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: ...)" to an option's help only where it says something: not for None, False or an empty
    list, and not where the help already states the default."""

    def _get_help_string(self, action):
        default = action.default
        if default is None or default is False or default == [] or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _train(args, parser):
    from .checkpoint import load_checkpoint
    from .train import Trainer
    resume = None
    overrides = list(args.set) + ([f"data.root={args.data}"] if args.data else [])
    if args.resume:
        resume = Path(args.resume if isinstance(args.resume, str) else Path(args.out) / "latest.pt")
        if args.config:
            parser.error("--resume continues with the checkpoint's config: drop --config (use --set to change e.g. "
                         "train.max_steps)")
        if not resume.is_file():
            parser.error(f"--resume: no checkpoint at {resume}")
        if any(o.strip().startswith("model.") for o in overrides):
            parser.error("--set model.* cannot change the architecture of a run being resumed")
        cfg = config_from_dict(_merge_overrides(load_checkpoint(resume, kind="train")["config"], overrides))
    elif args.config is None:
        parser.error("--config is required unless --resume is given")
    else:
        if (Path(args.out) / "latest.pt").exists() and not args.dry_run:
            parser.error(f"{args.out} already holds a run (latest.pt): add --resume to continue it, "
                         "or pick another --out")
        cfg = load_config(args.config, overrides)
    if args.dry_run:
        import yaml
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        return
    trainer = Trainer(cfg, args.out, split=args.split, sample_split=args.sample_split,
                      resume=str(resume) if resume else None, device=args.device)
    trainer.run(max_steps=args.max_steps, max_minutes=args.max_minutes)


def _export(args, parser):
    from .checkpoint import export_generator, export_training_state
    if args.train_state and args.average_with:
        parser.error("--average-with writes a generator; a training state cannot be averaged")
    if args.train_state:
        out, what = export_training_state(args.checkpoint, args.out), "resumable training state"
    else:
        out = export_generator(args.checkpoint, args.out, half=not args.fp32, ema=not args.raw_weights,
                               average_with=args.average_with)
        what = f"generator, {out['weights']} weights"
        if "averaged_steps" in out:
            what += ", the mean over steps " + ", ".join(f"{step:,}" for step in out["averaged_steps"])
    size = Path(args.out).stat().st_size / 2 ** 20
    print(f"wrote {args.out} ({what} at step {out['step']}, {size:.1f} MiB)")


def _transfer(args, parser):
    from PIL import Image
    from .image_io import load_image
    from .inference import PoseTransfer
    from .keypoints import load_pose_json
    if args.scale < 1:
        parser.error(f"--scale must be a positive whole number, got {args.scale}")
    image = load_image(args.source)  # inputs first: a bad file fails before the model loads
    target = load_pose_json(args.target_pose)
    source = load_pose_json(args.source_pose) if args.source_pose else None
    pt = PoseTransfer.from_checkpoint(args.checkpoint, device=args.device)
    if image.shape[:2] != (pt.height, pt.width):  # a photo: crop the main person to the Market frame
        from .pose_detect import detect_pose_128x64
        if source is not None:
            parser.error("--source-pose is given in the 64x128 frame, so the source must be a 64x128 crop")
        crop = detect_pose_128x64(image)[0]
        image, source = crop.image, crop.pose
    result = pt(image, target, source, deformable=not args.plain_skips, keep_background=args.keep_background)
    # Nearest neighbour: every generated pixel becomes a scale x scale block, so the enlargement shows exactly what
    # the generator made, artefacts included (as the app and the sample grids do); a smooth filter would hide them.
    output = result.image.resize((result.image.width * args.scale, result.image.height * args.scale), Image.NEAREST)
    output.save(args.out)
    print(f"wrote {args.out} ({output.width}x{output.height})")


def _detect(args, parser):
    from .annotate import detect_images
    results = detect_images(args.images, args.out, write_json=not args.no_json, weights=args.weights)
    if args.json:  # machine-readable summary on stdout (progress went to stderr)
        import json
        print(json.dumps(results, indent=1))
    if any(r.get("error") for r in results):
        sys.exit(1)


def _annotate(args, parser):
    from .annotate import annotate_folder
    rows = annotate_folder(args.images, args.out, weights=args.weights)
    print(f"wrote {rows} rows to {args.out}")


def _pairs(args, parser):
    import csv
    from .data import build_pairs
    from .keypoints import read_market_csv
    pairs = build_pairs(read_market_csv(args.annotations))
    with open(args.out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["from", "to"])
        writer.writerows(pairs)
    print(f"wrote {len(pairs)} pairs to {args.out}")


def _space(args, parser):
    from .space import assemble_space
    written = assemble_space(args.out)
    print(f"wrote a Hugging Face Space to {args.out}: {', '.join(str(p) for p in written)}")


def _bench(args, parser):
    from .bench import run_benchmarks
    run_benchmarks(args.config, args.out, threads=args.threads, iterations=args.iterations, data_root=args.data)


def _pose_prior(args, parser):
    from .pose_prior import build_prior
    prior = build_prior(args.annotations, args.held_out, held_out=args.held_out_poses)
    prior.save(args.out)
    print(f"wrote {args.out} ({len(prior.poses):,} training poses, {Path(args.out).stat().st_size / 1000:.0f} kB; "
          f"pose distance typical up to {prior.pose_typical:.3f}, unseen beyond {prior.pose_unseen:.3f} torso sizes)")


def _device_bundle(args, parser):
    from .device_bundle import BUNDLE, DEFAULT_INIT, TRAVEL_LIMIT, build_bundle, mib
    out = args.out or REPO_ROOT / BUNDLE
    size, tree = build_bundle(out, args.data, args.init or DEFAULT_INIT)
    print(f"wrote {out}: {mib(size)}; with the slim tree ({mib(tree)}) {mib(size + tree)} of the {mib(TRAVEL_LIMIT)} "
          "that may travel")


def _device_slim(args, parser):
    from .device_bundle import BUNDLE, TRAVEL_LIMIT, mib, slim_index_off, slim_index_on, travelling_bytes
    changed = slim_index_on(REPO_ROOT) if args.action == "on" else slim_index_off(REPO_ROOT)
    print(f"slim index {args.action}: {len(changed)} tracked files {'out of' if args.action == 'on' else 'back in'} "
          f"the index; travelling now with {BUNDLE}: {mib(travelling_bytes(REPO_ROOT, carry=(BUNDLE,)))} "
          f"(limit {mib(TRAVEL_LIMIT)})")


def _device_collect(args, parser):
    from .device_bundle import RETURN_FILES, RETURN_LIMIT, collect_run, mib
    files = collect_run(args.run, args.out)
    print(f"{args.out}: " + ", ".join(f"{name} {mib(size)}" for name, size in files.items()))
    for name in [name for name, size in files.items() if size > RETURN_LIMIT]:
        print(f"warning: {name} is over {mib(RETURN_LIMIT)}: it will not come back")
    if len(files) > RETURN_FILES:
        print(f"warning: {len(files)} files in {args.out}: only {RETURN_FILES} come back")


def _evaluate(args, parser):
    from .evaluate import evaluate
    checkpoint = None if args.checkpoint == "none" else args.checkpoint
    metrics = args.metrics.split(",") if args.metrics else None
    evaluate(checkpoint, args.data, args.out, pairs_csv=args.pairs, weights_dir=args.weights_dir, limit=args.limit,
             metric_names=metrics, ablation=args.ablation, batch_size=args.batch_size, device=args.device,
             cache_dir=None if args.no_cache else args.cache_dir, keep_background=args.keep_background)


def build_parser() -> argparse.ArgumentParser:
    prog = "posegan" if Path(sys.argv[0]).name == "posegan" else "python -m posegan"  # console script or -m
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0],
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fmt = HelpFormatter

    p = sub.add_parser("train", help="train a model (resumable)", formatter_class=fmt)
    p.add_argument("--config", help="YAML config, e.g. configs/market-small.yaml (not needed with --resume)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.batch_size=8 (repeatable)")
    p.add_argument("--out", default="runs/market-small", help="run directory (checkpoints, log.csv, samples/)")
    p.add_argument("--data", help="Market-1501 folder (default: data.root of the config, which defaults to "
                                   f"{DEFAULT_DATA_ROOT})")
    p.add_argument("--split", default="train", choices=["train", "test", "samples"], help="pairs to train on")
    p.add_argument("--sample-split", default="test", choices=["train", "test", "samples"],
                   help="pairs shown in the sample grids")
    p.add_argument("--resume", nargs="?", const=True, default=False,
                   help="resume from OUT/latest.pt, or from the given training checkpoint")
    p.add_argument("--max-steps", type=int, help="stop at this step (default: train.max_steps of the config)")
    p.add_argument("--max-minutes", type=float, help="stop cleanly (with a checkpoint) after this many minutes")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=_train)

    p = sub.add_parser("export", help="strip a training checkpoint to a shippable generator", formatter_class=fmt)
    p.add_argument("checkpoint", help="training checkpoint (runs/<name>/latest.pt)")
    p.add_argument("out", help="output file, e.g. checkpoints/posegan-market-small.pt")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default: float16)")
    p.add_argument("--raw-weights", action="store_true",
                   help="export G's last optimiser weights, not their moving average (runs with train.ema_half_life)")
    p.add_argument("--average-with", nargs="+", default=[], metavar="STATE",
                   help="earlier training states or train.keep_every snapshots of the same run whose G is averaged "
                        "in (uniform mean over the steps; an earlier exported mean counts once per step it holds; "
                        "the file keeps CHECKPOINT's step and config and records every averaged step)")
    p.add_argument("--train-state", action="store_true",
                   help="write a compact resumable training state instead (G, D, fp16 moving average of G, "
                        "bf16 Adam moments)")
    p.set_defaults(func=_export)

    p = sub.add_parser("transfer", help="generate a person in a new pose", formatter_class=fmt)
    p.add_argument("source", help="person image (a 64x128 crop, or any photo: the main person is cropped)")
    p.add_argument("--target-pose", required=True, help="OpenPose JSON of the target pose (64x128 frame)")
    p.add_argument("--source-pose", help="OpenPose JSON of the source pose (default: detected)")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="generator checkpoint")
    p.add_argument("--out", default="generated.png", help="output PNG")
    p.add_argument("--scale", type=int, default=1,
                   help="enlarge the 64x128 output this many times (nearest neighbour: the pixels stay visible)")
    p.add_argument("--plain-skips", action="store_true", help="switch the deformable warping off (comparison)")
    p.add_argument("--keep-background", action="store_true",
                   help="paste the person over the crop, its own person removed (the app's default; posegan.background)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_transfer)

    p = sub.add_parser("evaluate", help="SSIM, mask-SSIM, LPIPS, FID, PCKh on the test pairs, with baselines",
                       formatter_class=fmt)
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="generator to evaluate ('none': baselines only)")
    p.add_argument("--ablation", help="generator trained with plain skips, evaluated as 'no_deform'")
    p.add_argument("--keep-background", action="store_true",
                   help="also score ours pasted over the source photo ('ours_keep_background', posegan.background)")
    p.add_argument("--data", default=DEFAULT_DATA_ROOT, help="Market-1501 folder")
    p.add_argument("--pairs", help="pair list (default: DATA/pairs-test.csv)")
    p.add_argument("--weights-dir", default=DEFAULT_WEIGHTS_DIR,
                   help="folder with the LPIPS and FID networks (README: Metric weights)")
    p.add_argument("--metrics", help="comma-separated subset of: ssim,mask_ssim,l1,lpips,pckh,fid,fid_train (default: all)")
    p.add_argument("--limit", type=int, help="evaluate only the first N pairs")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", default="results/eval", help="output folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache-dir", default="runs/eval-cache",
                   help="reuse real-image FID features and per-checkpoint results (keyed by file sha256) from here")
    p.add_argument("--no-cache", action="store_true", help="compute everything, read and write no cache")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("detect", help="detect poses: JSON, 128x64 crop and annotated PNG per image",
                       formatter_class=fmt)
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--out", default="detections", help="output folder")
    p.add_argument("--no-json", action="store_true", help="do not write the OpenPose JSON files")
    p.add_argument("--json", action="store_true", help="print a JSON summary (people, box, joints, files) to stdout")
    p.add_argument("--weights", help="YOLO pose weights (default: checkpoints/yolo11n-pose.pt)")
    p.set_defaults(func=_detect)

    p = sub.add_parser("annotate", help="write a Market-style pose CSV for a folder of images",
                       formatter_class=fmt)
    p.add_argument("--images", required=True, help="folder of images")
    p.add_argument("--out", required=True, help="output CSV (name:keypoints_y:keypoints_x)")
    p.add_argument("--weights", help="YOLO pose weights (default: checkpoints/yolo11n-pose.pt)")
    p.set_defaults(func=_annotate)

    p = sub.add_parser("pairs", help="write the pair list of a Market-style pose CSV (the paper's rule)",
                       formatter_class=fmt)
    p.add_argument("--annotations", required=True, help="pose CSV (name:keypoints_y:keypoints_x)")
    p.add_argument("--out", required=True, help="output CSV (from,to): every ordered pair of two images of the same "
                                                "person, both with shoulders and hips, ids -1 and 0000 left out")
    p.set_defaults(func=_pairs)

    p = sub.add_parser("bench", help="time generator inference and training steps", formatter_class=fmt)
    p.add_argument("--config", action="append", help="config(s) to time (default: market-small, its resize-conv recipe, market-paper)")
    p.add_argument("--out", default="results/bench.json", help="JSON output")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--iterations", type=int, default=10, help="timed iterations per measurement")
    p.add_argument("--data", default=DEFAULT_DATA_ROOT, help="Market-1501 folder (its samples/ pairs are the inputs)")
    p.set_defaults(func=_bench)

    p = sub.add_parser("space", help="assemble a Hugging Face Space folder (app, weights, LFS attributes)",
                       formatter_class=fmt)
    p.add_argument("--out", required=True, help="Space folder, e.g. a clone of the Space (its .git is kept)")
    p.set_defaults(func=_space)
    p = sub.add_parser("pose-prior", help="the training poses and limits behind the app's pose plausibility meter",
                       formatter_class=fmt)
    p.add_argument("--annotations", default=f"{DEFAULT_DATA_ROOT}/annotations-train.csv",
                   help="pose annotations of the images the generator was trained on (Market CSV)")
    p.add_argument("--held-out", default=f"{DEFAULT_DATA_ROOT}/annotations-test.csv",
                   help="poses it never trained on, to calibrate what counts as typical and as unseen")
    p.add_argument("--held-out-poses", type=int, default=2000, help="how many of them (a seeded sample)")
    p.add_argument("--out", default=str(DEFAULT_POSE_PRIOR), help="output .npz (the app reads this one)")
    p.set_defaults(func=_pose_prior)

    p = sub.add_parser("device-bundle", help="the folder of data and weights that travels to a lent GPU (README)",
                       formatter_class=fmt)
    p.add_argument("--data", default=DEFAULT_DATA_ROOT, help="Market-1501 folder (its train and samples splits go)")
    p.add_argument("--init", help="training state or weights file the device run starts from (train.init_from; "
                                   "default: the committed realism-recipe state in checkpoints/)")
    p.add_argument("--out", help="bundle folder (default: .device in the repository, git-ignored: the device call "
                                  "carries it)")
    p.set_defaults(func=_device_bundle)

    p = sub.add_parser("device-slim", help="take all but the code out of the git index (on) for a device call, "
                                           "and put it back (off); no file changes", formatter_class=fmt)
    p.add_argument("action", choices=["on", "off"])
    p.set_defaults(func=_device_slim)

    p = sub.add_parser("device-collect", help="on the device: a run's generator, weights, log and latest samples "
                                              "into the folder that comes back", formatter_class=fmt)
    p.add_argument("run", help="run directory (its latest.pt, log.csv, samples/)")
    p.add_argument("out", help="output folder ($OUT)")
    p.set_defaults(func=_device_collect)
    return parser


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args, parser)
    except (ConfigError, OSError, ValueError) as exc:
        parser.exit(2, f"error: {exc}\n")
