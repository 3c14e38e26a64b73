"""PoseGAN Studio: the Gradio app (what it does lives in demo/, the model in posegan/).

    python app.py                                  # http://127.0.0.1:7860
    python app.py --checkpoint runs/x/gen.pt       # another generator (default: $POSEGAN_CHECKPOINT or
                                                   # checkpoints/posegan-market-small-imageskip.pt)
    GRADIO_SERVER_NAME=0.0.0.0 python app.py       # listen on all interfaces (Hugging Face Spaces sets this)
    python app.py --eager                          # no background compilation of the generator at the start
"""
import argparse
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # analytics would call the network
os.environ.setdefault("YOLO_OFFLINE", "1")                  # the detector never downloads anything

from demo import build_demo, launch_options  # noqa: E402
from demo.studio import Studio  # noqa: E402
from posegan.utils import set_cpu_threads  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=None,
                        help="generator checkpoint (default: $POSEGAN_CHECKPOINT, "
                             "else checkpoints/posegan-market-small-imageskip.pt)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("POSEGAN_THREADS", 1)),
                        help="torch CPU threads per request; requests run 2 at a time")
    parser.add_argument("--eager", action="store_true",
                        help="run the generator eagerly: no compilation holding a CPU core for 20-60 s at the start, "
                             "1.3x slower results after it")
    args = parser.parse_args()
    # One line per refused input ("... on_photo refused the input: ..."), where Gradio printed a traceback.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    set_cpu_threads(args.threads)
    try:
        # an unusable generator only disables generation: the page says why
        studio = Studio(args.checkpoint, compile=not args.eager)
    except (OSError, ValueError) as exc:  # the detector's weights are missing or refused: nothing would work
        parser.exit(2, f"error: {exc}\n")
    demo = build_demo(studio)
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), server_port=args.port,
                **launch_options())


if __name__ == "__main__":
    main()
