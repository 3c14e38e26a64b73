"""What the app does, without any UI: photo -> person crop + pose, two poses -> generated person, poses -> GIF.

Every step calls the ``posegan`` package (``pose_detect`` to find and crop the person, ``inference`` to run the
generator); :mod:`demo.ui` wires this to Gradio and :mod:`demo.panels` draws the results. Errors meant for the
person using the app are raised as :class:`UserInputError`, whose message can be shown as is.

    studio = Studio()    # $POSEGAN_CHECKPOINT or checkpoints/posegan-market-small-imageskip.pt
    source = studio.detect(open("photo.jpg", "rb").read())
    result = studio.transfer(source.crop, source.pose, studio.presets["Walking left (side)"])
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from posegan import background
from posegan.config import DEFAULT_GENERATOR
from posegan.data import tensor_to_image
from posegan.image_io import ImageLoadError, load_image
from posegan.inference import PoseTransfer, TransferResult
from posegan.keypoints import (HEIGHT, WIDTH, PoseFormatError, interpolate_poses, is_present, missing_pose,
                               pose_from_openpose_json, validate_pose)
from posegan.model_card import ModelCard, architecture, generator_files, model_card
from posegan.pose_detect import NoPersonError, crop_region, detect_pose_128x64, get_detector
from posegan.pose_prior import PosePrior
from posegan.visualize import draw_people, draw_pose

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT_ENV = "POSEGAN_CHECKPOINT"
DEFAULT_CHECKPOINT = DEFAULT_GENERATOR
PRESETS_FILE = Path(__file__).with_name("presets.json")
DEFAULT_PRESET = "Standing, front"  # the hand-placement start when nobody is detected
MAX_ANIMATION_STEPS = 32            # frames per GIF; 32 generator calls take well under a second on CPU
MIN_PHOTO_SIDE = 8                  # px per side: smaller images show nobody (and a 1 px tall one has no 1:2 crop)


class UserInputError(ValueError):
    """Bad input from the person using the app (unreadable photo, nobody in it, malformed pose...)."""


@dataclass
class SourcePerson:
    crop: np.ndarray        # uint8 [128, 64, 3]: the person, Market-style
    pose: np.ndarray        # float32 [18, 2] in the crop
    overview: np.ndarray    # the photo with every detected skeleton, the chosen person boxed
    people: int             # how many people were detected
    message: str            # what happened, in words ("3 people found: using the largest")


@dataclass
class Transfer:
    result: TransferResult            # the generated person (.image, 64x128) and the inside of the skips
    plain_image: Image.Image | None   # same generator with plain (un-warped) skips, when asked for


def load_presets(path: Path = PRESETS_FILE) -> dict[str, np.ndarray]:
    """Preset target poses (Market test annotations, see presets.json) by name."""
    entries = json.loads(path.read_text())["presets"]
    return {entry["name"]: validate_pose(entry["pose"]) for entry in entries}


def checkpoint_path(path=None) -> Path:
    """``path``, else $POSEGAN_CHECKPOINT, else the shipped checkpoint."""
    return Path(path or os.environ.get(CHECKPOINT_ENV) or DEFAULT_CHECKPOINT)


def read_photo(data: bytes) -> np.ndarray:
    """Uploaded bytes -> uint8 RGB, or a UserInputError saying what is wrong with the file."""
    try:
        rgb = load_image(data)
    except ImageLoadError as exc:
        raise UserInputError(f"This file cannot be used as a photo: {exc}.") from None
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_PHOTO_SIDE:
        raise UserInputError(f"This photo is {width}x{height} pixels: too small to show a person (at least "
                             f"{MIN_PHOTO_SIDE} px on each side).")
    return rgb


def parse_pose(value) -> np.ndarray:
    """Pose JSON (OpenPose string or dict) or an [18, 2] list -> validated pose, or UserInputError."""
    try:
        if isinstance(value, (str, bytes, dict)):
            if isinstance(value, (str, bytes)) and not value.strip():
                raise PoseFormatError("the pose JSON is empty")
            return pose_from_openpose_json(value)
        return validate_pose(value)
    except PoseFormatError as exc:
        raise UserInputError(f"Invalid pose: {exc}.") from None


class Studio:
    """The generator (if its checkpoint exists), the person detector, the presets and the training poses (the pose
    plausibility of :mod:`posegan.pose_prior`), loaded once; the other generators of ``checkpoints/`` and their
    model cards when first asked for.

    ``compile``: the app's generator also compiles in a background thread (:mod:`posegan.compiled`) and, once ready
    (20-60 s after the start, eager until then), redraws a person 1.3x faster. Only that one: each compilation
    holds a CPU core for as long, and the other generators are picked for comparisons, not for editing."""

    def __init__(self, checkpoint=None, compile: bool = True):
        self.checkpoint = checkpoint_path(checkpoint)
        self.model, self.load_error = None, None
        if self.checkpoint.is_file():
            try:
                self.model = PoseTransfer.from_checkpoint(self.checkpoint, compile=compile)
            except ValueError as exc:  # corrupt, truncated, unsafe or not a generator: the app runs without it
                self.load_error = str(exc)
        self.detector = get_detector()
        self.presets = load_presets()
        self.prior = PosePrior.load()
        self.checkpoints = {path.name: path for path in generator_files()}  # the checkpoint picker's choices
        self.models, self.cards = {}, {}
        if self.model is not None:
            self.checkpoints[self.checkpoint.name] = self.checkpoint
            self.models[self.checkpoint.name] = self.model

    @property
    def model_problem(self) -> str | None:
        """Why generation is unavailable (checkpoint missing or unusable), or None."""
        if self.model is not None:
            return None
        problem = (f"The generator checkpoint cannot be used: {self.load_error}." if self.load_error else
                   f"The generator checkpoint is missing: {self.checkpoint}.")
        return (f"{problem} Detection and the pose editor work, but nothing can be generated. Export one with: "
                f"python -m posegan export runs/market-small/latest.pt {DEFAULT_CHECKPOINT.relative_to(REPO)} "
                f"(or point {CHECKPOINT_ENV} at one), then restart the app.")

    def require_model(self) -> PoseTransfer:
        if self.model is None:
            raise UserInputError(self.model_problem)
        return self.model

    @property
    def model_summary(self) -> str:
        if self.model is None:
            return "no generator loaded"
        return f"{self.checkpoint.name}: {architecture(self.model.cfg)}"

    @property
    def default_choice(self) -> str | None:
        """The picker's first choice: the app's generator, else the first usable one in checkpoints/."""
        return self.checkpoint.name if self.model is not None else next(iter(self.checkpoints), None)

    def generator(self, name: str | None = None) -> PoseTransfer:
        """The generator of checkpoint ``name`` (a key of ``checkpoints``; None: the app's own), loaded once."""
        if name is None:
            return self.require_model()
        if name not in self.checkpoints:
            raise UserInputError(f"There is no checkpoint named {name!r} in checkpoints/.")
        if name not in self.models:
            try:
                self.models[name] = PoseTransfer.from_checkpoint(self.checkpoints[name])
            except ValueError as exc:
                raise UserInputError(f"The checkpoint cannot be used: {exc}.") from None
        return self.models[name]

    def card(self, name: str) -> ModelCard:
        """What the repository knows about checkpoint ``name`` (posegan.model_card), read once."""
        if name not in self.cards:
            self.cards[name] = model_card(self.checkpoints[name])
        return self.cards[name]

    # ------------------------------------------------------------------------------------------ source

    def detect(self, photo: bytes) -> SourcePerson:
        """Find the people in ``photo`` and crop the largest to 128x64; NoPersonError when there is nobody."""
        rgb = read_photo(photo)
        crop, person, people = detect_pose_128x64(rgb, self.detector)
        joints = int(is_present(crop.pose).sum())
        if len(people) > 1:
            message = (f"{len(people)} people found: using the largest (boxed in green, detection score "
                       f"{person.score:.2f}), {joints} of 18 joints visible.")
        else:
            message = f"Person found (score {person.score:.2f}), {joints} of 18 joints visible."
        if joints < 8:
            message += " Few joints were found: correct the source pose by hand for a better result."
        return SourcePerson(crop.image, crop.pose, draw_people(rgb, people), len(people), message)

    def undetected(self, photo: bytes) -> SourcePerson:
        """Fallback when nobody is detected: the photo's centre at 1:2 as the crop, a standing pose to adjust."""
        rgb = read_photo(photo)
        height, width = rgb.shape[:2]
        crop_width = min(width, height * WIDTH // HEIGHT)
        crop_height = crop_width * HEIGHT // WIDTH
        region = ((width - crop_width) // 2, (height - crop_height) // 2, crop_width, crop_height)
        crop = crop_region(rgb, missing_pose(), region)
        message = ("No person was detected. The middle of the photo is used as the crop with a standing pose: "
                   "drag the source joints onto the person.")
        return SourcePerson(crop.image, self.presets[DEFAULT_PRESET].copy(), rgb, 0, message)

    # ------------------------------------------------------------------------------------------ generation

    def transfer(self, crop: np.ndarray, source_pose: np.ndarray, target_pose: np.ndarray,
                 compare: bool = False, checkpoint: str | None = None, keep_background: bool = False) -> Transfer:
        """The generated person; ``compare`` adds the same generator with plain skips; ``checkpoint``: a key of
        ``checkpoints`` (None: the app's generator); ``keep_background``: pasted over the crop, its own person
        removed (:mod:`posegan.background`)."""
        model = self.generator(checkpoint)
        if not is_present(target_pose).any():
            raise UserInputError("The target pose has no visible joint: show some joints first.")
        result = model(crop, target_pose, source_pose, keep_background=keep_background)
        plain = (model(crop, target_pose, source_pose, deformable=False, keep_background=keep_background).image
                 if compare else None)
        return Transfer(result, plain)

    def transfer_photo(self, photo: bytes, target_pose: np.ndarray, keep_background: bool = False) -> Image.Image:
        """The API's one-call path: detect and crop the person in ``photo``, then generate ``target_pose``
        (``keep_background`` as in :meth:`transfer`)."""
        source = self.detect(photo)
        return self.transfer(source.crop, source.pose, target_pose, keep_background=keep_background).result.image

    def animate(self, crop: np.ndarray, source_pose: np.ndarray, target_pose: np.ndarray, steps: int,
                scale: int = 2, frame_ms: int = 90, checkpoint: str | None = None,
                keep_background: bool = False) -> bytes:
        """GIF bytes: skeleton | generated person for each pose from source to target, then back;
        ``keep_background``: each frame pasted over the crop, as :meth:`transfer` does."""
        model = self.generator(checkpoint)
        steps = int(np.clip(steps, 2, MAX_ANIMATION_STEPS))
        poses = interpolate_poses(source_pose, target_pose, steps)
        images = model.batch([model.prepare(crop, pose, source_pose) for pose in poses])  # [N, 3, H, W]
        frames = []
        for pose, image in zip(poses, images):
            person = tensor_to_image(image)
            if keep_background:
                person = background.keep_background(person, crop, source_pose, pose)  # one plate, cached
            frame = np.concatenate([draw_pose(None, pose, 1), person], axis=1)
            frames.append(Image.fromarray(frame).resize((frame.shape[1] * scale, frame.shape[0] * scale),
                                                        Image.NEAREST))
        frames += frames[-2:0:-1]  # there and back: the loop has no jump
        buffer = io.BytesIO()
        frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
        return buffer.getvalue()

