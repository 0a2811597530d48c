"""The Easel docker: pick an operation, set its parameters, run it on the active layer or the
visible image (inside the selection or a painted mask), and get the result as a new layer; or
paint in Live mode and watch a preview layer follow the strokes.

The form is built from each operation's parameter schema, as the daemon describes it. Jobs run
in the daemon; the docker polls for progress with a timer, so Krita stays responsive, and the
document is touched only when a result arrives (one new layer, one undo step). Results, their
parameters and thumbnails are kept with the document (history.py), in the .kra.

Generative results can be refined as a conversation: select one in the history, write the next
instruction in Prompt and press Refine. The follow-up sends the earlier prompts (the
``conversation`` parameter, filled by the docker, not shown in the form), the selected result as
the first reference image and the ticked reference layers after it; the new layer is named after
its turn, and the history shows every turn's prompt.
"""

from __future__ import annotations

from krita import DockWidget, Krita

from . import history as hist_mod
from . import kritadoc, pixels
from .forms import ParamForm, row as _row
from .i18n import i18n
from .jobs import JobRunner, Settings, connect
from .kritadoc import AdapterError, UnsupportedColorSpace
from .logfile import log, log_path
from .qt import (QApplication, QByteArray, QCheckBox, QComboBox, QDoubleSpinBox, QFont,
                 QFormLayout, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QImage, QLabel,
                 QLineEdit, QListWidget, QListWidgetItem, QPixmap, QIcon, QProgressBar,
                 QPushButton, QScrollArea, QSize, QSizePolicy, QSpinBox, QStandardItem,
                 QStandardItemModel, Qt, QTimer, QToolButton, QVBoxLayout, QWidget)

try:
    from .easel_client import DaemonUnavailable, EaselError, labels
except ImportError:  # pragma: no cover
    from easel_client import DaemonUnavailable, EaselError, labels

__all__ = ["EaselDocker", "DOCKER_ID", "document_key"]

DOCKER_ID = "easel_docker"

SOURCE_LAYER, SOURCE_VISIBLE = "layer", "visible"
REGION_ALL, REGION_SELECTION, REGION_PAINTED = "all", "selection", "painted"
# The operation shown first: one that needs nothing but a layer.
FIRST_OPERATION = "remove-background"
# Live mode: how often the mask layer is looked at, and the context around a changed region.
LIVE_POLL_MS = 200
LIVE_CONTEXT = 64
LIVE_PAD = 8
WATCH_MS = 400
# A generative operation's earlier prompts, one per line: filled by Refine, never shown.
CONVERSATION = "conversation"
MANAGED_PARAMS = (CONVERSATION,)

UserRole = Qt.ItemDataRole.UserRole
Checked, Unchecked = Qt.CheckState.Checked, Qt.CheckState.Unchecked


def document_key(doc) -> str:
    """A stable key for a document while it is open (its root node's unique id)."""
    return doc.rootNode().uniqueId().toString()


def _combo(name: str) -> QComboBox:
    c = QComboBox()
    c.setObjectName(name)
    c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    c.setMinimumContentsLength(10)
    c.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return c


