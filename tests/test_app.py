"""The Gradio app end to end through gradio_client: /detect and /transfer, bad inputs, the app surviving them.

The app is launched once for the module, in-process on a free port, with the shipped generator
(``checkpoints/posegan-market-small-imageskip.pt``; export it first, see
``python -m posegan export --help``).
Run: ``python -m pytest tests/test_app.py -q``
"""
import io
import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("YOLO_OFFLINE", "1")

import cv2  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

from demo.panels import skips_panel  # noqa: E402
from posegan.keypoints import interpolate_poses  # noqa: E402
from demo.studio import DEFAULT_CHECKPOINT, Studio, load_presets, parse_pose  # noqa: E402
from demo.ui import CONCURRENCY, build_demo, pose_json  # noqa: E402
from posegan.background import PLATE_GROW, SEARCH_GROW, keep_background, person_alpha  # noqa: E402
from posegan.metrics.ssim import pose_mask  # noqa: E402
from posegan.inference import PoseTransfer  # noqa: E402
from posegan.keypoints import is_present, pose_from_openpose_json, pose_to_openpose_json  # noqa: E402
from posegan.networks import Generator  # noqa: E402
from test_checkpoint import damaged_checkpoint  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "demo" / "examples"
MARKET_PHOTO = EXAMPLES / "market-0161_c3s3_033028_07.jpg"
CROWD_PHOTO = EXAMPLES / "zidane.jpg"  # two people and a third partly visible
PRESETS = load_presets()


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def target_json(name: str = "Walking left (side)") -> str:
    return json.dumps(pose_to_openpose_json(PRESETS[name]))


