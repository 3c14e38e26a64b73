"""PoseGAN Studio's Gradio app: a thin layer over the ``posegan`` package (run it with ``python app.py``).

``studio.py`` does the work (detect, transfer, animate), ``ui.py`` lays it out, ``editor.*`` is the in-browser
skeleton editor, ``panels.py`` draws the HTML panels (inside the skips, correspondence inspector, plausibility meter,
model cards) and ``inspector.js`` is the inspector's hover.
"""
from .ui import build_demo, launch_options

__all__ = ["build_demo", "launch_options"]
