"""The Gradio app: layout and events over :class:`demo.studio.Studio` (no model code here).

    demo = build_demo()                      # or build_demo(Studio("path/to/generator.pt"))
    demo.launch(**launch_options())          # css, theme, upload limit, SSR off

Flow: photo -> ``on_photo`` (detect + crop, or a hand-placed fallback) fills the source and target editors ->
any pose change (or Generate, or another generator picked) -> ``generate`` -> generated image + the "Inside the
deformable skips" and "Correspondence inspector" panels. A target pose change also updates its plausibility meter
(``posegan.pose_prior``); the Checkpoints tab shows the picked generator's model card and compares two.
Public API endpoints (gradio_client): ``/detect`` (photo -> crop, OpenPose JSON, number of people found) and
``/transfer`` (photo, OpenPose JSON[, keep the photo's background: False] -> generated 64x128 image); the UI's own
events are private: the page reaches them through the queue, never by name (:class:`PublicEndpointsOnly`).
"""
from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image
from starlette.middleware import Middleware
from starlette.responses import JSONResponse

from posegan.keypoints import HEIGHT, WIDTH, pose_to_openpose_json
from posegan.model_card import RESULTS
from posegan.pose_detect import NoPersonError
from posegan.visualize import draw_pose

from . import panels
from .editor import PoseEditor
from .studio import MAX_ANIMATION_STEPS, Studio, UserInputError, parse_pose

HERE = Path(__file__).parent
INSPECTOR_JS = (HERE / "inspector.js").read_text()
EXAMPLES = HERE / "examples"
DEFAULT_TARGET = "Walking, front"       # a first target that differs from most photos and shows all 18 joints
MAX_UPLOAD = "10mb"                      # per file; image_io also refuses images above 40 MP
CONCURRENCY = 2                          # detector/generator calls at once: one per CPU core of a basic Space
log = logging.getLogger("posegan.app")

INTRO = """# PoseGAN Studio
Re-pose a person with **Deformable GANs** ([Siarohin et al., CVPR 2018](https://arxiv.org/abs/1801.00055)),
trained on Market-1501 at 128×64. Upload a photo of a person (or pick an example), then drag the joints of the
**target pose**: the generator redraws the person in that pose. The tabs below show what happens inside its
deformable skip connections and can animate the change."""

# A new photo makes the messages about the previous one wrong: close them before it is processed.
DISMISS_MESSAGES_JS = """(photo) => {
  document.querySelectorAll('.toast-close').forEach((button) => button.click());
  return photo;
}"""

# The result as a PNG file at SCALE times the model's 64x128 (nearest neighbour: the pixels the model drew), drawn
# in the browser from the image on the page, so a download costs the server nothing.
DOWNLOAD_RESULT_JS = """async () => {
  const image = document.querySelector('#result img');
  if (!image) return;
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth * SCALE;
  canvas.height = image.naturalHeight * SCALE;
  const context = canvas.getContext('2d');
  context.imageSmoothingEnabled = false;
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  const link = document.createElement('a');
  link.href = canvas.toDataURL('image/png');
  link.download = `posegan-result-${canvas.width}x${canvas.height}.png`;
  link.click();
}"""

DOWNLOAD_JS = """(text) => {
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([text], {type: 'application/json'}));
  link.download = 'target-pose.json';
  link.click();
  URL.revokeObjectURL(link.href);
}"""


class BuiltinImage(gr.Image):
    """Base of the app's ``gr.Image`` subclasses: the browser draws them with its own gr.Image (any other subclass
    is taken for a custom component, whose JavaScript does not exist, and is not shown)."""

    def get_block_name(self) -> str:
        return "image"


