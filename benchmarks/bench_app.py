"""Benchmark the Gradio app with the shipped small generator: latency per step, end to end, and under load.

    python benchmarks/bench_app.py                       # writes results/bench_app.json
    python benchmarks/bench_app.py --runs 20 --concurrent 16 --threads 1 --no-browser
    python benchmarks/bench_app.py --eager               # the generator not compiled (the app's --eager)

Measures, on the machine it runs on (CPU), with ``--threads`` torch threads per request as app.py uses, after the
generator's background compilation has finished (its seconds are reported; ``--eager``: none):
  * pipeline: what the UI's handlers do for one photo, in-process: detect (photo -> crop + pose), transfer
    (generator forward), the same with the photo's background kept (the page's default, :mod:`posegan.background`)
    and the "Inside the deformable skips" panel; the total is detect + transfer with the background + panel;
    medians over ``--runs``;
  * browser: upload -> detect -> generate -> feature panels shown, in headless Chromium (``/usr/bin/chromium``),
    the time a person waits after choosing a photo; median over ``--browser-runs``; and joint drag -> new result
    shown: from releasing a dragged target joint (the editor sends the pose on pointer up) until the new result image
    is loaded on the page, the right wrist dragged back and forth; median over ``--drags``;
  * api: ``/detect`` then ``/transfer`` through gradio_client, sequentially; median over ``--runs``;
  * concurrent: ``--concurrent`` ``/transfer`` requests submitted at once; how many complete and the total time
    (the queue runs 2 at a time).
"""
import argparse
import json
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("YOLO_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402  (thread setup only)
from gradio_client import Client, handle_file  # noqa: E402

from demo import build_demo, launch_options  # noqa: E402
from demo.panels import skips_panel  # noqa: E402
from demo.studio import Studio  # noqa: E402
from demo.ui import pose_json  # noqa: E402

EXAMPLES = ROOT / "demo" / "examples"
PHOTOS = [EXAMPLES / "market-0161_c3s3_033028_07.jpg", EXAMPLES / "market-0736_c2s2_063057_01.jpg"]
TARGET = "Walking left (side)"


def timed_ms(fn, runs: int) -> tuple[float, object]:
    """Median wall time of ``fn()`` over ``runs`` calls after one warm-up call, and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1), result


def bench_pipeline(studio, runs: int) -> dict:
    photo = PHOTOS[0].read_bytes()
    target = studio.presets[TARGET]
    detect_ms, source = timed_ms(lambda: studio.detect(photo), runs)
    transfer_ms, out = timed_ms(lambda: studio.transfer(source.crop, source.pose, target), runs)
    keep_background_ms, _ = timed_ms(
        lambda: studio.transfer(source.crop, source.pose, target, keep_background=True), runs)
    panel_ms, _ = timed_ms(lambda: skips_panel(out.result, source.crop), runs)

    def photo_to_panel():
        person = studio.detect(photo)
        return skips_panel(studio.transfer(person.crop, person.pose, target, keep_background=True).result,
                           person.crop)

    total_ms, _ = timed_ms(photo_to_panel, runs)
    return {"detect_ms": detect_ms, "transfer_ms": transfer_ms, "transfer_keep_background_ms": keep_background_ms,
            "panel_ms": panel_ms, "total_ms": total_ms, "runs": runs}


RESULT_SRC_JS = "document.querySelector('#result img')?.getAttribute('src') ?? ''"
# A new result file (every result has its own name, demo.ui.ResultImage) whose pixels the browser has decoded.
NEW_RESULT_SHOWN_JS = """(old) => {
  const image = document.querySelector('#result img');
  return image !== null && image.getAttribute('src') !== old && image.complete && image.naturalWidth > 0;
}"""
RIGHT_WRIST = 4


def drag_to_result_ms(page, drags: int) -> float:
    """Median ms from releasing a dragged joint to its new result shown: the target's right wrist goes 6 frame px
    (24 screen px at x4) right and back, alternately, so that every drag changes the pose; drag 0 warms up."""
    dot = page.locator(f"#target-editor .pe-joint[data-joint='{RIGHT_WRIST}'] .pe-dot")
    times = []
    for drag in range(drags + 1):
        box = dot.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        old = page.evaluate(RESULT_SRC_JS)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + (24 if drag % 2 == 0 else -24), y, steps=8)
        start = time.perf_counter()
        page.mouse.up()
        page.wait_for_function(NEW_RESULT_SHOWN_JS, arg=old)
        if drag:
            times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def bench_browser(url: str, runs: int, drags: int) -> dict:
    from playwright.sync_api import sync_playwright
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"]
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.wait_for_selector("#target-editor [data-ready='1']")
        for run in range(runs + 1):  # alternate photos so that every upload changes the result; run 0 warms up
            old = page.evaluate("document.querySelector('#skips img')?.getAttribute('src') ?? ''")
            start = time.perf_counter()
            page.locator("#photo input[type=file]").set_input_files(PHOTOS[run % 2])
            page.wait_for_function("(old) => (document.querySelector('#skips img')?.getAttribute('src') ?? '') "
                                   "!== old", arg=old)
            if run:
                times.append((time.perf_counter() - start) * 1000)
        drag_ms = drag_to_result_ms(page, drags)
        browser.close()
    return {"upload_to_panels_ms": round(statistics.median(times), 1), "runs": runs,
            "drag_to_result_ms": drag_ms, "drags": drags}


def bench_api(client: Client, target_json: str, runs: int) -> dict:
    detect_ms, _ = timed_ms(lambda: client.predict(handle_file(PHOTOS[0]), api_name="/detect"), runs)
    transfer_ms, _ = timed_ms(lambda: client.predict(handle_file(PHOTOS[0]), target_json, api_name="/transfer"),
                              runs)
    return {"detect_ms": detect_ms, "transfer_ms": transfer_ms, "runs": runs}


def bench_concurrent(client: Client, target_json: str, requests: int) -> dict:
    start = time.perf_counter()
    jobs = [client.submit(handle_file(PHOTOS[i % 2]), target_json, api_name="/transfer") for i in range(requests)]
    completed = sum(Path(job.result(timeout=300)).is_file() for job in jobs)
    return {"requests": requests, "completed": completed, "total_s": round(time.perf_counter() - start, 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="timed runs per pipeline/api measurement")
    parser.add_argument("--browser-runs", type=int, default=6, help="timed uploads in the browser")
    parser.add_argument("--drags", type=int, default=10, help="timed joint drags in the browser")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium measurements")
    parser.add_argument("--concurrent", type=int, default=16, help="simultaneous /transfer requests")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (app.py's default)")
    parser.add_argument("--eager", action="store_true", help="the generator not compiled (app.py --eager)")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench_app.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = round(os.getloadavg()[0], 2)  # other jobs on the machine skew every number below

    studio = Studio(compile=not args.eager)
    compiled = studio.model.compiled
    if compiled is not None:
        compiled.wait()  # the steady state: what the app runs 20-60 s after its start
    demo = build_demo(studio)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, **launch_options())
    url = f"http://127.0.0.1:{port}/"
    target_json = pose_json(studio.presets[TARGET])
    try:
        client = Client(url, verbose=False)
        results = {"pipeline": bench_pipeline(studio, args.runs)}
        if not args.no_browser:
            results["browser"] = bench_browser(url, args.browser_runs, args.drags)
        results["api"] = bench_api(client, target_json, args.runs)
        results["concurrent"] = bench_concurrent(client, target_json, args.concurrent)
    finally:
        demo.close()

    report = {
        "command": "python " + " ".join(sys.argv),
        "checkpoint": str(studio.checkpoint.relative_to(ROOT)),
        "model": studio.model_summary,
        "generator_compiled": compiled is not None and compiled.ready,
        "compile_s": round(compiled.seconds, 1) if compiled is not None and compiled.ready else None,
        "device": f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
        "threads": args.threads,
        "load_average_1m_before": load_before,
        **results,
    }
    print(json.dumps(report, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