def read_image(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def upload(http: httpx.Client, path) -> dict:
    """Upload a file as the page does; returns the file reference that events take."""
    response = http.post("gradio_api/upload", files={"files": (Path(path).name, Path(path).read_bytes())})
    response.raise_for_status()
    return {"path": response.json()[0], "meta": {"_type": "gradio.FileData"}}


def call(http: httpx.Client, name: str, data: list) -> tuple[str, list | str | None]:
    """Run a public endpoint over raw HTTP (/gradio_api/call/<name>): ("complete" | "error", its data)."""
    response = http.post(f"gradio_api/call/{name}", json={"data": data})
    response.raise_for_status()
    stream = http.get(f"gradio_api/call/{name}/{response.json()['event_id']}").text
    event = stream.split("event: ")[-1].split("\n")[0]
    return event, json.loads(stream.split("data: ")[-1])


def run_like_the_page(http: httpx.Client, name: str, data: list) -> dict:
    """Run a private event as the page does (join the queue by index, read the session's messages): the last message."""
    config = http.get("config").json()
    fn_index = next(dep["id"] for dep in config["dependencies"] if dep["api_name"] == name)
    session = uuid.uuid4().hex
    http.post("gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                             "event_data": None, "trigger_id": None}).raise_for_status()
    with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[len("data:"):]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                return message
    raise AssertionError(f"{name} never completed")


# ----------------------------------------------------------------------------------------------- API

def test_only_detect_and_transfer_are_public(client):
    assert set(client.view_api(return_format="dict")["named_endpoints"]) == {"/detect", "/transfer"}


def test_detect_crops_the_person_and_returns_openpose_json(client):
    crop_path, pose_text, people = client.predict(handle_file(MARKET_PHOTO), api_name="/detect")
    crop = read_image(crop_path)
    pose = pose_from_openpose_json(pose_text)
    assert crop.shape == (128, 64, 3)
    assert np.array_equal(crop, read_image(MARKET_PHOTO))  # a Market crop is used as it is
    assert is_present(pose).sum() >= 12
    assert people == 1


def test_detect_picks_one_person_among_several_and_says_how_many(client):
    crop_path, pose_text, people = client.predict(handle_file(CROWD_PHOTO), api_name="/detect")
    assert read_image(crop_path).shape == (128, 64, 3)
    assert len(json.loads(pose_text)["people"]) == 1
    assert people == 2  # the two players (tests/test_pose_detect.py: test_zidane_two_people_largest_first)


def test_transfer_generates_the_target_pose(client):
    walking = read_image(client.predict(handle_file(MARKET_PHOTO), target_json(), api_name="/transfer"))
    arms_out = read_image(client.predict(handle_file(MARKET_PHOTO), target_json("Arms out"), api_name="/transfer"))
    assert walking.shape == arms_out.shape == (128, 64, 3)
    assert walking.std() > 5                                 # an image, not a flat colour
    assert np.abs(walking.astype(int) - arms_out).mean() > 1  # the pose matters


SOURCE_REACH = SEARCH_GROW + PLATE_GROW + 1  # px from a pose's body mask within which the plate may be inpainted


def test_transfer_keeps_the_photos_background_when_asked(client):
    _, source_text, _ = client.predict(handle_file(MARKET_PHOTO), api_name="/detect")
    whole_frame = read_image(client.predict(handle_file(MARKET_PHOTO), target_json(), api_name="/transfer"))
    explicit_off = read_image(client.predict(handle_file(MARKET_PHOTO), target_json(), False, api_name="/transfer"))
    pasted = read_image(client.predict(handle_file(MARKET_PHOTO), target_json(), True, api_name="/transfer"))
    assert np.array_equal(whole_frame, explicit_off)  # off unless asked: two-argument callers get what they got
    # posegan.background's paste of the whole frame: the generated person where it is, the photo far from both people
    # (GrabCut's source person moves with a 0.1 px change of the pose, which JSON rounds to: only its reach is known)
    alpha = person_alpha(whole_frame, PRESETS["Walking left (side)"])
    source_reach = pose_mask(pose_from_openpose_json(source_text), 128, 64).astype(np.uint8)
    source_reach = cv2.dilate(source_reach, np.ones((2 * SOURCE_REACH + 1,) * 2, np.uint8)) > 0
    photo_kept = (alpha == 0) & ~source_reach
    assert np.array_equal(pasted[alpha == 1], whole_frame[alpha == 1]) and (alpha == 1).mean() > 0.1
    assert np.array_equal(pasted[photo_kept], read_image(MARKET_PHOTO)[photo_kept]) and photo_kept.mean() > 0.04
    assert np.abs(pasted.astype(int) - whole_frame)[photo_kept].mean() > 10  # the photo, not the generator's street


def pose_text_with(keypoint: int | None = None, raw: str = "", **fields) -> str:
    """Valid pose JSON with keypoint value ``keypoint`` replaced by the JSON text ``raw``, or top-level fields set."""
    data = pose_to_openpose_json(PRESETS["Arms out"]) | fields
    if keypoint is not None:
        data["people"][0]["pose_keypoints_2d"][keypoint] = "RAW"
    return json.dumps(data).replace('"RAW"', raw)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('{"people": []}', "empty"),
    ('{"people": [{"pose_keypoints_2d": [1, 2, 1]}]}', "54 numbers"),
    ("", "empty"),
    (pose_text_with(0, "9" * 400), r'item 0 is out of range'),                       # was OverflowError
    ("[" * 40_000 + "]" * 40_000, "nested too deeply"),                             # was RecursionError
    ("[" * 100_000 + "]" * 100_000, "longer than 100,000 characters"),
    (pose_text_with(3, '"12.5"'), "item 3 must be a number, got a string"),          # was converted silently
    (pose_text_with(2, "true"), "item 2 must be a number, got a boolean"),           # was 1.0
    (pose_text_with(canvas_width=True), '"canvas_width" must be a number, got a boolean'),  # was a 1 px canvas
])
def test_malformed_pose_json_is_a_clear_error(client, text, message):
    with pytest.raises(AppError, match=f"Invalid pose: .*{message}"):
        client.predict(handle_file(MARKET_PHOTO), text, api_name="/transfer")


