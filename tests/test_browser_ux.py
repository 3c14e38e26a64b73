"""The app as people use it (issue #15), in headless Chromium: what a new user hit, and the editing tools.

Each test opens a fresh page on the session's one app server (``app_url``) with the session's one browser
(``browser``, conftest.py); a JavaScript error on the page fails the test. Waits are on conditions, never fixed.
The inspector test writes test-artifacts/inspector.png, copied to docs/screenshot-inspector.png.
Run: ``python -m pytest tests/test_browser_ux.py -q``
"""
import base64
import io
import os
import time
from pathlib import Path
from urllib.parse import urljoin

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("YOLO_OFFLINE", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
expect = pytest.importorskip("playwright.sync_api", reason="needs `pip install playwright` (requirements.txt)").expect

from posegan.background import keep_background  # noqa: E402
from posegan.checkpoint import checkpoint_config, load_checkpoint  # noqa: E402
from posegan.config import DEFAULT_GENERATOR  # noqa: E402
from posegan.geometry import skip_inputs, source_points  # noqa: E402
from posegan.visualize import skip_rgb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "demo" / "examples"
ARTIFACTS = ROOT / "test-artifacts"  # git-ignored
MARKET_PHOTO = EXAMPLES / "market-0161_c3s3_033028_07.jpg"
CROWD_PHOTO = EXAMPLES / "zidane.jpg"
TIMEOUT_MS = 30_000
NECK, RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST, LEFT_WRIST = 1, 2, 3, 4, 7


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url)
    expect(page.locator("[data-ready='1']")).to_have_count(2)  # both editors' listeners are attached
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# ----------------------------------------------------------------------------------------------- helpers

def editor(page, name: str):
    return page.locator(f"#{name}-editor")


def joint(editor_, j: int):
    return editor_.locator(f".pe-joint[data-joint='{j}']")


def position(editor_, j: int) -> tuple[float, float] | None:
    """Joint j's (x, y) in the 64x128 frame, None when it is hidden (drawn as a ghost ring)."""
    group = joint(editor_, j)
    if "pe-ghost" in group.get_attribute("class"):
        return None
    dot = group.locator(".pe-dot")
    return float(dot.get_attribute("cx")), float(dot.get_attribute("cy"))


def on_screen(editor_, j: int) -> tuple[float, float]:
    box = joint(editor_, j).locator(".pe-dot").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def frame_to_screen(svg, x: float, y: float) -> tuple[float, float]:
    """Screen coordinates of the point (x, y) of the 64x128 frame of an SVG (an editor's canvas, an overlay)."""
    return tuple(svg.evaluate(
        "(svg, [x, y]) => { const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());"
        " return [p.x, p.y]; }", [float(x), float(y)]))


def drag(page, start: tuple[float, float], end: tuple[float, float], modifier: str | None = None) -> None:
    if modifier:
        page.keyboard.down(modifier)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()
    if modifier:
        page.keyboard.up(modifier)


def upload(page, photo: Path) -> None:
    """Upload a person photo and wait for its crop behind the source skeleton, a first result and its panels (they
    follow the result in an event of their own)."""
    page.locator("#photo input[type=file]").set_input_files(photo)
    page.wait_for_function(
        "document.querySelector('#source-editor .pe-photo')?.getAttribute('href')?.startsWith('data:image/png')")
    page.wait_for_selector("#result img")
    page.wait_for_selector("#skips img")


def pose(editor_) -> np.ndarray:
    """The editor's pose as Python receives it: float32 [18, 2], (-1, -1) for hidden joints."""
    return np.array([position(editor_, j) or (-1, -1) for j in range(18)], np.float32)


