"""Pose detection: YOLO11n-pose people + 17 COCO keypoints -> OpenPose-18 poses and Market-style 128x64 crops.

    detector = get_detector()                                  # checkpoints/yolo11n-pose.pt, loaded once
    crop, person, people = detect_pose_128x64("photo.jpg", detector)
    crop.image, crop.pose                                      # uint8 [128, 64, 3], float32 [18, 2] in the crop
    crop.transform.to_original(crop.pose)                      # back to photo pixels

Batch use (``python -m posegan detect|annotate``) lives in :mod:`posegan.annotate`.
The defaults (keypoint threshold, crop margin, how Market-sized crops are fed to YOLO) were chosen by measurement:
``python benchmarks/bench_detect.py``, numbers in ``checkpoints/README.md``. COCO-17 -> OpenPose-18 follows
design doc ``deformable-gan.md`` §1.3. Poses follow ``keypoints.py``: (x, y) pixels, pixel centres at integers,
missing joint (-1, -1). Boxes are corners: (0, 0, W, H) is the whole image.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

# Set before ultralytics is imported (lazily, in PoseDetector.load): YOLO_OFFLINE skips the connectivity probe and
# with it update checks and telemetry; no pip auto-install; no per-image log lines. Fonts are only downloaded by
# ultralytics' plotting and dataset checks, which we never call (skeletons are drawn by posegan.visualize).
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from .image_io import downscale_long_side, load_image  # noqa: E402
from .keypoints import HEIGHT, WIDTH, coco17_to_openpose18, is_present, missing_pose  # noqa: E402

WEIGHTS_ENV = "POSEGAN_YOLO_WEIGHTS"
TRUSTED_WEIGHTS_ENV = "POSEGAN_TRUSTED_YOLO_SHA256"  # comma-separated sha256 of custom weights the user vouches for
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "checkpoints" / "yolo11n-pose.pt"
SHARED_WEIGHTS = "../shared/weights/yolo11n-pose.pt"  # where the project's copy comes from
KNOWN_WEIGHTS = frozenset({  # sha256 of the official releases that may be loaded (checkpoints/README.md)
    "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0",  # Ultralytics YOLO11n-pose
})

BOX_THRESHOLD = 0.25       # ultralytics' default person confidence
# Measured on 1000 Market test crops against the OpenPose annotations (benchmarks/bench_detect.py, numbers in
# checkpoints/README.md):
KEYPOINT_THRESHOLD = 0.5   # per-joint confidence: best F1 of PCKh and precision (0.866; PCKh 0.896 vs 0.882 at 0.6)
CROP_MARGIN = 0.05         # crop height = 1.05 x box height: re-cropping Market people reproduces their framing best
IMAGE_SIZE = 640           # YOLO input (letterboxed long side) for photos, ultralytics' default
SMALL_SIDE = 256           # inputs with long side <= this are person crops (Market: 64x128)
# A crop fed as is fills YOLO's whole 640 px input: PCKh 0.720 (upscaled x4 first: 0.712; at 320 px: 0.871).
# Pasted into a grey border of (1.0 x width, 0.25 x height) and letterboxed to 320 px, so that the person is ~210 px
# tall with surroundings: PCKh 0.896, and the smaller input is faster.
CONTEXT_PAD = (1.0, 0.25)
SMALL_IMAGE_SIZE = 320
GREY = (114, 114, 114)     # YOLO's own letterbox colour


class NoPersonError(ValueError):
    """The detector found nobody in the image."""


class UntrustedWeightsError(ValueError):
    """A weights file that is neither a known release nor vouched for in $POSEGAN_TRUSTED_YOLO_SHA256."""


@dataclass(eq=False)
class Person:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 corners in image pixels
    score: float                            # person confidence
    keypoints_coco: np.ndarray              # float32 [17, 3]: x, y, confidence (COCO order)
    pose: np.ndarray                        # float32 [18, 2]: OpenPose-18 in image pixels, missing = (-1, -1)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)


@dataclass(frozen=True)
class CropTransform:
    """Pixel-centre-exact map between a crop and the photo: x_crop = (x - left + 0.5) * scale_x - 0.5.

    The crop covers photo columns ``left .. left + width / scale_x - 1`` (whole pixels; parts outside the
    photo are edge-replicated), resampled to ``width`` x ``height``.
    """
    left: int
    top: int
    scale_x: float  # crop pixels per photo pixel
    scale_y: float
    width: int
    height: int

    @property
    def matrix(self) -> np.ndarray:
        """2x3 affine from crop (x, y, 1) to photo (x, y)."""
        return np.array([[1 / self.scale_x, 0, self.left + 0.5 / self.scale_x - 0.5],
                         [0, 1 / self.scale_y, self.top + 0.5 / self.scale_y - 0.5]], dtype=np.float64)

    def to_original(self, pose: np.ndarray) -> np.ndarray:
        """Crop-frame pose -> photo pixels; missing joints stay missing."""
        pose = np.asarray(pose, dtype=np.float32)
        out = pose.copy()
        present = is_present(pose)
        out[present] = pose[present] @ self.matrix[:, :2].T + self.matrix[:, 2]
        return out

    def to_crop(self, pose: np.ndarray) -> np.ndarray:
        """Photo-pixel pose -> crop frame; joints outside the crop's pixels become missing, edge ones are clipped."""
        pose = np.asarray(pose, dtype=np.float32)
        out = missing_pose()
        xs = (pose[:, 0] - self.left + 0.5) * self.scale_x - 0.5
        ys = (pose[:, 1] - self.top + 0.5) * self.scale_y - 0.5
        inside = (is_present(pose) & (xs >= -0.5) & (xs <= self.width - 0.5)
                  & (ys >= -0.5) & (ys <= self.height - 0.5))
        out[inside, 0] = np.clip(xs[inside], 0, self.width - 1)
        out[inside, 1] = np.clip(ys[inside], 0, self.height - 1)
        return out