def test_photo_without_a_person_is_a_clear_error(client, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 400), "white").save(blank)
    with pytest.raises(AppError, match="no person"):
        client.predict(handle_file(blank), api_name="/detect")
    with pytest.raises(AppError, match="no person"):
        client.predict(handle_file(blank), target_json(), api_name="/transfer")


def test_file_that_is_not_an_image_is_a_clear_error(client, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("this is text, not a picture")
    with pytest.raises(AppError, match="not an image"):
        client.predict(handle_file(fake), api_name="/detect")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(MARKET_PHOTO.read_bytes()[:600])
    with pytest.raises(AppError, match="truncated or corrupt"):
        client.predict(handle_file(truncated), api_name="/detect")


def test_uploads_above_the_size_limit_are_refused(app_url):
    too_big = os.urandom(11 * 2 ** 20)  # the limit is 10 MB
    with httpx.Client(base_url=app_url, timeout=60) as http:
        response = http.post("gradio_api/upload", files={"files": ("big.jpg", too_big, "image/jpeg")})
    assert response.status_code == 413, response.text


def test_server_paths_cannot_be_read(app_url):
    """A file reference that was not uploaded (here the server's /etc/hostname) is refused, not opened."""
    photo = {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}
    with httpx.Client(base_url=app_url, timeout=30) as http:
        event = http.post("gradio_api/call/detect", json={"data": [photo]}).json()["event_id"]
        stream = http.get(f"gradio_api/call/detect/{event}").text
    assert "event: error" in stream and "event: complete" not in stream


def test_app_still_answers_after_errors(client):
    with pytest.raises(AppError):
        client.predict(handle_file(MARKET_PHOTO), "[1, 2", api_name="/transfer")
    crop_path, _, _ = client.predict(handle_file(MARKET_PHOTO), api_name="/detect")
    assert read_image(crop_path).shape == (128, 64, 3)


@pytest.mark.parametrize("route", ["run/transfer", "api/detect", "run/on_photo", "call/on_photo",
                                   "call/v2/on_photo", "call/parse_pose", "call/generate"])
def test_events_cannot_be_run_by_name_outside_the_queue_or_when_private(app_url, route):
    """/run/ would skip the queue and its limits; private events answered /call/<name> although gradio_client
    cannot name them."""
    with httpx.Client(base_url=app_url, timeout=30) as http:
        response = http.post(f"gradio_api/{route}", json={"data": [None]})
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("name", ["on_photo", "generate", "transfer"])
def test_run_predict_runs_no_queued_event(app_url, name):
    """/run/predict is open for gr.Examples (it loads a clicked example outside the queue); Gradio refuses every
    queued event there, and all of the app's events are queued."""
    with httpx.Client(base_url=app_url, timeout=30) as http:
        config = http.get("config").json()
        fn_index = next(dep["id"] for dep in config["dependencies"] if dep["api_name"] == name)
        response = http.post("gradio_api/run/predict", json={"data": [None] * 5, "fn_index": fn_index})
    assert response.status_code == 404 and "join the queue" in response.text, response.text


def test_raw_http_requests_run_at_most_two_at_a_time(app_url, monkeypatch):
    """Six /call/transfer and six /run/transfer requests at once: the /run/ ones are refused and no more than
    CONCURRENCY generations ever run together (before: /run/ ran 16 at once)."""
    running, peak, lock = 0, 0, threading.Lock()

    def slow_transfer(self, photo, target_pose, keep_background=False):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.5)
        with lock:
            running -= 1
        return Image.new("RGB", (64, 128))
    monkeypatch.setattr(Studio, "transfer_photo", slow_transfer)  # the app's handler calls it on its Studio
    with httpx.Client(base_url=app_url, timeout=120) as http, ThreadPoolExecutor(12) as pool:
        photo = upload(http, MARKET_PHOTO)
        data = {"data": [photo, target_json(), False]}  # raw HTTP sends every input (gradio_client fills defaults)
        runs = [pool.submit(http.post, "gradio_api/run/transfer", json=data) for _ in range(6)]
        calls = [pool.submit(call, http, "transfer", data["data"]) for _ in range(6)]
        assert [job.result().status_code for job in runs] == [404] * 6
        assert [job.result()[0] for job in calls] == ["complete"] * 6
    assert peak == CONCURRENCY


