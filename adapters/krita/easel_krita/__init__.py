"""Easel for Krita: the Easel docker (image operations run by the easeld daemon, results as new
layers) and an extension with its menu actions.

Registered only inside Krita; the pure modules (`pixels`) import anywhere. With
EASEL_KRITA_TEST set (a results path) and EASEL_KRITA_TEST_DRIVER (a Python file), the
extension also runs that driver once the main window exists: the GUI tests in tests/krita.
"""

__version__ = "0.1.0"

try:
    from krita import DockWidgetFactory, DockWidgetFactoryBase, Extension, Krita
except ImportError:  # outside Krita: nothing to register
    Krita = None

if Krita is not None:
    import os

    from .docker import DOCKER_ID, EaselDocker
    from .i18n import i18n

    def find_docker():
        """The Easel docker of the active window, or None."""
        for d in Krita.instance().dockers():
            if d.objectName() == DOCKER_ID or isinstance(d, EaselDocker):
                return d
        return None

    class EaselExtension(Extension):
        """Menu actions (Tools > Scripts): show the docker, paint a mask, repeat the last run."""

        def __init__(self, parent):
            super().__init__(parent)

        def setup(self):
            if os.environ.get("EASEL_KRITA_TEST") and os.environ.get("EASEL_KRITA_TEST_DRIVER"):
                from . import testhook
                testhook.arm()

        def createActions(self, window):
            show = window.createAction("easel_show_docker", i18n("Easel: Show Docker"),
                                       "tools/scripts")
            show.triggered.connect(self._show)
            mask = window.createAction("easel_paint_mask", i18n("Easel: Paint a Mask"),
                                       "tools/scripts")
            mask.triggered.connect(lambda: self._with_docker(lambda d: d.start_scribble()))
            again = window.createAction("easel_run_again", i18n("Easel: Run Again"),
                                        "tools/scripts")
            again.triggered.connect(lambda: self._with_docker(lambda d: d.run()))
            # Shortcuts, tooltips and icon texts come from easel_krita.action (Settings >
            # Configure Krita > Shortcuts), which Krita translates itself; the menu text is the
            # one given here, the same as the action's <text> there (extract.py --check).
            live = window.createAction("easel_live", i18n("Easel: Live Mode"), "tools/scripts")
            live.triggered.connect(lambda: self._with_docker(lambda d: d.toggle_live()))
            apply_ = window.createAction("easel_live_apply", i18n("Easel: Apply Live Preview"),
                                         "tools/scripts")
            apply_.triggered.connect(lambda: self._with_docker(lambda d: d.live_apply()))
            discard = window.createAction("easel_live_discard", i18n("Easel: Discard Live Preview"),
                                          "tools/scripts")
            discard.triggered.connect(lambda: self._with_docker(lambda d: d.live_discard()))

        def _show(self):
            d = find_docker()
            if d is not None:
                d.show()
                d.raise_()

        def _with_docker(self, fn):
            d = find_docker()
            if d is not None:
                d.show()
                fn(d)

    Krita.instance().addDockWidgetFactory(
        DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, EaselDocker))
    Krita.instance().addExtension(EaselExtension(Krita.instance()))