class EaselDocker(DockWidget):
    """The Easel docker (one per Krita window)."""

    def __init__(self):
        super().__init__()
        self.setWindowTitle(i18n("Easel"))
        self.settings = Settings.load()
        self.client = None
        self.operations: list[dict] = []
        self.runner: JobRunner | None = None
        self.pending: dict | None = None
        self.histories: dict[str, hist_mod.History] = {}
        self.param_memory: dict[str, dict] = {}
        self.form: ParamForm | None = None
        self.scribble_anchor: dict[str, str] = {}  # document -> the layer the mask was made over
        self.live: LiveSession | None = None
        self.last_error = ""
        self.last_status = ""
        self._finishing = False
        self._build_ui()
        self._busy(False)
        self.visibilityChanged.connect(self._on_visible)
        # Undo and redo remove and bring back result layers: the history follows them.
        self.watch_timer = QTimer(self)
        self.watch_timer.setInterval(WATCH_MS)
        self.watch_timer.timeout.connect(self._watch)
        self.watch_timer.start()

    # ------------------------------------------------------------------------------ the UI
    def _build_ui(self) -> None:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll = scroll
        body = QWidget()
        scroll.setWidget(body)
        v = QVBoxLayout(body)
        v.setContentsMargins(4, 4, 4, 4)

        self.status = QLabel(i18n("Not connected to the Easel daemon yet."))
        self.status.setObjectName("easel_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        v.addWidget(self.status)

        top = QHBoxLayout()
        self.op_combo = _combo("easel_operation")
        self.op_combo.setModel(QStandardItemModel(self.op_combo))
        self.op_combo.currentIndexChanged.connect(self._on_operation)
        top.addWidget(self.op_combo, 1)
        self.reconnect_btn = QToolButton()
        self.reconnect_btn.setIcon(Krita.instance().icon("view-refresh"))
        self.reconnect_btn.setToolTip(i18n("Reconnect to the daemon and reload its operations."))
        self.reconnect_btn.clicked.connect(self.connect_daemon)
        top.addWidget(self.reconnect_btn)
        v.addLayout(top)

        self.op_help = QLabel()
        self.op_help.setWordWrap(True)
        self.op_help.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        small = self.op_help.font()
        small.setItalic(True)
        self.op_help.setFont(small)
        v.addWidget(self.op_help)

        self.form_box = QGroupBox(i18n("Parameters"))
        self.form_layout = QVBoxLayout(self.form_box)
        v.addWidget(self.form_box)

        where = QGroupBox(i18n("Input"))
        wf = QFormLayout(where)
        wf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.source_combo = _combo("easel_source")
        self.source_combo.addItem(i18n("Active layer"), SOURCE_LAYER)
        self.source_combo.addItem(i18n("Visible image"), SOURCE_VISIBLE)
        wf.addRow(i18n("Source"), self.source_combo)
        self.region_combo = _combo("easel_region")
        self.region_combo.addItem(i18n("Whole image"), REGION_ALL)
        self.region_combo.addItem(i18n("Selection (if any)"), REGION_SELECTION)
        self.region_combo.addItem(i18n("Painted mask"), REGION_PAINTED)
        self.region_combo.setItemData(2, i18n("The \u201c{1}\u201d layer", kritadoc.SCRIBBLE_LAYER),
                                      Qt.ItemDataRole.ToolTipRole)
        self.region_combo.setCurrentIndex(1)
        self.region_combo.currentIndexChanged.connect(self._on_region)
        wf.addRow(i18n("Region"), self.region_combo)
        self.scribble_btn = QPushButton(i18n("Paint mask"))
        self.scribble_btn.setObjectName("easel_scribble")
        self.scribble_btn.setToolTip(i18n("Adds (or selects) a \u201c{1}\u201d paint layer: paint "
                                          "over the region with any brush.",
                                          kritadoc.SCRIBBLE_LAYER))
        self.scribble_btn.clicked.connect(self.start_scribble)
        wf.addRow("", self.scribble_btn)
        self.grow_spin = QSpinBox()
        self.grow_spin.setObjectName("easel_grow")
        self.grow_spin.setRange(-500, 500)
        self.grow_spin.setSuffix(i18n(" px"))
        self.feather_spin = QDoubleSpinBox()
        self.feather_spin.setObjectName("easel_feather")
        self.feather_spin.setRange(0.0, 500.0)
        self.feather_spin.setDecimals(1)
        self.feather_spin.setSuffix(i18n(" px"))
        self.invert_box = QCheckBox(i18n("Invert"))
        self.invert_box.setObjectName("easel_invert")
        self.mods_row = QWidget()
        g = QGridLayout(self.mods_row)
        g.setContentsMargins(0, 0, 0, 0)
        g.addWidget(QLabel(i18n("Grow")), 0, 0)
        g.addWidget(self.grow_spin, 0, 1)
        g.addWidget(QLabel(i18n("Feather")), 1, 0)
        g.addWidget(self.feather_spin, 1, 1)
        g.addWidget(self.invert_box, 2, 0, 1, 2)
        wf.addRow("", self.mods_row)
        v.addWidget(where)

        self.refs_box = QGroupBox(i18n("Reference layers"))
        rl = QVBoxLayout(self.refs_box)
        self.refs_help = QLabel()
        self.refs_help.setWordWrap(True)
        rl.addWidget(self.refs_help)
        self.refs_list = QListWidget()
        self.refs_list.setObjectName("easel_references")
        self.refs_list.setMaximumHeight(110)
        rl.addWidget(self.refs_list)
        refresh = QPushButton(i18n("Refresh layers"))
        refresh.clicked.connect(self.refresh_references)
        rl.addWidget(refresh)
        v.addWidget(self.refs_box)

        runrow = QHBoxLayout()
        self.run_btn = QPushButton(i18n("Run"))
        self.run_btn.setObjectName("easel_run")
        self.run_btn.clicked.connect(lambda _=False: self.run())
        self.cancel_btn = QPushButton(i18n("Cancel"))
        self.cancel_btn.setObjectName("easel_cancel")
        self.cancel_btn.clicked.connect(self.cancel)
        runrow.addWidget(self.run_btn, 1)
        runrow.addWidget(self.cancel_btn)
        v.addLayout(runrow)
        self.progress = QProgressBar()
        self.progress.setObjectName("easel_progress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        v.addWidget(self.progress)

        live = QGroupBox(i18n("Live"))
        ll = QVBoxLayout(live)
        self.live_btn = QPushButton(i18n("Live: paint to run"))
        self.live_btn.setObjectName("easel_live")
        self.live_btn.setCheckable(True)
        self.live_btn.setToolTip(i18n("Paint on the \u201c{1}\u201d layer with any brush: each "
                                      "stroke re-runs the operation where it changed, on the "
                                      "\u201c{2}\u201d layer.", kritadoc.SCRIBBLE_LAYER,
                                      kritadoc.PREVIEW_LAYER))
        self.live_btn.toggled.connect(self._on_live_toggled)
        ll.addWidget(self.live_btn)
        self.apply_btn = QPushButton(i18n("Apply"))
        self.apply_btn.setObjectName("easel_live_apply")
        self.apply_btn.setToolTip(i18n("Turns the preview into a result layer (one undo step)."))
        self.apply_btn.clicked.connect(self.live_apply)
        self.discard_btn = QPushButton(i18n("Discard"))
        self.discard_btn.setObjectName("easel_live_discard")
        self.discard_btn.setToolTip(i18n("Removes the preview and leaves Live mode."))
        self.discard_btn.clicked.connect(self.live_discard)
        ll.addWidget(_row(self.apply_btn, self.discard_btn))
        v.addWidget(live)
        self._live_buttons()

        hist = QGroupBox(i18n("History (this document)"))
        hl = QVBoxLayout(hist)
        self.history_list = QListWidget()
        self.history_list.setObjectName("easel_history")
        self.history_list.setIconSize(QSize(48, 48))
        self.history_list.setMaximumHeight(150)
        hl.addWidget(self.history_list)
        self.reapply_btn = QPushButton(i18n("Re-apply"))
        self.reapply_btn.setObjectName("easel_reapply")
        self.reapply_btn.setToolTip(i18n("Adds the selected result as a new layer again."))
        self.reapply_btn.clicked.connect(self.reapply)
        self.compare_btn = QPushButton(i18n("Compare"))
        self.compare_btn.setObjectName("easel_compare")
        self.compare_btn.setToolTip(i18n("Shows or hides the selected result's layer."))
        self.compare_btn.clicked.connect(self.compare)
        hl.addWidget(_row(self.reapply_btn, self.compare_btn))
        self.refine_btn = QPushButton(i18n("Refine"))
        self.refine_btn.setObjectName("easel_refine")
        self.refine_btn.setToolTip(i18n(
            "Refines the selected generative result with the instruction in Prompt: the "
            "service gets the earlier prompts and that result, and changes it instead of "
            "starting over."))
        self.refine_btn.clicked.connect(lambda _=False: self.refine())
        hl.addWidget(self.refine_btn)
        v.addWidget(hist)

        self.daemon_box = QGroupBox(i18n("Daemon"))
        self.daemon_box.setObjectName("easel_daemon_box")
        self.daemon_box.setCheckable(True)
        self.daemon_box.setChecked(False)
        df = QFormLayout()
        df.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        dbody = QWidget()
        dbody.setLayout(df)
        dl = QVBoxLayout(self.daemon_box)
        dl.addWidget(dbody)
        self.daemon_box.toggled.connect(dbody.setVisible)
        dbody.setVisible(False)
        self.socket_edit = QLineEdit(self.settings.socket_path)
        self.socket_edit.setObjectName("easel_socket")
        self.socket_edit.setPlaceholderText(i18n("default ($XDG_RUNTIME_DIR/easel/easeld.sock)"))
        self.daemon_edit = QLineEdit(self.settings.daemon_path)
        self.daemon_edit.setObjectName("easel_daemon_path")
        self.daemon_edit.setPlaceholderText(i18n("easeld on PATH"))
        self.config_edit = QLineEdit(self.settings.daemon_config)
        self.config_edit.setPlaceholderText(i18n("default configuration"))
        df.addRow(i18n("Socket"), self.socket_edit)
        df.addRow(i18n("easeld program"), self.daemon_edit)
        df.addRow(i18n("Configuration file"), self.config_edit)
        apply_btn = QPushButton(i18n("Save and reconnect"))
        apply_btn.setObjectName("easel_save_settings")
        apply_btn.clicked.connect(self._apply_settings)
        df.addRow(apply_btn)
        logl = QLabel(i18n("Log file: {1}", log_path()))
        logl.setWordWrap(True)
        logl.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        logl.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        df.addRow(logl)
        v.addWidget(self.daemon_box)
        v.addStretch(1)
        self.setWidget(scroll)

    def _busy(self, busy: bool) -> None:
        self.run_btn.setEnabled(not busy and self._current_op() is not None)
        self.refine_btn.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)
        if not busy:
            self.progress.setValue(0)
            self.progress.setFormat("")

    def say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #d04040;" if error else "")
        self.last_error = text if error else ""
        self.last_status = text
        (log.warning if error else log.info)(text)

    # ------------------------------------------------------------------------------ Krita
    def canvasChanged(self, canvas) -> None:
        self._refresh_document()

    def _on_visible(self, visible: bool) -> None:
        if visible and self.client is None and not self.operations:
            self.connect_daemon()

    def _document(self):
        return Krita.instance().activeDocument()

    def _refresh_document(self) -> None:
        doc = self._document()
        self.refresh_references()
        if doc is not None:
            self._history_of(doc)
        self._refresh_history()
        if doc is None:
            return
        try:
            kritadoc.document_layout(doc)
        except UnsupportedColorSpace as e:
            self.say(str(e), error=True)

    # ------------------------------------------------------------------------------ daemon
    def _apply_settings(self) -> None:
        self.settings.socket_path = self.socket_edit.text().strip()
        self.settings.daemon_path = self.daemon_edit.text().strip()
        self.settings.daemon_config = self.config_edit.text().strip()
        self.settings.save()
        self.connect_daemon()

    def connect_daemon(self) -> bool:
        """(Re)connects, starting easeld if needed, and reloads the operations."""
        if self.busy:
            self.say(i18n("A job is running; cancel it before reconnecting."), error=True)
            return False
        if self.client is not None:
            self.client.close()
            self.client = None
        self.say(i18n("Connecting to the Easel daemon\u2026"))
        try:
            self.client = connect(self.settings)
            ops = self.client.operations()
        except EaselError as e:
            self.client = None
            log.warning("connect: %s", e.message)
            if isinstance(e, DaemonUnavailable) and "no easeld to start was found" in e.message:
                self.say(i18n("Easel cannot find its daemon to start (looked for {1}). Open "
                              "Daemon below, enter the path of the easeld program, and press "
                              "Save and reconnect.", self.settings.daemon_path
                              or i18n("easeld on PATH")), error=True)
                self._daemon_opened = not self.daemon_box.isChecked()
                self.daemon_box.setChecked(True)
                self.daemon_edit.setFocus()
            else:
                self.say(i18n("Cannot use the Easel daemon: {1}", e.message), error=True)
            self._set_operations([])
            return False
        except Exception as e:  # noqa: BLE001 - say it in the docker, never take Krita down
            self.client = None
            self.say(i18n("Cannot use the Easel daemon: {1}", f"{type(e).__name__}: {e}"),
                     error=True)
            self._set_operations([])
            return False
        pixels.set_half_float("rgba16f" in (self.client.server_features or []))
        if getattr(self, "_daemon_opened", False):
            self.daemon_box.setChecked(False)  # opened for the error above, which is solved
            self._daemon_opened = False
        self._set_operations(ops)
        self.say(i18n("Connected to {1}: {2} operations.", self.client.server or "easeld",
                      len(ops)))
        self._refresh_document()
        return True

    def _ensure_client(self) -> bool:
        if self.client is not None and not self.client.closed:
            try:
                # A daemon stopped or restarted since the last job has closed this connection:
                # notice it now and reconnect, rather than have the next job refused.
                self.client.pump(0.0)
            except Exception as e:  # noqa: BLE001
                log.info("the daemon connection was lost since the last job: %s", e)
            if not self.client.closed:
                return True
            self.client.close()
            self.client = None
        region = self.region_combo.currentIndex()
        ok = self.connect_daemon()
        if ok and region >= 0:
            self.region_combo.setCurrentIndex(region)  # reconnecting keeps the user's choice
        return ok

    def _set_operations(self, ops: list[dict]) -> None:
        current = self.current_operation_id()
        self.operations = ops
        model = self.op_combo.model()
        self.op_combo.blockSignals(True)
        model.clear()
        bold = QFont()
        bold.setBold(True)
        by_cat: dict[str, list[dict]] = {}
        for op in ops:
            by_cat.setdefault(op.get("category") or i18n("Other"), []).append(op)
        for cat in sorted(by_cat, key=lambda c: (c == "Testing", c.lower())):
            header = QStandardItem(labels.title(cat))
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            header.setFont(bold)
            model.appendRow(header)
            for op in sorted(by_cat[cat], key=lambda o: (o.get("title") or o["id"]).lower()):
                item = QStandardItem("    " + labels.title(op.get("title") or op["id"]))
                item.setData(op["id"], UserRole)
                item.setToolTip(labels.sentence(op.get("description") or ""))
                model.appendRow(item)
        self.op_combo.blockSignals(False)
        if not (current and self.select_operation(current)):
            first = self._first_operation(ops)
            if not (first and self.select_operation(first)):
                for i in range(model.rowCount()):
                    if model.item(i).data(UserRole):
                        self.op_combo.setCurrentIndex(i)
                        break
        self._on_operation()

    @staticmethod
    def _first_operation(ops: list[dict]):
        """Remove background if there is one, else an operation that needs nothing else."""
        ids = [o["id"] for o in ops]
        if FIRST_OPERATION in ids:
            return FIRST_OPERATION
        for o in ops:
            if int(o.get("min_references") or 0) == 0 and o.get("mask") != "required" \
                    and o.get("category") != "Testing":
                return o["id"]
        return None

    def current_operation_id(self) -> str | None:
        return self.op_combo.currentData(UserRole)

    def _current_op(self) -> dict | None:
        oid = self.current_operation_id()
        return next((o for o in self.operations if o["id"] == oid), None)

    def select_operation(self, op_id: str) -> bool:
        i = self.op_combo.findData(op_id, UserRole)
        if i < 0:
            return False
        self.op_combo.setCurrentIndex(i)
        self._on_operation()
        return True

    def _on_operation(self, *_):
        if self.form is not None:
            self.param_memory[self.form.op["id"]] = self.form.values()
            self.form.setParent(None)
            self.form.deleteLater()
            self.form = None
        op = self._current_op()
        if op is None:
            self.op_help.setText("")
            self.form_box.setVisible(False)
            self.refs_box.setVisible(False)
            self._busy(self.busy)
            return
        help_text = labels.sentence(op.get("description") or "")
        if op.get("mask") == "required":
            help_text += " " + i18n("Needs a region: a selection or a painted mask.")
        self.op_help.setText(help_text.strip())
        self.form = ParamForm(op, self.param_memory.get(op["id"]), managed=MANAGED_PARAMS)
        self.form_layout.addWidget(self.form)
        self.form_box.setVisible(bool(op.get("params")))
        self.refs_box.setVisible(int(op.get("max_references") or 0) > 0)
        lo, hi = int(op.get("min_references") or 0), int(op.get("max_references") or 0)
        if hi == 1:
            self.refs_help.setText(i18n("Tick the reference layer."))
        elif lo == 0:
            self.refs_help.setText(i18n("Tick up to {1} reference layers (optional).", hi))
        else:
            self.refs_help.setText(i18n("Tick {1} to {2} reference layers.", lo, hi))
        self._reset_region(op)
        self.refresh_references()
        self._busy(self.busy)

    def _reset_region(self, op: dict) -> None:
        """The region that suits the operation: the whole image where it ignores masks, the
        painted mask where one is painted (and shown), else the selection."""
        mask = op.get("mask")
        if mask == "ignored":
            want = REGION_ALL
        else:
            want = REGION_SELECTION
            doc = self._document()
            scrib = kritadoc.find_scribble_layer(doc) if doc is not None else None
            if scrib is not None and scrib.visible() \
                    and kritadoc.layer_alpha_mask(doc, scrib) is not None:
                want = REGION_PAINTED
        self.region_combo.setCurrentIndex(self.region_combo.findData(want))
        self._on_region()

    def _on_region(self, *_):
        self.mods_row.setEnabled(self.region_combo.currentData() != REGION_ALL)

    # ------------------------------------------------------------------------------ layers
    def refresh_references(self) -> None:
        doc = self._document()
        checked = {self.refs_list.item(i).data(UserRole)
                   for i in range(self.refs_list.count())
                   if self.refs_list.item(i).checkState() == Checked}
        self.refs_list.clear()
        if doc is None:
            return
        for n in kritadoc.walk_layers(doc):
            if n.name() in kritadoc.HELPER_LAYERS:
                continue
            uid = n.uniqueId().toString()
            item = QListWidgetItem(n.name())
            item.setData(UserRole, uid)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Checked if uid in checked else Unchecked)
            self.refs_list.addItem(item)

    def set_reference_checked(self, layer_name: str, on: bool = True) -> bool:
        for i in range(self.refs_list.count()):
            item = self.refs_list.item(i)
            if item.text() == layer_name:
                item.setCheckState(Checked if on else Unchecked)
                return True
        return False

    def _activate(self, doc, node) -> None:
        # A layer added this instant is not in the layer docker's model yet, and Krita ignores
        # activating it: activate it again once the event loop has caught up.
        for ms in (0, 150, 400):
            QTimer.singleShot(ms, lambda d=doc, n=node: d.setActiveNode(n))

    def start_scribble(self) -> None:
        """Adds or selects the "Easel mask" layer and switches the region to it."""
        doc = self._document()
        if doc is None:
            self.say(i18n("Open an image first."), error=True)
            return
        active = doc.activeNode()
        key = document_key(doc)
        if active is not None and kritadoc.is_layer(active) \
                and active.name() not in kritadoc.HELPER_LAYERS:
            self.scribble_anchor[key] = active.uniqueId().toString()
        node = kritadoc.ensure_scribble_layer(doc, above=active)
        self._activate(doc, node)
        self.region_combo.setCurrentIndex(self.region_combo.findData(REGION_PAINTED))
        self.say(i18n("Paint over the region on the \u201c{1}\u201d layer with any brush, then "
                      "press Run.", kritadoc.SCRIBBLE_LAYER))

    def _source_layer(self, doc):
        """The layer to work on: the active one, but never a helper layer (mask, preview)."""
        node = doc.activeNode()
        if node is not None and node.name() in kritadoc.HELPER_LAYERS:
            anchor = self.scribble_anchor.get(document_key(doc))
            found = kritadoc.node_by_id(doc, anchor) if anchor else None
            if found is not None:
                return found
            layers = [n for n in kritadoc.walk_layers(doc)
                      if n.name() not in kritadoc.HELPER_LAYERS and n.type() == "paintlayer"]
            return layers[-1] if layers else None
        return node

    # ------------------------------------------------------------------------------ jobs
    def run(self, follow_up: dict | None = None) -> bool:
        """Sends the current operation; returns True if a job was started. ``follow_up``: a
        history entry this job refines (see refine)."""
        if self.busy:
            return False
        if self.live is not None:
            self.say(i18n("Live mode is on: paint to run, or Apply or Discard first."),
                     error=True)
            return False
        try:
            return self._run(follow_up)
        except (AdapterError, UnsupportedColorSpace) as e:
            self.say(str(e), error=True)
        except EaselError as e:
            if self.client is not None and self.client.closed:
                self.client = None
            self.say(i18n("The daemon refused the job: {1}", e.message), error=True)
        except Exception as e:  # noqa: BLE001 - a message in the docker, never a crash
            log.exception("run")
            self.say(i18n("Easel could not run: {1}", f"{type(e).__name__}: {e}"), error=True)
        self._busy(False)
        return False

    def _gather_references(self, doc, op, reserved: int = 0):
        """The ticked reference layers; ``reserved`` references are sent before them."""
        refs_nodes = []
        for i in range(self.refs_list.count()):
            item = self.refs_list.item(i)
            if item.checkState() == Checked and self.refs_box.isVisible():
                n = kritadoc.node_by_id(doc, item.data(UserRole))
                if n is not None:
                    refs_nodes.append(n)
        lo, hi = int(op.get("min_references") or 0), int(op.get("max_references") or 0)
        lo, hi = max(0, lo - reserved), max(0, hi - reserved)
        if not lo <= len(refs_nodes) <= hi:
            title = labels.title(op.get("title") or op["id"])
            if hi == 1:
                raise AdapterError(i18n("\u201c{1}\u201d needs a reference layer: tick it under "
                                        "Reference layers.", title))
            raise AdapterError(i18n("\u201c{1}\u201d takes {2} to {3} reference layers; {4} ticked.",
                                    title, lo, hi, len(refs_nodes)))
        return refs_nodes

    # ------------------------------------------------------------------------------ refine
    @staticmethod
    def turns(entry: dict) -> list[str]:
        """The prompts that made a result, oldest first: its earlier turns, then its own."""
        p = entry.get("params") or {}
        earlier = [t.strip() for t in str(p.get(CONVERSATION) or "").splitlines() if t.strip()]
        prompt = str(p.get("prompt") or "").strip()
        return earlier + ([prompt] if prompt else [])

    def refinable(self, entry: dict | None) -> bool:
        """Whether a history entry is a generative result that a follow-up can refine."""
        if entry is None:
            return False
        op = next((o for o in self.operations if o["id"] == entry.get("op")), None)
        return op is not None and bool(self.turns(entry)) and any(
            p.get("name") == CONVERSATION for p in op.get("params") or [])

    def refine(self) -> bool:
        """Refines the selected history entry with the prompt in the form (a follow-up turn)."""
        if self.busy:
            return False
        e = self._selected_entry()
        if e is None:
            self.say(i18n("Select a generative result in the history first."), error=True)
            return False
        if not self.refinable(e):
            self.say(i18n("\u201c{1}\u201d was not made from a prompt: only generative results "
                          "can be refined.", e["name"]), error=True)
            return False
        typed = (self.form.values() if self.form is not None else {}).get("prompt")
        if self.current_operation_id() != e["op"]:
            self.select_operation(e["op"])
            if typed and self.form is not None:
                self.form.set_value("prompt", typed)
        prompt = str((self.form.values() if self.form is not None else {}).get("prompt") or "")
        if not prompt.strip():
            self.say(i18n("Write what to change in Prompt, then press Refine."), error=True)
            return False
        return self.run(follow_up=e)

    def _run(self, follow_up: dict | None = None) -> bool:
        doc = self._document()
        if doc is None:
            raise AdapterError(i18n("Open an image first."))
        kritadoc.document_layout(doc)
        if not self._ensure_client():
            return False
        op = self._current_op()
        if op is None:
            raise AdapterError(i18n("Choose an operation."))
        source = self.source_combo.currentData()
        node = self._source_layer(doc)
        if follow_up is not None and follow_up.get("source"):
            # The same layer as the turn being refined, whichever layer is active now.
            node = kritadoc.node_by_id(doc, follow_up["source"]) or node
            source = SOURCE_LAYER
        scribble = kritadoc.find_scribble_layer(doc)
        preview = kritadoc.find_layer(doc, kritadoc.PREVIEW_LAYER)
        region = self.region_combo.currentData()
        mask = None
        if region == REGION_SELECTION:
            # Like Krita's filters: the selection when there is one, else the whole image.
            mask = kritadoc.selection_mask(doc)
        elif region == REGION_PAINTED:
            if scribble is None:
                raise AdapterError(i18n("There is no \u201c{1}\u201d layer: press \u201cPaint "
                                        "mask\u201d and paint the region.",
                                        kritadoc.SCRIBBLE_LAYER))
            mask = kritadoc.layer_alpha_mask(doc, scribble)
            if mask is None:
                raise AdapterError(i18n("The \u201c{1}\u201d layer is empty: paint over the "
                                        "region first.", kritadoc.SCRIBBLE_LAYER))
        title = labels.title(op.get("title") or op["id"])
        if op.get("mask") == "required" and mask is None:
            raise AdapterError(i18n("\u201c{1}\u201d needs a region: select it or paint it "
                                    "(Paint mask).", title))
        refs_nodes = self._gather_references(doc, op, reserved=1 if follow_up else 0)
        if source == SOURCE_LAYER:
            if node is None:
                raise AdapterError(i18n("Choose a layer to work on."))
            kritadoc.node_layout(node)  # refuses a layer in a color space Easel cannot take
        image, src_layout = kritadoc.read_image(doc, node, source, hide=(scribble, preview))
        refs = [kritadoc.read_image(doc, n, SOURCE_LAYER)[0] for n in refs_nodes]
        params = self.form.values() if self.form is not None else {}
        turn = None
        if follow_up is not None:
            # The last turn's result first (its pixels as they came back, the crop), then the
            # character, object or style references.
            earlier = self.turns(follow_up)
            params = {**params, CONVERSATION: "\n".join(earlier)}
            refs.insert(0, kritadoc.to_shared_image(
                follow_up["width"], follow_up["height"], follow_up["format"],
                hist_mod.History.pixels(follow_up)))
            turn = len(earlier) + 1
        mods = None
        if mask is not None:
            mods = {"grow": self.grow_spin.value(), "feather": float(self.feather_spin.value()),
                    "invert": self.invert_box.isChecked()}
        try:
            job = self.client.submit(op["id"], image, mask=mask, references=refs, params=params,
                                     mask_modifiers=mods, result_format=src_layout.format)
        finally:
            for im in [image, mask, *refs]:
                if im is not None:
                    im.data.close()  # the daemon has its own copy or mapping once it answered
        above = node if source == SOURCE_LAYER else doc.activeNode()
        if above is not None and above.name() in kritadoc.HELPER_LAYERS:
            above = node
        mask_uid = None
        if region == REGION_PAINTED and scribble is not None:
            # The result goes over the painted mask (which is then hidden), or the user would
            # see the grey strokes instead of it.
            mask_uid = scribble.uniqueId().toString()
        self.pending = {"doc_key": document_key(doc), "doc": doc, "layout": src_layout,
                        "above": above.uniqueId().toString() if above is not None else None,
                        "source": node.uniqueId().toString()
                        if source == SOURCE_LAYER and node is not None else None,
                        "mask_layer": mask_uid, "op": op["id"], "params": params, "job": job,
                        "turn": turn}
        # What the result must still find when it arrives (kritadoc.target_problem).
        self.pending.update(kritadoc.target_state(
            doc, node if source == SOURCE_LAYER else None, title))
        self.runner = JobRunner(self.client, job, self)
        self.runner.progressed.connect(self._on_progress)
        self.runner.succeeded.connect(self._on_result)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.failed.connect(self._on_failed)
        self._busy(True)
        self.progress.setFormat(i18n("queued"))
        self.say(i18n("Refining \u201c{1}\u201d (turn {2})\u2026", follow_up["name"], turn)
                 if follow_up is not None else i18n("Running \u201c{1}\u201d\u2026", title))
        log.info("submitted %s job %s params %s", op["id"], job, params)
        return True

    def cancel(self) -> None:
        if self.runner is not None and not self.runner.done:
            self.say(i18n("Cancelling\u2026"))
            self.runner.cancel()

    @property
    def busy(self) -> bool:
        """A job is running, or its result is being added (adding a layer can wait for Krita's
        image inside a nested event loop, where a second Run must not start)."""
        return (self.runner is not None and not self.runner.done) or self._finishing

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        self.progress.setFormat(f"{message} %p%" if message else "%p%")

    def _pending_document(self):
        p = self.pending or {}
        for d in Krita.instance().documents():
            if document_key(d) == p.get("doc_key"):
                return d
        return None

    def _on_result(self, info: dict) -> None:
        self._finishing = True
        try:
            self._add_result(info)
        finally:
            self._finishing = False
            self.pending = None
            self._busy(False)

    def _add_result(self, info: dict) -> None:
        pending = self.pending
        doc = self._pending_document()
        if doc is None:
            self.say(i18n("The result of \u201c{1}\u201d arrived after its document was closed: "
                          "it was dropped, and no other document was changed. Open the image "
                          "again and run it there.", pending.get("title") or pending["op"]),
                     error=True)
            return
        layout = pending["layout"]
        if info["format"] != layout.format:
            self.say(i18n("The daemon answered {1} instead of {2}; the result was dropped.",
                          info["format"], layout.format), error=True)
            return
        problem = kritadoc.target_problem(doc, pending)
        if problem:
            self.say(problem, error=True)
            return
        above = kritadoc.node_by_id(doc, pending["above"]) if pending["above"] else None
        mask_layer = kritadoc.node_by_id(doc, pending["mask_layer"]) \
            if pending.get("mask_layer") else None
        if mask_layer is not None and above is not None \
                and mask_layer.parentNode() is not None \
                and above.parentNode() is not None \
                and mask_layer.parentNode().uniqueId() == above.parentNode().uniqueId():
            above_for_place = mask_layer
        else:
            above_for_place = above
        source = kritadoc.node_by_id(doc, pending["source"]) if pending.get("source") else None
        name = info["name"] or pending["op"]
        if pending.get("turn"):
            name = i18n("{1} (turn {2})", name, pending["turn"])
        self.progress.setFormat(i18n("adding the layer"))
        try:
            node = kritadoc.add_result_layer(doc, info["data"], info["x"], info["y"],
                                             info["width"], info["height"], layout, name,
                                             above_for_place)
        except Exception as e:  # noqa: BLE001
            log.exception("add layer")
            self.say(i18n("Could not add the result layer: {1}", f"{type(e).__name__}: {e}"),
                     error=True)
            return
        if mask_layer is not None:
            mask_layer.setVisible(False)
        # A cut-out over the untouched layer shows nothing new: hide the layer it came from
        # (undo shows it again).
        hid = None
        if source is not None and source.visible() and info["x"] == 0 and info["y"] == 0 \
                and info["width"] >= doc.width() and info["height"] >= doc.height() \
                and pixels.has_transparency(info["data"], info["format"]):
            source.setVisible(False)
            hid = source.uniqueId().toString()
        # The next operation works on the same layer as this one, not on its result; where
        # that layer is hidden (a cut-out), on the result.
        keep = source if source is not None and hid is None else node
        self._activate(doc, keep)
        entry = self._record(doc, name=name, op=pending["op"], params=pending["params"],
                             info=info, layout=layout, node=node, source=pending.get("source"),
                             hid_source=hid)
        ms = info.get("elapsed_ms")
        self.say(i18n("Added \u201c{1}\u201d ({2} ms).", name, ms) if ms is not None
                 else i18n("Added \u201c{1}\u201d.", name))
        return entry

    def _on_cancelled(self) -> None:
        self.pending = None
        self._busy(False)
        self.say(i18n("Cancelled; the document was not changed."))

    def _on_failed(self, message: str, code: str) -> None:
        self.pending = None
        self._busy(False)
        if code == "unavailable":
            if self.client is not None:
                self.client.close()
            self.client = None
            self.say(i18n("{1} The document was not changed. Run again to restart the daemon.",
                          message), error=True)
        else:
            self.say(i18n("The operation failed ({1}): {2} The document was not changed.", code,
                          message), error=True)

    # ------------------------------------------------------------------------------ history
    def _history_of(self, doc) -> hist_mod.History:
        key = document_key(doc)
        h = self.histories.get(key)
        if h is None:
            h = hist_mod.History()
            try:
                blob = doc.annotation(hist_mod.ANNOTATION)
                data = bytes(blob.data()) if hasattr(blob, "data") else bytes(blob or b"")
                if data:
                    h = hist_mod.History.from_bytes(data)
                    log.info("history: %d results read from the document", len(h.entries))
            except Exception:  # noqa: BLE001 - a damaged annotation must not break the docker
                log.exception("reading the history annotation")
            for e in h.entries:
                e["_attached"] = e.get("node") is not None and \
                    kritadoc.node_by_id(doc, e["node"]) is not None
                e["_restored"] = True
            self.histories[key] = h
        return h

    def _save_history(self, doc) -> None:
        """Writes the document's history into it (saved with the .kra)."""
        h = self._history_of(doc)
        keep = hist_mod.History(h.max_entries, h.max_bytes)
        keep.entries = [e for e in h.entries if self._listed(e)]
        try:
            doc.setAnnotation(hist_mod.ANNOTATION, "Easel results",
                              QByteArray(keep.to_bytes()))
        except Exception:  # noqa: BLE001
            log.exception("writing the history annotation")

    def _record(self, doc, *, name, op, params, info, layout, node, source, hid_source):
        h = self._history_of(doc)
        try:
            thumb = hist_mod.thumbnail_png(info["data"], info["format"], info["width"],
                                           info["height"])
        except Exception:  # noqa: BLE001
            log.exception("thumbnail")
            thumb = b""
        e = h.add(name=name, op=op, params=params, x=info["x"], y=info["y"],
                  width=info["width"], height=info["height"], fmt=info["format"],
                  model=layout.model, depth=layout.depth, data=info["data"],
                  node=node.uniqueId().toString(), source=source, hid_source=hid_source,
                  seed=info.get("seed"), elapsed_ms=info.get("elapsed_ms"), thumb=thumb)
        e["_attached"] = True
        self._save_history(doc)
        self._refresh_history()
        return e

    @staticmethod
    def _listed(e: dict) -> bool:
        """Results shown: those whose layer is in the document (an undone one is not), and
        those read back from the file."""
        return bool(e.get("_attached")) or (bool(e.get("_restored")) and not e.get("_dropped"))

    def _watch(self) -> None:
        """Follows undo and redo: a result whose layer went away leaves the list (and shows the
        layer it had hidden again); one that comes back (redo) returns."""
        if self._finishing:
            return
        try:
            docs = Krita.instance().documents()
        except Exception:  # noqa: BLE001
            return
        changed_active = False
        for doc in docs:
            h = self.histories.get(document_key(doc))
            if h is None:
                continue
            changed = False
            for e in h.entries:
                present = e.get("node") is not None and \
                    kritadoc.node_by_id(doc, e["node"]) is not None
                if present == bool(e.get("_attached")):
                    continue
                e["_attached"] = present
                if not present and e.get("_restored"):
                    e["_dropped"] = True
                changed = True
                if e.get("hid_source"):
                    src = kritadoc.node_by_id(doc, e["hid_source"])
                    if src is not None:
                        src.setVisible(not present)
            if changed:
                self._save_history(doc)
                if doc == self._document():
                    changed_active = True
        if changed_active:
            self._refresh_history()

    def history(self, doc=None) -> list[dict]:
        doc = doc or self._document()
        if doc is None:
            return []
        return [e for e in self._history_of(doc).entries if self._listed(e)]

    def _refresh_history(self) -> None:
        self.history_list.clear()
        for e in self.history():
            item = QListWidgetItem(f"{e['name']}\n{e['width']}\u00d7{e['height']} at "
                                   f"{e['x']},{e['y']}")
            item.setData(UserRole, e["id"])
            turns = self.turns(e) if (e.get("params") or {}).get("prompt") else []
            if turns:
                # A generative result: its prompts, turn by turn.
                last = turns[-1] if len(turns[-1]) <= 40 else turns[-1][:39] + "\u2026"
                item.setText(item.text() + f"\n\u201c{last}\u201d")
                item.setToolTip("\n".join(i18n("Turn {1}: {2}", i + 1, t)
                                           for i, t in enumerate(turns)))
            else:
                params = ", ".join(f"{k}={v}" for k, v in (e.get("params") or {}).items())
                item.setToolTip(params or e["op"])
            if e.get("thumb"):
                img = QImage.fromData(e["thumb"], "PNG")
                if not img.isNull():
                    item.setIcon(QIcon(QPixmap.fromImage(img)))
            self.history_list.addItem(item)
        if self.history_list.count():
            self.history_list.setCurrentRow(self.history_list.count() - 1)

    def _selected_entry(self):
        item = self.history_list.currentItem()
        if item is None:
            return None
        eid = item.data(UserRole)
        return next((e for e in self.history() if e["id"] == eid), None)

    def reapply(self) -> None:
        """Adds the selected result again, as a new layer above the active one."""
        doc, e = self._document(), self._selected_entry()
        if doc is None or e is None:
            return
        try:
            layout = pixels.HALF if e["format"] == "rgba16f" else \
                pixels.SUPPORTED[(e["model"], e["depth"])]
            data = hist_mod.History.pixels(e)
            node = kritadoc.add_result_layer(doc, data, e["x"], e["y"], e["width"],
                                             e["height"], layout, e["name"], doc.activeNode())
        except Exception as ex:  # noqa: BLE001
            log.exception("re-apply")
            self.say(i18n("Could not add the layer: {1}", f"{type(ex).__name__}: {ex}"),
                     error=True)
            return
        e["node"] = node.uniqueId().toString()
        e["_attached"] = True
        e["_dropped"] = False
        self._save_history(doc)
        self.say(i18n("Added \u201c{1}\u201d again.", e["name"]))

    def compare(self) -> None:
        """Shows or hides the selected result's layer (before/after)."""
        doc, e = self._document(), self._selected_entry()
        if doc is None or e is None:
            return
        node = kritadoc.node_by_id(doc, e["node"]) if e.get("node") else None
        if node is None:
            self.say(i18n("That result's layer is gone (undone or deleted); Re-apply adds it "
                          "again."), error=True)
            return
        node.setVisible(not node.visible())
        doc.refreshProjection()
        self.say(i18n("\u201c{1}\u201d is shown.", e["name"]) if node.visible()
                 else i18n("\u201c{1}\u201d is hidden.", e["name"]))

    # ------------------------------------------------------------------------------ live
    def _live_buttons(self) -> None:
        on = self.live is not None
        self.apply_btn.setEnabled(on and self.live.has_preview())
        self.discard_btn.setEnabled(on)
        self.run_btn.setEnabled(not on and not self.busy and self._current_op() is not None)

    def _on_live_toggled(self, on: bool) -> None:
        if on and self.live is None:
            if not self.start_live():
                self.live_btn.blockSignals(True)
                self.live_btn.setChecked(False)
                self.live_btn.blockSignals(False)
        elif not on and self.live is not None:
            self.live_discard()

    def toggle_live(self) -> None:
        self.live_btn.setChecked(not self.live_btn.isChecked())

    def start_live(self) -> bool:
        """Starts Live mode on the active layer with the current operation."""
        try:
            doc = self._document()
            if doc is None:
                raise AdapterError(i18n("Open an image first."))
            if self.busy:
                raise AdapterError(i18n("A job is running; wait for it or cancel it first."))
            if not self._ensure_client():
                return False
            op = self._current_op()
            if op is None:
                raise AdapterError(i18n("Choose an operation."))
            source = self._source_layer(doc)
            if source is None or source.type() != "paintlayer":
                raise AdapterError(i18n("Live mode works on a paint layer: select one."))
            kritadoc.node_layout(source)
            self.live = LiveSession(self, doc, op, source)
        except (AdapterError, UnsupportedColorSpace, EaselError) as e:
            self.say(getattr(e, "message", None) or str(e), error=True)
            return False
        self.live_btn.setChecked(True)
        self._live_buttons()
        return True

    def live_apply(self) -> bool:
        if self.live is None:
            return False
        ok = self.live.apply()
        if ok:
            self._end_live()
        return ok

    def live_discard(self) -> None:
        if self.live is None:
            return
        self.live.discard()
        self._end_live()
        self.say(i18n("Live preview discarded."))

    def _end_live(self) -> None:
        self.live = None
        self.live_btn.blockSignals(True)
        self.live_btn.setChecked(False)
        self.live_btn.blockSignals(False)
        self._live_buttons()