def test_identical_requests_get_their_own_result_files(app_url):
    """The same request twice at once: two files with the same complete content (before: one file, rewritten in
    place while the other response was sending it)."""
    with httpx.Client(base_url=app_url, timeout=120) as http, ThreadPoolExecutor(2) as pool:
        data = [upload(http, MARKET_PHOTO), target_json(), False]
        results = list(pool.map(lambda _: call(http, "transfer", data), range(2)))
        urls = [output[0]["url"] for event, output in results]
        downloads = [http.get(url).content for url in urls]
    assert urls[0] != urls[1]
    assert downloads[0] == downloads[1] and Image.open(io.BytesIO(downloads[0])).size == (64, 128)


@pytest.mark.parametrize("size", [(50, 1), (1, 50), (7, 20)])
def test_tiny_photo_is_a_clear_error_in_the_page_and_the_api(app_url, client, tmp_path, size):
    """Before: a photo 1 px tall gave a bare "Error" in the page (the no-person fallback could not crop it)."""
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", size, "white").save(tiny)
    with httpx.Client(base_url=app_url, timeout=60) as http:
        message = run_like_the_page(http, "on_photo", [upload(http, tiny)])
    assert not message["success"] and "too small to show a person" in message["output"]["error"]
    with pytest.raises(AppError, match="too small to show a person"):
        client.predict(handle_file(tiny), api_name="/detect")


@pytest.mark.parametrize("damage, reason", [
    ("empty", "the file is empty"),
    ("truncated", "truncated or not a PyTorch checkpoint"),
    ("bit-flipped", "do not match the sha256"),
])
def test_unusable_checkpoint_leaves_the_app_running_with_a_banner(tmp_path, damage, reason):
    """Before: an empty or truncated --checkpoint crashed the app at start, a bit-flipped one served black images."""
    path = damaged_checkpoint(DEFAULT_CHECKPOINT, tmp_path, damage)
    studio = Studio(path)
    assert studio.model is None and reason in studio.model_problem
    banner = [block for block in build_demo(studio).blocks.values() if "pg-banner" in (block.elem_classes or [])]
    assert len(banner) == 1 and f"cannot be used: {path}" in banner[0].value


# ----------------------------------------------------------------------------------------------- helpers

def test_the_model_card_writes_a_runs_evenly_spaced_snapshots_as_a_range():
    from demo.panels import step_list
    assert step_list([19_302, 22_622, 27_679, 29_045, 30_743]) == "19,302, 22,622, 27,679, 29,045, 30,743"
    assert (step_list([19_302, 30_743, 34_000, 35_000, 36_000, 37_000, 40_000])
            == "19,302, 30,743, 34,000 to 37,000 every 1,000 (4 steps), 40,000")
    assert step_list([1, 2, 3]) == "1 to 3 every 1 (3 steps)" and step_list([5]) == "5" and step_list([1, 2]) == "1, 2"


def test_pose_json_round_trips_with_posegan_keypoints():
    for pose in PRESETS.values():
        text = pose_json(pose)
        assert np.allclose(pose_from_openpose_json(text), pose, atol=0.05)
        assert np.allclose(parse_pose(json.loads(text)), pose, atol=0.05)