def data_uri_image(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


def result_pixels(page, app_url: str) -> np.ndarray:
    """The generated image on the page (its file, fetched from the app)."""
    src = page.locator("#result img").get_attribute("src")
    return np.asarray(Image.open(io.BytesIO(httpx.get(urljoin(app_url, src)).content)).convert("RGB"))


def wait_for_result_pixels(page, app_url: str, expected: np.ndarray) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not np.array_equal(result_pixels(page, app_url), expected):
        assert time.monotonic() < deadline, "the expected result never came"
        page.wait_for_timeout(200)


def overlaps(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def not_an_image(tmp_path) -> Path:
    path = tmp_path / "notes.png"
    path.write_text("this is text, not a picture")
    return path


# ----------------------------------------------------------------------------------------------- issue #15.1-6

def test_clicking_an_example_loads_it(page):
    """Before: the examples did nothing (their loader runs through /gradio_api/run/predict, which answered 404)."""
    page.locator("#examples button.gallery-item").nth(1).click()  # a Market crop: one person
    expect(page.locator("#status")).to_contain_text("Person found", timeout=TIMEOUT_MS)
    page.wait_for_selector("#result img")


def test_reset_after_upload_restores_the_detected_pose(page):
    """Before: Reset did nothing once a photo was uploaded ("pose.map is not a function")."""
    upload(page, MARKET_PHOTO)
    source, target = editor(page, "source"), editor(page, "target")
    detected = position(source, LEFT_WRIST)
    x, y = on_screen(source, LEFT_WRIST)
    drag(page, (x, y), (x + 30, y + 40))
    assert position(source, LEFT_WRIST) != detected
    source.locator("button[data-action='reset']").click()
    assert position(source, LEFT_WRIST) == detected
    # The target's Reset goes to the detected pose too (the photo's person as they stand).
    target.locator("button[data-action='reset']").click()
    assert position(target, LEFT_WRIST) == detected


def test_double_click_hides_a_joint_and_shows_it_again(page):
    """Before: the double-click landed on the canvas (the drag code captures the pointer), not on the joint."""
    target = editor(page, "target")
    shown = target.locator(".pe-count")
    count = int(shown.text_content())
    spot = on_screen(target, LEFT_WRIST)
    page.mouse.dblclick(*spot)
    assert position(target, LEFT_WRIST) is None
    expect(shown).to_have_text(str(count - 1))
    page.mouse.dblclick(*spot)  # the ghost ring where it was: shows it again
    assert position(target, LEFT_WRIST) is not None
    expect(shown).to_have_text(str(count))


def test_messages_do_not_cover_the_result_and_go_with_the_next_photo(page, tmp_path):
    """Before: pop-ups covered the top of the Result column for ~10 s and stayed, now wrong, after the next upload."""
    upload(page, CROWD_PHOTO)
    expect(page.locator("#status")).to_contain_text("2 people found")  # said in the status line
    page.locator("#photo input[type=file]").set_input_files(not_an_image(tmp_path))
    expect(page.locator(".toast-body.error")).to_contain_text("not an image")
    toasts = page.locator(".toast-body")
    result_column = page.locator(".pg-result-column").bounding_box()
    for box in toasts.evaluate_all("items => items.map(item => item.getBoundingClientRect().toJSON())"):
        assert not overlaps(box, result_column), (box, result_column)
    page.locator("#photo input[type=file]").set_input_files(MARKET_PHOTO)
    expect(toasts).to_have_count(0, timeout=5_000)  # gone with the new photo, not 10 s later
    expect(page.locator("#status")).to_contain_text("Person found")


def test_bad_upload_leaves_no_error_labels_over_the_editors(page, tmp_path):
    """Before: red "Error" labels covered both editors' toolbars, the status line and the overview."""
    page.locator("#photo input[type=file]").set_input_files(not_an_image(tmp_path))
    expect(page.locator(".toast-body.error")).to_contain_text("not an image")
    for place in ["#source-editor", "#target-editor", "#status", "#overview"]:
        expect(page.locator(f"{place} [data-testid='status-tracker'] .error")).to_be_hidden()
    # Nothing lies over the toolbar: a trial click fails when another element would receive it.
    editor(page, "target").locator("button[data-action='mirror']").click(trial=True, timeout=2_000)


def test_default_target_shows_every_joint_and_hidden_ones_can_be_dragged_back(page):
    """Before: the default target hid 4 joints including the right arm, and only the "Joints shown" list brought
    them back. Now every joint is shown, and a hidden joint is a ring that can be dragged into place."""
    target = editor(page, "target")
    expect(target.locator(".pe-count")).to_have_text("18")
    target.locator(".pe-thumb[title='Walking left (side)']").click()
    assert position(target, RIGHT_WRIST) is None
    dot = joint(target, RIGHT_WRIST).locator(".pe-dot")
    ring = float(dot.get_attribute("cx")), float(dot.get_attribute("cy"))
    start = on_screen(target, RIGHT_WRIST)
    drag(page, start, (start[0] + 20, start[1] - 120))  # 4 screen px per frame px: (+5, -30) in the frame
    x, y = position(target, RIGHT_WRIST)
    assert abs(x - (ring[0] + 5)) <= 1 and abs(y - (ring[1] - 30)) <= 1, (ring, (x, y))


def test_reference_person_fits_its_box_and_no_label_covers_the_result(page):
    """Before: the reference person was cut off (a 512 px image in a 200 px box), and the "Generated" label covered
    the generated head."""
    upload(page, MARKET_PHOTO)
    # What is drawn over the head (the middle of the image's top fifth): leaves and elements with text of their
    # own. The label ignores the pointer, so elementFromPoint would not see it: compare boxes.
    covering = page.locator("#result img").evaluate("""image => {
      const box = image.getBoundingClientRect();
      const head = {x: box.x + 0.3 * box.width, y: box.y, width: 0.4 * box.width, height: 0.2 * box.height};
      return Array.from(image.closest('#result').querySelectorAll('*'))
        .filter((other) => !other.contains(image) && other.checkVisibility({opacityProperty: true})
                           && (!other.childElementCount
                               || [...other.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())))
        .filter((other) => { const b = other.getBoundingClientRect();
          return b.width > 0 && b.x < head.x + head.width && head.x < b.x + b.width
                 && b.y < head.y + head.height && head.y < b.y + b.height; })
        .map((other) => other.textContent.trim() || other.tagName);
    }""")
    assert not covering, f"drawn over the generated person's head: {covering}"
    page.get_by_role("tab", name="Pose JSON & reference photo").click()
    page.locator("#reference input[type=file]").set_input_files(MARKET_PHOTO)
    image = page.locator("#reference-crop img")
    expect(image).to_be_visible()
    image.evaluate("image => image.decode()")
    inner = image.evaluate("image => { const b = image.getBoundingClientRect(), f = image.closest('.image-frame')"
                           ".getBoundingClientRect(); return {image: b.toJSON(), frame: f.toJSON(),"
                           " natural: [image.naturalWidth, image.naturalHeight]} }")
    box, frame, (width, height) = inner["image"], inner["frame"], inner["natural"]
    assert min(box["height"], box["width"] * height / width) >= 250, inner  # drawn at least 125x250 (object-fit)
    assert frame["x"] - 1 <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1, inner
    assert frame["y"] - 1 <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1, inner


# ----------------------------------------------------------------------------------------------- pose plausibility

def test_plausibility_meter_reacts_to_a_raised_arm_and_snap_brings_a_training_pose(page):
    """Before: nothing said that a pose was outside what the model had seen (a wrist above the head is ignored)."""
    target, meter = editor(page, "target"), page.locator("#plausibility .pg-plausibility")
    canvas = target.locator(".pe-canvas")
    expect(meter).to_have_attribute("data-level", "typical")
    typical = float(meter.get_attribute("data-score"))
    neck_x, neck_y = position(target, NECK)
    for j, spot in ((RIGHT_ELBOW, (neck_x - 12, neck_y - 12)), (RIGHT_WRIST, (neck_x - 14, 2))):
        drag(page, on_screen(target, j), frame_to_screen(canvas, *spot))  # the right arm straight up
    expect(meter).to_have_attribute("data-level", "unseen")
    assert float(meter.get_attribute("data-score")) < min(0.5, typical - 0.3)
    expect(page.locator("#plausibility .pg-far")).to_contain_text("right wrist")
    page.locator("#snap").click()
    expect(meter).to_have_attribute("data-level", "typical")
    wrist = position(target, RIGHT_WRIST)
    assert wrist is None or wrist[1] > 10, wrist  # no longer above the head


# ----------------------------------------------------------------------------------------------- editing

def test_keyboard_shortcuts_undo_redo_nudge_and_hide(page):
    target = editor(page, "target")
    start = position(target, LEFT_WRIST)
    joint(target, LEFT_WRIST).locator(".pe-dot").click()  # selects it (and focuses the editor)
    for _ in range(3):
        page.keyboard.press("ArrowUp")
    page.keyboard.press("Shift+ArrowRight")
    assert position(target, LEFT_WRIST) == (start[0] + 5, start[1] - 3)
    page.keyboard.press("Control+z")
    assert position(target, LEFT_WRIST) == (start[0], start[1] - 3)
    page.keyboard.press("Control+Shift+z")
    assert position(target, LEFT_WRIST) == (start[0] + 5, start[1] - 3)
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+y")
    assert position(target, LEFT_WRIST) == (start[0] + 5, start[1] - 3)
    page.keyboard.press("h")
    assert position(target, LEFT_WRIST) is None
    page.keyboard.press("Control+z")
    assert position(target, LEFT_WRIST) == (start[0] + 5, start[1] - 3)
    page.keyboard.press("Delete")
    assert position(target, LEFT_WRIST) is None
    # Undo after a toolbar click works too: the keys belong to the whole editor.
    target.locator("button[data-action='mirror']").click()
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    assert position(target, LEFT_WRIST) == (start[0] + 5, start[1] - 3)


def test_shift_drag_on_a_limb_turns_it_about_its_parent_keeping_limb_lengths(page):
    target = editor(page, "target")
    before = {j: position(target, j) for j in range(18)}
    shoulder, elbow, wrist = before[RIGHT_SHOULDER], before[RIGHT_ELBOW], before[RIGHT_WRIST]
    length = lambda a, b: ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5  # noqa: E731
    # Grab the upper arm halfway along and drag it round the shoulder until it points across the chest (+x: the
    # arm hangs at the frame's left edge, outward it would leave the frame).
    canvas = target.locator(".pe-canvas")
    middle = frame_to_screen(canvas, (shoulder[0] + elbow[0]) / 2, (shoulder[1] + elbow[1]) / 2)
    drag(page, middle, frame_to_screen(canvas, shoulder[0] + 12, shoulder[1]), modifier="Shift")
    after = {j: position(target, j) for j in range(18)}
    assert after[RIGHT_SHOULDER] == shoulder
    assert abs(after[RIGHT_ELBOW][1] - shoulder[1]) < 1 < after[RIGHT_ELBOW][0] - shoulder[0], after[RIGHT_ELBOW]
    assert length(after[RIGHT_ELBOW], shoulder) == pytest.approx(length(elbow, shoulder), abs=0.02)
    assert length(after[RIGHT_WRIST], after[RIGHT_ELBOW]) == pytest.approx(length(wrist, elbow), abs=0.02)
    assert {j: p for j, p in after.items() if j not in (RIGHT_ELBOW, RIGHT_WRIST)} == \
        {j: p for j, p in before.items() if j not in (RIGHT_ELBOW, RIGHT_WRIST)}
    expect(target.locator(".pe-status")).to_contain_text("about the right shoulder")
    target.locator("button[data-action='undo']").click()  # one gesture, one undo step
    assert position(target, RIGHT_ELBOW) == elbow and position(target, RIGHT_WRIST) == wrist


# ----------------------------------------------------------------------------------------------- the result

def test_result_is_enlarged_with_a_note_and_downloads_at_1x_and_4x(page, app_url):
    upload(page, MARKET_PHOTO)
    image = page.locator("#result img")
    box = image.bounding_box()
    assert box["height"] >= 500, box
    expect(page.locator("#result-note")).to_contain_text("Model output 64×128")
    model_output = result_pixels(page, app_url)
    for scale in (1, 4):
        with page.expect_download() as download:
            page.locator(f"#download-{scale}x").click()
        assert download.value.suggested_filename == f"posegan-result-{64 * scale}x{128 * scale}.png"
        saved = np.asarray(Image.open(download.value.path()).convert("RGB"))
        assert np.array_equal(saved, model_output.repeat(scale, axis=0).repeat(scale, axis=1))


def test_keep_background_puts_the_person_back_into_the_photo_and_can_be_turned_off(page, app_url):
    """On by default: the generator's frame pasted over the crop with its own person removed (posegan.background);
    off: the generator's frame as it is."""
    upload(page, MARKET_PHOTO)
    kept = result_pixels(page, app_url)
    checkbox = page.locator("#keep-background input")
    expect(checkbox).to_be_checked()
    checkbox.uncheck()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while np.array_equal(generated := result_pixels(page, app_url), kept):
        assert time.monotonic() < deadline, "turning the background off changed nothing"
        page.wait_for_timeout(200)
    crop = np.asarray(Image.open(MARKET_PHOTO).convert("RGB"))  # a Market crop is used as it is
    expected = keep_background(generated, crop, pose(editor(page, "source")), pose(editor(page, "target")))
    assert np.array_equal(kept, expected)
    assert np.array_equal(kept[:6, :6], crop[:6, :6]) and not np.array_equal(generated[:6, :6], crop[:6, :6])
    checkbox.check()
    wait_for_result_pixels(page, app_url, kept)


# ----------------------------------------------------------------------------------------------- inspector

def test_inspector_points_match_the_affines_and_the_carried_rgb_is_the_skips(page):
    """Hovering over the result marks, for each part covering the pixel, where its affine reads it in the source:
    the same points as posegan.geometry computes from the two poses; the per-part images are posegan's skip_rgb."""
    upload(page, MARKET_PHOTO)
    page.get_by_role("tab", name="Correspondence inspector").click()
    expect(page.locator("#inspector .pg-inspector[data-ready='1']")).to_have_count(1)
    affines, masks = skip_inputs(pose(editor(page, "source")), pose(editor(page, "target")))
    overlay = page.locator("#inspector .pg-inspect-target .pg-overlay")
    markers = page.locator("#inspector .pg-inspect-source .pg-read")
    arm = pose(editor(page, "target"))[[RIGHT_SHOULDER, RIGHT_ELBOW]].mean(axis=0).round()
    for x, y in [(32, 60), (5, 5), tuple(arm)]:
        page.mouse.move(*frame_to_screen(overlay, x, y))
        points, covered = source_points(affines, masks, x, y)
        expect(markers).to_have_count(int(covered.sum()))
        shown = {int(m["part"]): (float(m["x"]), float(m["y"]))
                 for m in markers.evaluate_all("circles => circles.map((circle) => ({...circle.dataset}))")}
        assert sorted(shown) == np.flatnonzero(covered).tolist(), (x, y)
        for part, point in shown.items():
            np.testing.assert_allclose(point, points[part], atol=0.01, err_msg=f"part {part} at ({x}, {y})")
    assert covered.sum() >= 2  # on the arm: the torso and the upper arm at least
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#inspector").screenshot(path=ARTIFACTS / "inspector.png")  # docs/screenshot-inspector.png

    crop = data_uri_image(editor(page, "source").locator(".pe-photo").get_attribute("href"))
    mode = checkpoint_config(load_checkpoint(DEFAULT_GENERATOR)).model.warp_mode
    parts, combined = skip_rgb(crop, affines, masks, mode)
    shown = [data_uri_image(src) for src in page.locator("#inspector .pg-carried img").evaluate_all(
        "images => images.map((image) => image.getAttribute('src'))")]
    valid = [k for k in range(len(masks)) if masks[k].any()]
    assert len(shown) == len(valid) + 1
    for image, expected in zip(shown, [parts[k] for k in valid] + [combined]):
        assert np.abs(image.astype(int) - expected).max() <= 1


# ----------------------------------------------------------------------------------------------- checkpoints

def test_checkpoint_picker_card_and_side_by_side(page, app_url):
    """The picked checkpoint's numbers, loss curves and sample grids; the result follows the picker; two
    checkpoints side by side on the same input."""
    upload(page, MARKET_PHOTO)
    first_result = result_pixels(page, app_url)
    page.get_by_role("tab", name="Checkpoints").click()
    card = page.locator("#model-card")
    expect(card).to_contain_text("posegan-market-small-imageskip.pt: exported generator")
    expect(card).to_contain_text("step 46,040")
    expect(card).to_contain_text("averaged over steps 19,302, 22,622, 27,679, 29,045, 30,743, "
                                 "34,000 to 46,000 every 1,000 (13 steps), 46,040")
    expect(card).to_contain_text("SSIM 0.313 · mask-SSIM 0.804")
    expect(page.locator("#loss-curve img")).to_be_visible()
    expect(page.locator("#sample-grids .thumbnail-item")).to_have_count(8)  # steps 3,437 ... 33,858 and 46,040

    page.locator("#compare-with input").fill("posegan-market-small-noskip.pt")
    page.keyboard.press("Enter")
    page.locator("#compare-button").click()
    figures = page.locator("#comparison figure")
    expect(figures).to_have_count(2)
    assert figures.evaluate_all("fs => fs.map((f) => f.dataset.checkpoint)") == [
        "posegan-market-small-imageskip.pt", "posegan-market-small-noskip.pt"]
    shown = [data_uri_image(figure.locator("img").get_attribute("src")) for figure in figures.all()]
    assert np.array_equal(shown[0], first_result) and not np.array_equal(shown[1], first_result)
    expect(figures.nth(1)).to_contain_text("SSIM 0.211")

    # Picking the ablation as the generator regenerates the result with it and shows its card.
    page.locator("#generator input").fill("posegan-market-small-noskip.pt")
    page.keyboard.press("Enter")
    expect(card).to_contain_text("step 11,132")
    expect(card).to_contain_text("plain skips")
    wait_for_result_pixels(page, app_url, shown[1])
