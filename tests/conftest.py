"""Shared fixtures: a tiny model config (diffusers-style dummy widths), the Market fixture folder
(``tests/fixtures/market-mini``: 8 test images, also the ``samples`` split, and 6 training images), the app served
once per session with one headless Chromium for the browser tests; and ``--no-skips``, which fails a run where any
test skipped (CI, ``.ci/run``)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from posegan.config import load_config  # noqa: E402
from posegan.keypoints import read_market_csv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MINI_DATA = Path(__file__).parent / "fixtures" / "market-mini"


def pytest_addoption(parser):
    parser.addoption("--no-skips", action="store_true",
                     help="fail the run if any test was skipped (CI, where every test's files and browser exist)")


def _skipped(config) -> list:
    return config.pluginmanager.get_plugin("terminalreporter").stats.get("skipped", [])


def pytest_terminal_summary(terminalreporter, config):
    if config.getoption("--no-skips") and _skipped(config):
        terminalreporter.write_line(f"--no-skips: {len(_skipped(config))} skipped, so this run fails", red=True)


def pytest_sessionfinish(session, exitstatus):
    if session.config.getoption("--no-skips") and exitstatus == pytest.ExitCode.OK and _skipped(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def tiny_cfg():
    """The real config class at width 4-8 and batch 2: every code path, a fraction of the cost."""
    return load_config(REPO / "configs" / "market-small.yaml", [
        "model.encoder_channels=[4, 8, 8, 8, 8, 8]", "model.decoder_channels=[8, 8, 8, 8, 4]",
        "model.discriminator_channels=[4, 8, 8, 8]", "train.batch_size=2", f"data.root={MINI_DATA}",
        "train.threads=2", "train.sample_pairs=2", "train.log_every=1", "train.sample_every=1000"])


@pytest.fixture(scope="session")
def mini_poses() -> dict[str, np.ndarray]:
    return read_market_csv(MINI_DATA / "samples" / "annotations.csv")


@pytest.fixture(scope="session")
def frontal_pose(mini_poses) -> np.ndarray:
    """A pose with all limbs present (used where every part must be valid)."""
    for pose in mini_poses.values():
        if (pose[:14] >= 0).all():
            return pose
    raise AssertionError("fixture set has no pose with all body joints")


@pytest.fixture(scope="session")
def app_url():
    """The Gradio app with the shipped generator, launched once in-process on a free port."""
    from demo import build_demo, launch_options
    from demo.studio import DEFAULT_CHECKPOINT, Studio
    assert DEFAULT_CHECKPOINT.is_file(), (
        f"{DEFAULT_CHECKPOINT} is missing: python -m posegan export runs/market-small/latest.pt {DEFAULT_CHECKPOINT}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Eager: the tests compare images across calls, and a compilation finishing mid-test would change the last bit of
    # a few pixels (compiled and eager agree within 1e-5: tests/test_compiled.py checks that path).
    demo = build_demo(Studio(compile=False))
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, **launch_options())
    yield f"http://127.0.0.1:{port}/"
    demo.close()


CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser download does not work offline
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium driven by Playwright, started once. Without it the browser tests skip with the
    install command (CI installs it and fails on any skip)."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} not found: install it with `apt-get install chromium chromium-driver`")
    sync_playwright = pytest.importorskip("playwright.sync_api", reason="needs `pip install playwright`").sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
