"""The Gradio app, shared by `demo/app.py`, a Hugging Face Space, notebooks and the tests.

    from makeup.app import build_app, AppLimits
    from makeup.transfer import MakeupPipeline

    limits = AppLimits()
    app = build_app(MakeupPipeline(allow_untrained=True), limits)
    app.launch(**limits.launch_options())
"""

from makeup.app.limits import AppLimits, limit_malloc_arenas
from makeup.app.ui import build_app

__all__ = ["AppLimits", "build_app", "limit_malloc_arenas"]