@dataclass(eq=False)
class Crop:
    image: np.ndarray           # uint8 [height, width, 3]
    pose: np.ndarray            # float32 [18, 2] in crop pixels
    transform: CropTransform    # crop <-> photo


def resolve_weights(weights: str | os.PathLike | None = None) -> Path:
    """Weights path: ``weights``, else $POSEGAN_YOLO_WEIGHTS, else ``checkpoints/yolo11n-pose.pt`` of this repo.

    A path that was asked for but is missing is an error, never a silent fallback to another file.
    """
    if weights is None and os.environ.get(WEIGHTS_ENV):
        weights, origin = os.environ[WEIGHTS_ENV], f"${WEIGHTS_ENV}"
    elif weights is None:
        weights, origin = DEFAULT_WEIGHTS, "the default location"
    else:
        origin = "the weights argument"
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"YOLO pose weights not found: {path} (from {origin}). Copy yolo11n-pose.pt (Ultralytics YOLO11, "
            f"AGPL-3.0; sha256 in checkpoints/README.md) from {SHARED_WEIGHTS} to {DEFAULT_WEIGHTS}, "
            f"or set {WEIGHTS_ENV} to its path.")
    return path


def check_weights(path: Path) -> None:
    """Raise :class:`UntrustedWeightsError` unless ``path`` is a weights file that may be loaded.

    Ultralytics loads a ``.pt`` file with a full pickle load, and unpickling runs any code the file names, so a
    weights file is as trusted as a program. Loaded are only the known releases (:data:`KNOWN_WEIGHTS`) and files
    whose sha256 the user lists in $POSEGAN_TRUSTED_YOLO_SHA256 (a digest, not a path: a file swapped later is
    refused again).
    """
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    vouched = {d.strip().lower() for d in os.environ.get(TRUSTED_WEIGHTS_ENV, "").split(",")}
    if digest not in KNOWN_WEIGHTS and digest not in vouched:
        raise UntrustedWeightsError(
            f"refusing to load {path}: it is not a known YOLO release (sha256 {digest}). A weights file is a pickle "
            f"that can run code when it is loaded; if you trust this file, add its sha256 to ${TRUSTED_WEIGHTS_ENV}.")


