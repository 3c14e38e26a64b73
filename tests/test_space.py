"""The Hugging Face Space folder (``posegan space``): only what the app needs, every binary through LFS, and it runs.

The run test starts ``python app.py`` inside the assembled folder, offline, and calls ``/transfer`` (about 10 s).
"""
import fnmatch
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from PIL import Image

from posegan.cli import main
from posegan.config import DEFAULT_GENERATOR
from posegan.space import LFS_PATTERNS

APP_START_SECONDS = 240  # gradio, torch and ultralytics imports plus both models, on a busy 2-core machine


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """A Space assembled into a folder that looks like a clone of an older Space."""
    out = tmp_path_factory.mktemp("space")
    (out / ".git").mkdir()  # the Space's repository: must survive
    (out / "demo").mkdir()
    (out / "demo" / "removed_since.py").write_text("")  # left by an earlier assembly: must go
    main(["space", "--out", str(out)])
    return out


def _files(folder) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _is_binary(path) -> bool:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\0" in data


def test_space_holds_the_app_and_nothing_else(space):
    files = _files(space)
    assert {"app.py", "requirements.txt", "README.md", ".gitattributes", f"checkpoints/{DEFAULT_GENERATOR.name}",
            "checkpoints/yolo11n-pose.pt", "checkpoints/README.md", "demo/ui.py", "demo/editor.js",
            "demo/examples/target-pose-walking-left.json", "posegan/inference.py", "posegan/networks/generator.py",
            } <= files
    assert not [f for f in files if f.startswith(("results/", "tests/", "benchmarks/", "runs/", "docs/"))
                or "train-state" in f or "__pycache__" in f or f.endswith(".pyi")]
    assert (space / ".git").is_dir() and not (space / "demo" / "removed_since.py").exists()
    readme = (space / "README.md").read_text()
    assert readme.startswith("---\n") and "\nsdk: gradio\n" in readme and "\napp_file: app.py\n" in readme


def test_every_binary_goes_through_lfs(space):
    lines = (space / ".gitattributes").read_text().splitlines()
    assert lines == [f"{pattern} filter=lfs diff=lfs merge=lfs -text" for pattern in LFS_PATTERNS]
    binaries = [p for p in space.rglob("*") if p.is_file() and ".git" not in p.parts and _is_binary(p)]
    assert binaries and all(any(fnmatch.fnmatch(p.name, pattern) for pattern in LFS_PATTERNS) for p in binaries), \
        [p.name for p in binaries]


def test_space_refuses_to_overwrite_the_repository(capsys):
    from posegan.config import REPO_ROOT
    with pytest.raises(SystemExit) as exc:
        main(["space", "--out", str(REPO_ROOT)])
    assert exc.value.code == 2 and "must not be the repository" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(proc, url: str, timeout: float):
    deadline = time.time() + timeout
    while True:
        assert proc.poll() is None, f"app.py exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}"
        assert time.time() < deadline, f"app.py did not answer {url} within {timeout} s"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)


def test_assembled_space_starts_offline_and_answers_transfer(space):
    from gradio_client import Client, handle_file
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only the Space's own posegan/ and demo/
    env.update(GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", YOLO_OFFLINE="1", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=space, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_server(proc, url, APP_START_SECONDS)
        examples = space / "demo" / "examples"
        result = Client(url, verbose=False).predict(
            handle_file(examples / "market-0161_c3s3_033028_07.jpg"),
            (examples / "target-pose-walking-left.json").read_text(), api_name="/transfer")
        assert Image.open(result).size == (64, 128)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