class PhotoInput(BuiltinImage):
    """``gr.Image`` that hands the uploaded file over undecoded (a path inside Gradio's upload cache).

    ``gr.Image`` opens uploads with PIL itself and a non-image then fails with a bare "Error"; here
    ``posegan.image_io`` decodes it and says what is wrong (not an image, truncated, too large).
    """

    def preprocess(self, payload):
        if payload is None or payload.path is None:  # nothing, or a pasted data URL: Gradio's own handling
            return super().preprocess(payload)
        return payload.path


class ResultImage(BuiltinImage):
    """``gr.Image`` output that writes every result to a file of its own in the app's cache.

    Gradio names an image output by the hash of its bytes and rewrites that file in place, so two identical
    results at the same moment share one file, and one download can be cut off while the other rewrites it.
    """

    def postprocess(self, value):
        if isinstance(value, np.ndarray):
            value = Image.fromarray(value)
        if isinstance(value, Image.Image):
            path = Path(self.GRADIO_CACHE, "results", f"{self.elem_id or 'image'}-{uuid.uuid4().hex}.{self.format}")
            path.parent.mkdir(parents=True, exist_ok=True)
            value.save(path, format=self.format)
            value = str(path)
        return super().postprocess(value)


class PublicEndpointsOnly:
    """ASGI middleware: the routes that run an event by name (``/gradio_api/call/<name>``, ``call/v2``, ``run``,
    ``api``) answer 404 unless the event's API is public.

    Gradio keeps private events out of the API docs and gradio_client but still runs them by name over raw HTTP.
    The page reaches them through ``/gradio_api/queue/join`` by index, in the queue with its concurrency limits;
    ``/run/`` for the public ones, which would skip the queue, is closed by ``queue(api_open=False)``.
    Left open: ``/run/predict``, where the page runs events outside the queue by index (gr.Examples loading a
    clicked example into the photo); with ``api_open=False`` Gradio answers 404 there for every queued event, which
    all of the app's own events are. Closing it left the examples dead.
    """
    BY_NAME = re.compile(r"/gradio_api/(?:call/v2|call|run|api)/([^/]+)")
    OUTSIDE_QUEUE = "/gradio_api/run/predict"

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = self.BY_NAME.search(scope["path"]) if scope["type"] == "http" else None
        if match and match[1] not in self.public_names(scope["app"]) and scope["path"].rstrip("/") != \
                self.OUTSIDE_QUEUE:
            await JSONResponse({"detail": f"There is no public API endpoint named {match[1]!r}."}, 404)(
                scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def public_names(app) -> set[str]:
        return {fn.api_name for fn in app.get_blocks().fns.values() if fn.api_visibility == "public"}


def shows_errors(handler):
    """Raise the studio's errors meant for the user as gr.Error: shown in the page, and the app carries on.

    The server console gets one line per such error: a traceback would only say that the user's input was bad.
    """
    @functools.wraps(handler)
    def wrapper(*args):
        try:
            return handler(*args)
        except (UserInputError, NoPersonError) as exc:
            log.warning("%s refused the input: %s", handler.__name__, exc)
            raise gr.Error(str(exc), print_exception=False) from None
    return wrapper


def read_upload(path: str) -> bytes:
    """Bytes of a file Gradio stored in its upload cache (the path was checked by Gradio's preprocessing)."""
    return Path(path).read_bytes()


def pose_json(pose: np.ndarray) -> str:
    """OpenPose JSON text, one joint (x, y, confidence) per line so that it can be read and edited."""
    data = pose_to_openpose_json(pose)
    flat = data["people"][0]["pose_keypoints_2d"]
    joints = ",\n".join(f"    {flat[i]:.1f}, {flat[i + 1]:.1f}, {flat[i + 2]:g}" for i in range(0, len(flat), 3))
    data["people"] = ["KEYPOINTS"]
    return json.dumps(data, indent=1).replace('"KEYPOINTS"', '{"pose_keypoints_2d": [\n' + joints + "\n  ]}")


def launch_options() -> dict:
    """``demo.launch`` keyword arguments shared by app.py, the tests and the benchmark."""
    return {"css_paths": [HERE / "app.css"], "theme": gr.themes.Soft(), "max_file_size": MAX_UPLOAD,
            "ssr_mode": False, "app_kwargs": {"middleware": [Middleware(PublicEndpointsOnly)]},
            "allowed_paths": [str(RESULTS)]}  # loss curves and sample grids of the training runs, shown as files


def build_demo(studio: Studio | None = None) -> gr.Blocks:
    """The app over ``studio`` (default: ``Studio()``, the shipped or $POSEGAN_CHECKPOINT generator)."""
    studio = studio or Studio()
    standing = studio.presets["Standing, front"]

    # ------------------------------------------------------------------------------------------ handlers

    def show_source(source):
        background = panels.png_data_uri(source.crop)
        return (source.crop, source.overview, source.message,
                PoseEditor.update(source.pose, reset_pose=source.pose, background=background),
                PoseEditor.update(reset_pose=source.pose, background=background))

    @shows_errors
    def on_photo(path):
        if path is None:
            raise UserInputError("No photo given.")
        photo = read_upload(path)
        try:
            source = studio.detect(photo)
        except NoPersonError:
            source = studio.undetected(photo)
        return show_source(source)  # the status line says what was found: no pop-up over the result

    def require_crop(crop):
        if crop is None:
            raise UserInputError("Upload a photo of a person (or pick an example) first.")

    @shows_errors
    def generate(crop, source_pose, target_pose, compare, checkpoint, keep_background):
        """The result alone, and what its panels need: they are drawn by a follow-up event (draw_panels), so the
        person shows without waiting for them (about 55 ms and 190 kB of HTML per result, issue #14)."""
        require_crop(crop)
        out = studio.transfer(crop, source_pose, target_pose, compare, checkpoint, keep_background)
        return out.result.image, (out, crop, studio.generator(checkpoint).cfg.model.warp_mode)

    def generate_live(live, crop, source_pose, target_pose, compare, checkpoint, keep_background):
        if not live or crop is None or studio.model is None:  # the banner already says why nothing happens
            return gr.skip(), gr.skip()
        return generate(crop, source_pose, target_pose, compare, checkpoint, keep_background)

    def draw_panels(generated):
        """The "Inside the deformable skips" and "Correspondence inspector" panels of the last result (the state only
        changes to a new result, so it is never the initial None here)."""
        out, crop, warp_mode = generated
        return (panels.skips_panel(out.result, crop, out.plain_image),
                panels.inspector_panel(out.result, crop, warp_mode))

    @shows_errors
    def animate(crop, source_pose, target_pose, steps, checkpoint, keep_background):
        require_crop(crop)
        return panels.animation_panel(studio.animate(crop, source_pose, target_pose, steps, checkpoint=checkpoint,
                                                     keep_background=keep_background))

    @shows_errors
    def compare_checkpoints(crop, source_pose, target_pose, first, second, keep_background):
        require_crop(crop)
        return panels.comparison_panel([
            (studio.card(name), studio.transfer(crop, source_pose, target_pose, checkpoint=name,
                                                keep_background=keep_background).result.image)
            for name in (first, second)])

    def show_card(name):
        """The picked checkpoint's numbers, the loss curves and sample grids of its training run."""
        if name is None:
            return "No usable generator in checkpoints/.", None, []
        card = studio.card(name)
        samples = [(str(path), f"step {int(path.stem.split('step')[-1]):,}") for path in card.samples]
        return panels.model_card_panel(card), card.loss_curve and str(card.loss_curve), samples

    def on_target(pose):
        return pose_json(pose), panels.plausibility_panel(studio.prior, pose)

    @shows_errors
    def open_json(path):
        return parse_pose(read_upload(path))  # at most 10 MB (MAX_UPLOAD); parse_pose refuses above 100 kB

    @shows_errors
    def on_reference(path):
        if path is None:
            return gr.skip(), gr.skip()
        reference = studio.detect(read_upload(path))
        return reference.pose, draw_pose(reference.crop, reference.pose, scale=4)

    @shows_errors
    def api_detect(path):
        """Photo -> the largest person's 128x64 crop, its pose (OpenPose JSON in the crop's pixels) and how many
        people were found."""
        if path is None:
            raise UserInputError("No photo given.")
        source = studio.detect(read_upload(path))
        return source.crop, pose_json(source.pose), source.people

    @shows_errors
    def api_transfer(path, target_json, keep_background):
        """Photo + target pose (OpenPose JSON, 64x128 frame or any canvas size) [+ keep the photo's background,
        default off: the generator's whole frame] -> generated 64x128 person."""
        if path is None:
            raise UserInputError("No photo given.")
        return studio.transfer_photo(read_upload(path), parse_pose(target_json), bool(keep_background))

    # ------------------------------------------------------------------------------------------ layout

    with gr.Blocks(title="PoseGAN Studio", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        if studio.model_problem:
            gr.Markdown(f"**Warning:** {studio.model_problem}", elem_classes="pg-banner")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                photo = PhotoInput(label="1 · Person photo", type="filepath", sources=["upload", "clipboard"],
                                   height=300, elem_id="photo")
                status = gr.Markdown("Upload a photo of a person, or pick an example below.",
                                     elem_id="status", elem_classes="pg-status")
                overview = ResultImage(label="Detected people", show_label=False, interactive=False, height=180,
                                       buttons=[], elem_id="overview")
                examples = gr.Examples(examples=[[str(p)] for p in sorted(EXAMPLES.glob("*.jpg"))], inputs=[photo],
                                       label="Examples: Market-1501 crops and two street photos with several people",
                                       examples_per_page=6, api_visibility="private", elem_id="examples")
            with gr.Column(scale=2, min_width=280, elem_classes="pg-editor-column"):
                gr.Markdown("### 2 · Source pose\nThe detected joints; correct them if they are off.")
                source_editor = PoseEditor(standing, presets=studio.presets, elem_id="source-editor")
            with gr.Column(scale=2, min_width=280, elem_classes="pg-editor-column"):
                gr.Markdown("### 3 · Target pose\nDrag the joints; the photo is shown as a ghost.")
                target_editor = PoseEditor(studio.presets[DEFAULT_TARGET], presets=studio.presets,
                                           reset_pose=standing, photo_opacity=0.35, elem_id="target-editor")
                plausibility = gr.HTML(panels.plausibility_panel(studio.prior, studio.presets[DEFAULT_TARGET]),
                                       elem_id="plausibility")
                with gr.Row():
                    snap_button = gr.Button("Snap to the closest training pose", size="sm", elem_id="snap")
                    random_button = gr.Button("Random training pose", size="sm", elem_id="random-pose")
            with gr.Column(scale=2, min_width=280, elem_classes="pg-result-column"):
                gr.Markdown("### 4 · Result")
                result = ResultImage(label="Generated", show_label=False, type="pil", format="png",
                                     interactive=False, height=512, buttons=["fullscreen"], elem_id="result",
                                     elem_classes="pg-pixelated")
                generated = gr.State(None)  # (Transfer, crop, warp mode) of the result shown: its panels' input
                gr.Markdown(f"<small>Model output {WIDTH}×{HEIGHT} pixels, shown ×4.</small>",
                            elem_id="result-note")
                with gr.Row():
                    download_buttons = {scale: gr.Button(f"Download {scale}× ({WIDTH * scale}×{HEIGHT * scale})",
                                                         size="sm", elem_id=f"download-{scale}x")
                                        for scale in (1, 4)}
                generate_button = gr.Button("Generate", variant="primary", elem_id="generate")
                live = gr.Checkbox(True, label="Regenerate when a pose changes")
                keep_background = gr.Checkbox(True, label="Keep the photo's background", elem_id="keep-background",
                                              info="Paste the person over the crop, its own person removed; "
                                                   "off: the generator's whole frame")
                generator_choice = gr.Dropdown(list(studio.checkpoints), value=studio.default_choice,
                                               label="Generator (checkpoints/)", elem_id="generator",
                                               info="Its numbers, loss curves and samples: the Checkpoints tab")
        crop = ResultImage(label="Person crop (128x64)", type="numpy", format="png", visible=False, elem_id="crop")
        people = gr.Number(label="People found", precision=0, visible=False)

        with gr.Tabs():
            with gr.Tab("Inside the deformable skips"):
                gr.Markdown(
                    "For each warped skip level: the source features (first 3 principal components as RGB), the "
                    "same features after the per-part affine warps (same colours), and the part masks in the "
                    "target pose. Below: the 10 part boxes where the warp reads them (source) and writes them "
                    "(target).")
                compare = gr.Checkbox(False, label="Compare with the same generator using plain (un-warped) "
                                                   "skips")
                skips = gr.HTML('<p class="pg-note">Generate a person to look inside.</p>', elem_id="skips")
            with gr.Tab("Correspondence inspector"):
                gr.Markdown(
                    "Hover over the generated person: each body part whose mask covers that point reads it from "
                    "the source photo where its affine says (one dot per part, in the part's colour). Below, the "
                    "photo as the deformable skips would carry it, part by part.")
                inspector = gr.HTML('<p class="pg-note">Generate a person to inspect.</p>', js_on_load=INSPECTOR_JS,
                                    elem_id="inspector")
            with gr.Tab("Animate"):
                with gr.Row():
                    steps = gr.Slider(2, MAX_ANIMATION_STEPS, value=10, step=1, label="Steps from source to target")
                    animate_button = gr.Button("Animate", variant="primary")
                animation = gr.HTML('<p class="pg-note">The GIF goes from the source pose to the target and back.</p>')
            with gr.Tab("Pose JSON & reference photo"):
                with gr.Row():
                    with gr.Column():
                        target_json = gr.Code(pose_json(studio.presets[DEFAULT_TARGET]),
                                              language="json", label="Target pose (OpenPose JSON, editable)",
                                              interactive=True, max_lines=14)
                        with gr.Row():
                            apply_button = gr.Button("Apply JSON to the target")
                            open_button = gr.UploadButton("Open JSON file", file_types=[".json"])
                            save_button = gr.Button("Save JSON file")
                    with gr.Column():
                        source_json = gr.Code(pose_json(standing), language="json", label="Source pose (OpenPose JSON)",
                                              interactive=False, max_lines=14)
                    with gr.Column():
                        reference = PhotoInput(label="Reference photo: use its person's pose as the target",
                                               type="filepath", sources=["upload", "clipboard"], height=260,
                                               elem_id="reference")
                        reference_crop = ResultImage(label="Reference person", interactive=False, height=300,
                                                     elem_id="reference-crop", elem_classes="pg-pixelated")
            with gr.Tab("Checkpoints"):
                others = [name for name in studio.checkpoints if name != studio.default_choice]
                card_html, loss_curve, sample_grids = show_card(studio.default_choice)
                with gr.Row():
                    with gr.Column(scale=3):
                        gr.Markdown("The generator picked under the result: what it is and how it was trained "
                                    "(from `checkpoints/` and its training run in `results/`).")
                        card = gr.HTML(card_html, elem_id="model-card")
                        loss = gr.Image(loss_curve, label="Loss curves of its training run", interactive=False,
                                        elem_id="loss-curve")
                    with gr.Column(scale=2):
                        samples = gr.Gallery(sample_grids, label="Sample grids of its training run (test pairs)",
                                             columns=4, height=560, object_fit="contain", elem_id="sample-grids")
                gr.Markdown("### Side by side\nThe same photo and poses through the picked generator and another.")
                with gr.Row():
                    compare_with = gr.Dropdown(list(studio.checkpoints), value=(others or [None])[0],
                                               label="Compare with", elem_id="compare-with")
                    compare_button = gr.Button("Generate with both", variant="primary", elem_id="compare-button")
                comparison = gr.HTML(elem_id="comparison")

        # -------------------------------------------------------------------------------------- events

        private = {"api_visibility": "private"}
        heavy = {"concurrency_id": "cpu", "concurrency_limit": CONCURRENCY}  # one limit for all of them together
        generate_inputs = [crop, source_editor, target_editor, compare, generator_choice, keep_background]
        generate_outputs = [result, generated]
        live_update = {"fn": generate_live, "inputs": [live] + generate_inputs, "outputs": generate_outputs,
                       "show_progress": "hidden", **heavy, **private}
        generate_button.click(generate, generate_inputs, generate_outputs, show_progress="minimal", **heavy,
                              **private)
        gr.on([source_editor.edit, target_editor.edit, compare.change, live.change, generator_choice.change,
               keep_background.change],
              trigger_mode="always_last", **live_update)
        # Every path to a new result goes through `generated`: its change draws the panels, after the result shows.
        generated.change(draw_panels, [generated], [skips, inspector], show_progress="hidden",
                         trigger_mode="always_last", **heavy, **private)

        # A new photo or a pose set by the app: regenerate once all its outputs are in place.
        # (photo.upload, not photo.change: replacing a photo fires change twice.)
        source_outputs = [crop, overview, status, source_editor, target_editor]
        photo.upload(on_photo, [photo], source_outputs, js=DISMISS_MESSAGES_JS, **heavy, **private).success(
            **live_update)
        examples.load_input_event.then(on_photo, [photo], source_outputs, js=DISMISS_MESSAGES_JS, **heavy,
                                       **private).success(**live_update)
        animate_button.click(animate, [crop, source_editor, target_editor, steps, generator_choice, keep_background],
                             [animation], **heavy, **private)
        compare_button.click(compare_checkpoints, [crop, source_editor, target_editor, generator_choice, compare_with,
                                                   keep_background], [comparison], **heavy, **private)
        generator_choice.change(show_card, [generator_choice], [card, loss, samples], **heavy, **private)

        # Cheap and model-free: outside the "cpu" concurrency group, so they never wait behind a generation.
        target_editor.change(on_target, [target_editor], [target_json, plausibility], show_progress="hidden",
                             **private)
        snap_button.click(studio.prior.snap, [target_editor], [target_editor], **private).success(**live_update)
        random_button.click(studio.prior.random, None, [target_editor], **private).success(**live_update)
        source_editor.change(pose_json, [source_editor], [source_json], show_progress="hidden", **private)
        apply_button.click(shows_errors(parse_pose), [target_json], [target_editor], **private).success(**live_update)
        open_button.upload(open_json, [open_button], [target_editor], **private).success(**live_update)
        save_button.click(None, [target_json], None, js=DOWNLOAD_JS, **private)
        for scale, button in download_buttons.items():
            button.click(None, None, None, js=DOWNLOAD_RESULT_JS.replace("SCALE", str(scale)), **private)
        reference.upload(on_reference, [reference], [target_editor, reference_crop], **heavy,
                         **private).success(**live_update)

        # API-only endpoints (no UI trigger): stable signatures for gradio_client.
        gr.on([], api_detect, [photo], [crop, source_json, people], api_name="detect", **heavy)
        # /transfer's third input, optional for API callers: its own hidden box, off by default as the endpoint was
        # before it had the option (the page's box starts on)
        api_keep_background = gr.Checkbox(False, visible=False, label="keep_background")
        gr.on([], api_transfer, [photo, target_json, api_keep_background], [result], api_name="transfer", **heavy)

    # api_open=False: /gradio_api/run/<name> would run an event at once, outside the queue and its limits.
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64, api_open=False)
    return demo