def test_interpolation_keeps_joints_missing_at_one_end_still():
    source, target = PRESETS["Walking left (side)"], PRESETS["Standing, front"]  # source lacks the right arm
    poses = interpolate_poses(source, target, 5)
    assert np.allclose(poses[0], source) and np.allclose(poses[-1], target)
    assert np.allclose(poses[2][1], (source[1] + target[1]) / 2)  # the neck moves in a straight line
    right_wrist = 4
    assert [bool(is_present(p)[right_wrist]) for p in poses] == [False, False, True, True, True]
    assert all(np.allclose(p[right_wrist], target[right_wrist]) for p in poses[2:])


def test_skips_panel_shows_learned_offsets_when_the_model_has_them(tiny_cfg):
    tiny_cfg.model.learned_offsets = True
    model = PoseTransfer(Generator(tiny_cfg.model), tiny_cfg)
    crop = read_image(MARKET_PHOTO)
    html = skips_panel(model(crop, PRESETS["Arms out"], PRESETS["Standing, front"]), crop)
    assert "learned offsets" in html
    assert html.count("<tr>") == 1 + tiny_cfg.model.warp_levels  # header + one row per warped level


def test_skips_panel_shows_who_paints_each_pixel_when_the_model_has_an_image_skip(tiny_cfg):
    crop = read_image(MARKET_PHOTO)
    plain = skips_panel(PoseTransfer(Generator(tiny_cfg.model), tiny_cfg)(crop, PRESETS["Arms out"]), crop)
    tiny_cfg.model.image_skip = True
    result = PoseTransfer(Generator(tiny_cfg.model), tiny_cfg)(crop, PRESETS["Arms out"])
    assert result.image_attention.shape == (11, 128, 64)
    copied = round(100 * (1 - float(result.image_attention[-1].mean())))
    html = skips_panel(result, crop)
    assert "image skip: who paints each pixel" in html and f"({copied}% copied from the source" in html
    assert "drawn by the generator" in html and "image skip" not in plain


def test_user_errors_log_one_line_without_a_traceback(app_url, capfd, caplog):
    """Before: every refused input (here a file that is not an image) printed a full traceback in the console."""
    with httpx.Client(base_url=app_url, timeout=60) as http:
        message = run_like_the_page(http, "on_photo", [upload(http, EXAMPLES / "ATTRIBUTION.md")])
    assert not message["success"] and "not an image" in message["output"]["error"]
    console = capfd.readouterr()
    assert "Traceback" not in console.out + console.err, console
    assert [(record.levelname, record.getMessage()) for record in caplog.records if record.name == "posegan.app"] == [
        ("WARNING", "on_photo refused the input: This file cannot be used as a photo: not an image file: uploaded "
                    "image (the format is not recognised).")]


def test_animation_goes_there_and_back_and_keeps_the_background_when_asked():
    """Studio.animate: one frame per pose and back again (skeleton | person, ×2), and with keep_background each
    person pasted over the crop as posegan.background does (to the GIF palette's rounding)."""
    studio = Studio(compile=False)
    source = studio.detect(MARKET_PHOTO.read_bytes())
    target = PRESETS["Walking left (side)"]
    steps, scale = 4, 2
    poses = interpolate_poses(source.pose, target, steps)
    model = studio.generator()
    generated = [np.asarray(model(source.crop, pose, source.pose).generated) for pose in poses]
    for keep in (False, True):
        gif = Image.open(io.BytesIO(studio.animate(source.crop, source.pose, target, steps, scale=scale,
                                                   keep_background=keep)))
        assert gif.n_frames == 2 * steps - 2  # there and back, the ends once
        for i, expected in enumerate(generated):
            if keep:
                expected = keep_background(expected, source.crop, source.pose, poses[i])
            gif.seek(i)
            frame = np.asarray(gif.convert("RGB"))[::scale, ::scale]  # nearest-neighbour enlargement undone
            person = frame[:, frame.shape[1] // 2:].astype(int)
            assert np.abs(person - expected).mean() < 4, (keep, i)  # a 256-colour palette, nothing more