class PoseDetector:
    """YOLO11n-pose loaded once; :meth:`detect` may be called from several threads (one inference at a time)."""

    def __init__(self, model, weights: Path, keypoint_threshold: float = KEYPOINT_THRESHOLD,
                 box_threshold: float = BOX_THRESHOLD, device: str = "cpu"):
        self.model = model                            # ultralytics.YOLO with task "pose"
        self.weights = weights
        self.keypoint_threshold = keypoint_threshold  # per-joint confidence below which a joint is missing
        self.box_threshold = box_threshold            # person confidence below which a box is dropped
        self.device = device                          # torch device string, chosen by the caller
        self._lock = threading.Lock()                 # ultralytics' predictor keeps per-call state

    @classmethod
    def load(cls, weights: str | os.PathLike | None = None, device: str = "cpu", **kwargs) -> PoseDetector:
        """Load the weights (see :func:`resolve_weights`; only trusted files, see :func:`check_weights`) and set up
        ultralytics' predictor now, not on first use."""
        import torch

        path = resolve_weights(weights)
        check_weights(path)
        threads, omp_threads = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
        from ultralytics import YOLO  # lazy: after the env settings above, and the import takes ~1 s
        model = YOLO(str(path), task="pose")
        if model.task != "pose":
            raise ValueError(f"{path} is a YOLO '{model.task}' model, not a pose model")
        model.predict(np.zeros((32, 32, 3), np.uint8), device=device, verbose=False)
        # ultralytics sets OMP_NUM_THREADS=1 on import and cpu_count - 1 torch threads when its predictor is set up
        # (its training defaults), which would slow every model in this process; put the caller's setup back.
        if omp_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        torch.set_num_threads(threads)
        return cls(model, path, device=device, **kwargs)

    def detect(self, image, image_size: int | None = None, crop_context: bool = True) -> list[Person]:
        """All people in ``image`` (any :func:`load_image` source; arrays are RGB), largest x most confident first.

        Photos are shrunk to 1280 px on the long side and letterboxed to ``image_size`` (default 640). Inputs with
        a long side <= 256 px are person crops: with ``crop_context`` they get a grey border and a 320 px input
        (see CONTEXT_PAD). Coordinates are mapped back to ``image`` pixels. Raises :class:`NoPersonError`.
        """
        rgb = load_image(image)
        height, width = rgb.shape[:2]
        if crop_context and max(height, width) <= SMALL_SIDE:
            pad_x, pad_y = round(CONTEXT_PAD[0] * width), round(CONTEXT_PAD[1] * height)
            work = cv2.copyMakeBorder(rgb, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=GREY)
            image_size = image_size or SMALL_IMAGE_SIZE
        else:
            pad_x = pad_y = 0
            work = downscale_long_side(rgb)[0]
            image_size = image_size or IMAGE_SIZE
        with self._lock:
            result = self.model.predict(np.ascontiguousarray(work[:, :, ::-1]),  # ultralytics takes arrays as BGR
                                        imgsz=image_size, conf=self.box_threshold, device=self.device,
                                        verbose=False)[0]
        # work pixel u = pad + (x + 0.5) * scale - 0.5 for pixel centres; corners have no half-pixel terms.
        scale = np.array([(work.shape[1] - 2 * pad_x) / width, (work.shape[0] - 2 * pad_y) / height])
        pad = np.array([pad_x, pad_y])
        boxes = (result.boxes.xyxy.cpu().numpy().reshape(-1, 2, 2) - pad) / scale
        keypoints = result.keypoints.data.cpu().numpy().astype(np.float32)
        keypoints[:, :, :2] = (keypoints[:, :, :2] - pad + 0.5) / scale - 0.5
        people = [Person(tuple(float(v) for v in box.ravel()), float(score), kps,
                         coco17_to_openpose18(kps, self.keypoint_threshold))
                  for box, score, kps in zip(boxes, result.boxes.conf.cpu().numpy(), keypoints)]
        if not people:
            raise NoPersonError("no person found in the image: use a photo in which one person is clearly "
                                "visible, ideally standing and seen whole")
        return sorted(people, key=lambda p: p.area * p.score, reverse=True)