class LiveSession:
    """Live mode on one document: the user paints on the mask layer (or, for operations that
    take an aligned reference such as colorize, on a scribble layer that is that reference);
    when a stroke has ended (the layer holds still and no mouse button is down) the operation
    runs on the changed region only, and its result is written into the preview layer in place.
    One job runs at a time; strokes made meanwhile are taken together by the next job (latest
    wins: nothing waits in the daemon)."""

    def __init__(self, docker: EaselDocker, doc, op: dict, source):
        self.docker = docker
        self.doc = doc
        self.key = document_key(doc)
        self.op = op
        self.source_uid = source.uniqueId().toString()
        self.layout = kritadoc.node_layout(source)
        self.regional = op.get("mask") != "ignored"
        self.aligned = "aligned_references" in (op.get("flags") or []) \
            and int(op.get("max_references") or 0) >= 1
        if not self.regional and not self.aligned:
            raise AdapterError(i18n("\u201c{1}\u201d works on the whole image: use Run.",
                                    labels.title(op.get("title") or op["id"])))
        docker.scribble_anchor[self.key] = self.source_uid
        mask = kritadoc.ensure_scribble_layer(doc, above=source)
        preview = kritadoc.find_layer(doc, kritadoc.PREVIEW_LAYER)
        if preview is None:
            preview = doc.createNode(kritadoc.PREVIEW_LAYER, "paintlayer")
            parent, anchor = kritadoc.result_target(doc, mask)
            parent.addChildNode(preview, anchor)
        self.mask_uid = mask.uniqueId().toString()
        self.preview_uid = preview.uniqueId().toString()
        docker._activate(doc, mask)
        self.base = None          # the mask as the last job saw it
        self.seen = None          # the mask at the last look
        self.runner = None
        self.job_rect = None      # where the running job's result goes
        self.job_origin = (0, 0)
        self.jobs = 0
        self.updates = 0
        self.painted = False
        self.timer = QTimer(docker)
        self.timer.setInterval(LIVE_POLL_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        docker.say(i18n("Live: paint on the \u201c{1}\u201d layer with any brush; each stroke "
                        "updates the \u201c{2}\u201d layer. Apply keeps it.",
                        kritadoc.SCRIBBLE_LAYER, kritadoc.PREVIEW_LAYER))
        log.info("live: %s on %s", op["id"], source.name())

    def node(self, uid):
        return kritadoc.node_by_id(self.doc, uid)

    def has_preview(self) -> bool:
        return self.painted

    def _alive(self) -> bool:
        return any(document_key(d) == self.key for d in Krita.instance().documents())

    def _mask_now(self):
        mask = self.node(self.mask_uid)
        if mask is None:
            return None
        w, h = self.doc.width(), self.doc.height()
        lay = kritadoc.node_layout(mask)
        raw = mask.pixelData(0, 0, w, h)
        if lay.kind == "int":
            return bytes(memoryview(raw).cast("B")[lay.krita_pixel - 1::lay.krita_pixel])
        _, f = pixels.alpha_mask(raw, lay)
        import array
        a = array.array("f")
        a.frombytes(f)
        return bytes(max(0, min(255, int(v * 255 + 0.5))) for v in a)

    def tick(self) -> None:
        if not self._alive():
            self.stop()
            self.docker._end_live()
            return
        if self.runner is not None or self.docker._finishing:
            return
        if QApplication.mouseButtons() != Qt.MouseButton.NoButton:
            return  # a stroke is being painted
        cur = self._mask_now()
        if cur is None:
            return
        if cur != self.seen:
            self.seen = cur  # changed since the last look: wait until it holds still
            return
        w, h = self.doc.width(), self.doc.height()
        rect = pixels.changed_rect(self.base, cur, w, h)
        if rect is None:
            return
        try:
            self._submit(rect, cur)
        except (AdapterError, UnsupportedColorSpace, EaselError) as e:
            self.docker.say(getattr(e, "message", None) or str(e), error=True)
            self.base = cur
        except Exception as e:  # noqa: BLE001
            log.exception("live submit")
            self.docker.say(i18n("Easel could not run: {1}", f"{type(e).__name__}: {e}"),
                            error=True)
            self.base = cur

    def _submit(self, rect, cur) -> None:
        d = self.docker
        if not d._ensure_client():
            return
        doc = self.doc
        W, H = doc.width(), doc.height()
        source = self.node(self.source_uid)
        if source is None:
            raise AdapterError(i18n("The layer Live mode worked on is gone."))
        params = d.form.values() if d.form is not None and d.form.op["id"] == self.op["id"] \
            else {}
        lay = self.layout
        refs = []
        if self.regional:
            pad = LIVE_PAD + abs(d.grow_spin.value()) + int(2 * d.feather_spin.value())
            x, y, rw, rh = rect
            cx0, cy0 = max(0, x - pad), max(0, y - pad)
            cx1, cy1 = min(W, x + rw + pad), min(H, y + rh + pad)
            c = (cx0, cy0, cx1 - cx0, cy1 - cy0)
            ex0, ey0 = max(0, cx0 - LIVE_CONTEXT), max(0, cy0 - LIVE_CONTEXT)
            ex1, ey1 = min(W, cx1 + LIVE_CONTEXT), min(H, cy1 + LIVE_CONTEXT)
            e = (ex0, ey0, ex1 - ex0, ey1 - ey0)
            mask = pixels.mask_in_rect(cur, W, H, e, c)
            self.base = cur
            if not mask.strip(b"\0"):
                # Everything there was erased: the preview shows the layer itself again.
                self._write_preview(bytes(c[2] * c[3] * lay.krita_pixel), c)
                return
            raw = source.pixelData(e[0], e[1], e[2], e[3])
            image = kritadoc.to_shared_image(e[2], e[3], lay.format,
                                             pixels.to_protocol(raw, lay))
            mask_img = kritadoc.to_shared_image(e[2], e[3], "gray8", mask)
            mods = {"grow": d.grow_spin.value(), "feather": float(d.feather_spin.value()),
                    "invert": False}
            try:
                job = d.client.submit(self.op["id"], image, mask=mask_img, params=params,
                                      mask_modifiers=mods, context_margin=LIVE_CONTEXT,
                                      result_format=lay.format)
            finally:
                image.data.close()
                mask_img.data.close()
            self.job_rect, self.job_origin = c, (e[0], e[1])
        else:
            self.base = cur
            mask_node = self.node(self.mask_uid)
            raw = source.pixelData(0, 0, W, H)
            image = kritadoc.to_shared_image(W, H, lay.format, pixels.to_protocol(raw, lay))
            ref, _ = kritadoc.read_image(doc, mask_node, SOURCE_LAYER)
            refs = [ref]
            try:
                job = d.client.submit(self.op["id"], image, references=refs, params=params,
                                      result_format=lay.format)
            finally:
                image.data.close()
                ref.data.close()
            self.job_rect, self.job_origin = (0, 0, W, H), (0, 0)
        self.job_size = (W, H)
        self.jobs += 1
        self.runner = JobRunner(d.client, job, d)
        self.runner.succeeded.connect(self._on_result)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_failed)
        d.progress.setFormat(i18n("Live: updating\u2026"))

    def _on_failed(self, *args) -> None:
        self.runner = None
        msg = args[0] if args else i18n("cancelled")
        self.docker.say(i18n("Live: the operation failed: {1}", msg), error=True)
        if len(args) > 1 and args[1] == "unavailable" and self.docker.client is not None:
            self.docker.client.close()
            self.docker.client = None

    def _on_result(self, info: dict) -> None:
        self.runner = None
        lay = self.layout
        if info["format"] != lay.format:
            self.docker.say(i18n("The daemon answered {1} instead of {2}; the result was "
                                 "dropped.", info["format"], lay.format), error=True)
            return
        if not self._alive():
            return
        if (self.doc.width(), self.doc.height()) != getattr(self, "job_size", None):
            self.docker.say(i18n("Live: the image was resized while the preview was updated; "
                                 "that update was dropped. Paint again to update it."),
                            error=True)
            self.base = None  # the next look sends the whole mask again
            return
        ox, oy = self.job_origin
        rx, ry, rw, rh = ox + info["x"], oy + info["y"], info["width"], info["height"]
        cx, cy, cw, ch = self.job_rect
        ix0, iy0 = max(rx, cx), max(ry, cy)
        ix1, iy1 = min(rx + rw, cx + cw), min(ry + rh, cy + ch)
        if ix0 >= ix1 or iy0 >= iy1:
            return
        sub = pixels.crop(info["data"], rw, lay.protocol_pixel,
                          (ix0 - rx, iy0 - ry, ix1 - ix0, iy1 - iy0))
        self._write_preview(pixels.from_protocol(sub, lay), (ix0, iy0, ix1 - ix0, iy1 - iy0))
        self.painted = True
        self.docker._live_buttons()
        self.docker.progress.setFormat("")
        self.docker.say(i18n("Live: preview updated ({1} ms). Paint more, or Apply.",
                             info.get("elapsed_ms") or 0))

    def _write_preview(self, raw, rect) -> None:
        preview = self.node(self.preview_uid)
        if preview is None:
            return
        x, y, w, h = rect
        preview.setPixelData(raw, x, y, w, h)
        self.updates += 1
        self.docker._finishing = True
        try:
            self.doc.refreshProjection()
        finally:
            self.docker._finishing = False

    def stop(self) -> None:
        self.timer.stop()
        if self.runner is not None and not self.runner.done:
            self.runner.cancel()
        self.runner = None

    def apply(self) -> bool:
        """The preview becomes a normal result layer: the new layer is the one undo step that
        adds it (undo removes it whole)."""
        self.stop()
        doc = self.doc
        preview = self.node(self.preview_uid)
        if preview is None or not self.painted:
            self.docker.say(i18n("Nothing to apply yet: paint on the \u201c{1}\u201d layer.",
                                 kritadoc.SCRIBBLE_LAYER), error=True)
            self.timer.start()
            return False
        b = preview.bounds()
        x, y, w, h = b.x(), b.y(), b.width(), b.height()
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(doc.width(), x + w), min(doc.height(), y + h)
        raw = bytes(preview.pixelData(x0, y0, x1 - x0, y1 - y0))
        name = f"{labels.title(self.op.get('title') or self.op['id'])} (live)"
        preview.remove()
        mask = self.node(self.mask_uid)
        node = kritadoc.add_krita_layer(doc, raw, x0, y0, x1 - x0, y1 - y0, name,
                                        mask or self.node(self.source_uid))
        if mask is not None:
            mask.setVisible(False)
        self.docker._activate(doc, self.node(self.source_uid) or node)
        lay = self.layout
        info = {"data": pixels.to_protocol(raw, lay), "format": lay.format, "x": x0, "y": y0,
                "width": x1 - x0, "height": y1 - y0, "seed": None, "elapsed_ms": None}
        params = self.docker.form.values() if self.docker.form is not None else {}
        self.docker._record(doc, name=name, op=self.op["id"], params=params, info=info,
                            layout=lay, node=node, source=self.source_uid, hid_source=None)
        self.docker.say(i18n("Applied \u201c{1}\u201d.", name))
        log.info("live: applied after %d jobs", self.jobs)
        return True

    def discard(self) -> None:
        self.stop()
        preview = self.node(self.preview_uid)
        if preview is not None:
            preview.remove()
        src = self.node(self.source_uid)
        if src is not None:
            self.docker._activate(self.doc, src)
