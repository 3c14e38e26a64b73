"""PoseEditor: the in-browser skeleton editor, a ``gr.HTML`` with SVG and ``js_on_load`` (no npm build).

Value: a pose, 18 ``[x, y]`` pairs in the 64x128 frame in ``posegan.keypoints`` order, ``[-1, -1]`` for a
hidden joint; handlers receive it as a validated float32 [18, 2] array and may return arrays. Dragging (mouse
and touch), hiding joints, mirroring, presets and undo/redo all run in the browser (``editor.js``), which writes
the value once per finished gesture, so nothing waits for the model. Events: ``change`` (any new value, also one
set by Python) and ``edit`` (a person changed the pose: listen to this one to regenerate, so that values set
by Python together with other outputs do not start a generation that reads half-updated inputs).
Python sets the value and the props ``background`` (data URI of the crop), ``reset_pose`` and ``photo_opacity``
with ``gr.update(...)``. Files: ``editor.html`` (static markup), ``editor.css``, ``editor.js``.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from posegan.keypoints import FLIP_PERMUTATION, HEIGHT, JOINT_NAMES, LIMBS, WIDTH, PoseFormatError, validate_pose
from posegan.visualize import JOINT_COLOURS

ASSETS = Path(__file__).parent
TEMPLATE, STYLE, SCRIPT = ((ASSETS / name).read_text() for name in ("editor.html", "editor.css", "editor.js"))


def pose_to_value(pose) -> list[list[float]]:
    """float32 [18, 2] -> the editor's JSON value (rounded to 0.01 px: the browser needs no more)."""
    return [[round(float(x), 2), round(float(y), 2)] for x, y in validate_pose(pose)]


class PoseEditor(gr.HTML):
    def __init__(self, value=None, *, presets: dict[str, np.ndarray], reset_pose=None, background: str = "",
                 photo_opacity: float = 1.0, **kwargs):
        """value: initial pose (None only when Gradio rebuilds the component for an update);
        presets: name -> pose for the preset menu; reset_pose: what "Reset" restores (None = the initial pose);
        background: image URL shown behind the skeleton ("" = none);
        photo_opacity: 1 = the photo as is, lower = a ghost of it."""
        super().__init__(
            value=self.postprocess(value),
            html_template=TEMPLATE,
            css_template=STYLE,
            js_on_load=SCRIPT,
            background=background,
            photo_opacity=photo_opacity,
            reset_pose=self.postprocess(value if reset_pose is None else reset_pose),
            presets=[{"name": name, "pose": pose_to_value(pose)} for name, pose in presets.items()],
            joint_names=[name.replace("_", " ") for name in JOINT_NAMES],
            limbs=[list(limb) for limb in LIMBS],
            colours=[f"rgb{tuple(colour)}" for colour in JOINT_COLOURS],  # same colours as posegan.visualize
            flip=list(FLIP_PERMUTATION),
            frame=[WIDTH, HEIGHT],
            **kwargs,
        )

    @staticmethod
    def update(pose=None, *, reset_pose=None, **props) -> dict:
        """``gr.update`` for this editor: the pose (when given) and props, poses as the browser's plain lists.

        Gradio postprocesses ``value`` but sends other props as they are, and a numpy ``reset_pose`` reached the
        browser as something that is not an array ("Reset" then failed with ``pose.map is not a function``).
        """
        if pose is not None:
            props["value"] = pose
        if reset_pose is not None:
            props["reset_pose"] = pose_to_value(reset_pose)
        return gr.update(**props)

    def __getattr__(self, name: str):
        # gr.HTML treats any quoted name in js_on_load as a custom event and returns a listener for it; for
        # our props (quoted in watch([...])) that listener would leak into gr.update(...) payloads.
        if name in self.__dict__.get("props", {}):
            raise AttributeError(name)
        return super().__getattr__(name)

    def preprocess(self, payload) -> np.ndarray:
        try:
            return validate_pose(payload)
        except PoseFormatError as exc:
            raise gr.Error(f"The pose editor sent an invalid pose: {exc}.") from None

    def postprocess(self, value):
        return None if value is None else pose_to_value(value)

    def api_info(self) -> dict:
        pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        return {"type": "array", "items": pair, "minItems": 18, "maxItems": 18,
                "description": "18 [x, y] joints (OpenPose order) in the 64x128 frame; [-1, -1] = missing"}

    def example_payload(self):
        return self.value

    def example_value(self):
        return self.value