_detectors: dict[Path, PoseDetector] = {}
_detectors_lock = threading.Lock()


def get_detector(weights: str | os.PathLike | None = None) -> PoseDetector:
    """The process-wide detector for ``weights`` (resolved as in :func:`resolve_weights`), loaded on first use."""
    path = resolve_weights(weights).resolve()
    with _detectors_lock:
        if path not in _detectors:
            _detectors[path] = PoseDetector.load(path)
        return _detectors[path]


# ------------------------------------------------------------------------------------------------- crops

def person_region(box, margin: float = CROP_MARGIN, aspect: float = HEIGHT / WIDTH) -> tuple[int, int, int, int]:
    """(left, top, width, height) in whole pixels: the box centred in a height:width = ``aspect`` frame.

    Height is (1 + margin) x the box height, or more when the box is wider than the aspect allows (arms
    spread), so the whole box always fits.
    """
    x0, y0, x1, y1 = box
    height = (1 + margin) * max(y1 - y0, aspect * (x1 - x0))
    width = max(1, round(height / aspect))
    height = max(1, round(width * aspect))
    return round((x0 + x1 - width) / 2), round((y0 + y1 - height) / 2), width, height


def crop_region(image: np.ndarray, pose: np.ndarray, region, height: int = HEIGHT, width: int = WIDTH) -> Crop:
    """Cut ``region`` (left, top, width, height) out of ``image`` (edge-replicated outside) and resize it."""
    left, top, region_width, region_height = region
    image_height, image_width = image.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + region_width, image_width), min(top + region_height, image_height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"crop region {region} does not overlap the {image_width}x{image_height} image")
    patch = cv2.copyMakeBorder(image[y0:y1, x0:x1], y0 - top, top + region_height - y1,
                               x0 - left, left + region_width - x1, cv2.BORDER_REPLICATE)
    # cv2.resize maps pixel centres like CropTransform does; INTER_AREA averages instead of aliasing.
    shrink = region_width > width or region_height > height
    resized = cv2.resize(patch, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    transform = CropTransform(left, top, width / region_width, height / region_height, width, height)
    return Crop(resized, transform.to_crop(pose), transform)


def crop_person(image: np.ndarray, person: Person, height: int = HEIGHT, width: int = WIDTH,
                margin: float = CROP_MARGIN) -> Crop:
    """The Market-style crop of ``person``: box + margin at height:width, resized to ``height`` x ``width``."""
    return crop_region(image, person.pose, person_region(person.box, margin, height / width), height, width)


def is_market_sized(image: np.ndarray) -> bool:
    """A person crop already: about 2:1 (height:width) and at most 2x the 128x64 Market size."""
    height, width = image.shape[:2]
    return max(height, width) <= SMALL_SIDE and abs(height / width - HEIGHT / WIDTH) <= 0.1


def detect_pose_128x64(image, detector: PoseDetector | None = None,
                       margin: float = CROP_MARGIN) -> tuple[Crop, Person, list[Person]]:
    """Upload -> (128x64 crop with its pose, chosen person, all people): the first person of :meth:`detect`.

    A Market-sized input is already a crop: the whole image is used (so a 128x64 input keeps its own pixels
    and the pose is in its coordinates).
    """
    rgb = load_image(image)
    people = (detector or get_detector()).detect(rgb)
    person = people[0]
    if is_market_sized(rgb):
        crop = crop_region(rgb, person.pose, (0, 0, rgb.shape[1], rgb.shape[0]))
    else:
        crop = crop_person(rgb, person, margin=margin)
    return crop, person, people
