"""The app in a real browser: upload a photo, drag a joint of the target skeleton, Generate, see the change.

Headless system Chromium driven by Playwright (the ``browser`` fixture of conftest.py; without
``/usr/bin/chromium`` the browser tests skip with the install command, and CI fails on any skip: ``.ci/run``).
Screenshots go to test-artifacts/ (git-ignored); docs/screenshot-editor.png and docs/screenshot-features.png are
copies of its editor.png and features.png. Run: ``python -m pytest tests/test_browser.py -q``
"""
import os
import time
from pathlib import Path
from urllib.parse import urljoin

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("YOLO_OFFLINE", "1")

import httpx  # noqa: E402
import pytest  # noqa: E402

expect = pytest.importorskip("playwright.sync_api", reason="needs `pip install playwright` (requirements.txt)").expect

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "demo" / "examples" / "market-0161_c3s3_033028_07.jpg"
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 30_000
LEFT_WRIST = 7  # present in the default target pose ("Walking, front")


@pytest.fixture(scope="module")
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_url)
    yield page
    context.close()


def result_src(page) -> str:
    return page.locator("#result img").get_attribute("src")


def image_bytes(app_url: str, src: str) -> bytes:
    return httpx.get(urljoin(app_url, src), timeout=30).content


def wait_for_result(page, app_url: str, content: bytes) -> None:
    """Wait until the result image has these bytes (every result has a file and URL of its own: compare content)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while image_bytes(app_url, result_src(page)) != content:
        assert time.monotonic() < deadline, "the expected result never came back"
        page.wait_for_timeout(200)


def panel_srcs(page) -> list[str]:
    """The skips panel's images: per level source features, warped features, masks; then part boxes."""
    return page.locator("#skips img").evaluate_all("images => images.map(image => image.getAttribute('src'))")


def test_upload_drag_generate(page, app_url):
    ARTIFACTS.mkdir(exist_ok=True)
    target = page.locator("#target-editor [data-ready='1']")
    expect(target).to_have_count(1)  # the editor's listeners are attached

    # Upload: detection fills the source editor with the crop, live mode generates the first result.
    page.locator("#photo input[type=file]").set_input_files(PHOTO)
    page.wait_for_function(
        "document.querySelector('#source-editor .pe-photo')?.getAttribute('href')?.startsWith('data:image/png')")
    page.wait_for_selector("#result img")
    page.wait_for_selector("#skips img")
    first_image, first_panels = result_src(page), panel_srcs(page)
    page.screenshot(path=ARTIFACTS / "1-uploaded.png", full_page=True)

    # Live regeneration off, so that the new result below can only come from the Generate button.
    page.get_by_label("Regenerate when a pose changes").uncheck()

    dot = target.locator(f".pe-joint[data-joint='{LEFT_WRIST}'] .pe-dot")
    before = float(dot.get_attribute("cx")), float(dot.get_attribute("cy"))
    box = dot.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 60, y - 80, steps=8)  # 4 screen px per frame px: about (-15, -20) in the frame
    page.mouse.up()
    page.mouse.move(0, 0)  # no hover styles in the screenshots
    after = float(dot.get_attribute("cx")), float(dot.get_attribute("cy"))
    assert after[0] < before[0] - 10 and after[1] < before[1] - 15, (before, after)
    page.screenshot(path=ARTIFACTS / "2-dragged.png", full_page=True)
    assert result_src(page) == first_image  # live mode is off: nothing regenerated yet

    page.locator("#generate").click()
    page.mouse.move(0, 0)
    page.wait_for_function("(old) => document.querySelector('#result img')?.getAttribute('src') !== old",
                           arg=first_image)
    assert result_src(page) != first_image
    # The panels follow the result in an event of their own: wait for the warped features to change.
    page.wait_for_function("(old) => document.querySelectorAll('#skips img')[1]?.getAttribute('src') !== old",
                           arg=first_panels[1])
    new_panels = panel_srcs(page)
    assert len(new_panels) == len(first_panels)
    # Source features do not depend on the target pose; the warped features and the masks do.
    changed = [old != new for old, new in zip(first_panels, new_panels)]
    assert not changed[0] and changed[1] and changed[2], changed
    page.screenshot(path=ARTIFACTS / "editor.png")

    # Live mode again, then Undo: the editor sends the previous pose and the first result comes back.
    page.get_by_label("Regenerate when a pose changes").check()
    target.locator("button[data-action='undo']").click()
    wait_for_result(page, app_url, image_bytes(app_url, first_image))
    assert float(dot.get_attribute("cx")) == before[0]

    # The comparison with plain skips (live: no click needed) adds the two generated images to the panel.
    page.get_by_label("Compare with the same generator using plain (un-warped) skips").check()
    expect(page.locator("#skips img[alt='plain skips']")).to_have_count(1)
    page.screenshot(path=ARTIFACTS / "3-generated.png", full_page=True)
    page.locator("#skips").screenshot(path=ARTIFACTS / "features.png")
