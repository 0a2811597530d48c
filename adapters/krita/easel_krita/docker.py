"""The Easel docker: pick an operation, set its parameters, run it on the active layer or the
visible image (inside the selection or a painted mask), and get the result as a new layer.

The form is built from each operation's parameter schema, as the daemon describes it. Jobs run
in the daemon; the docker polls for progress with a timer, so Krita stays responsive, and the
document is touched only when a result arrives (one new layer, one undo step).
"""

from __future__ import annotations

import random

from krita import DockWidget, Krita
from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtGui import QFont, QStandardItem, QStandardItemModel
from PyQt5.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame,
                             QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                             QListWidgetItem, QProgressBar, QPushButton, QScrollArea, QSlider,
                             QSpinBox, QToolButton, QVBoxLayout, QWidget)

from . import kritadoc
from .jobs import JobRunner, Settings, connect
from .kritadoc import AdapterError, UnsupportedColorSpace

try:
    from .easel_client import EaselError
except ImportError:  # pragma: no cover
    from easel_client import EaselError

__all__ = ["EaselDocker", "DOCKER_ID", "document_key"]

DOCKER_ID = "easel_docker"
SEED_MAX = 2**31 - 1
# Results kept per document for the history list (their pixels stay in memory).
HISTORY_MAX = 12

SOURCE_LAYER, SOURCE_VISIBLE = "layer", "visible"
REGION_ALL, REGION_SELECTION, REGION_PAINTED = "all", "selection", "painted"


def document_key(doc) -> str:
    """A stable key for a document while it is open (its root node's unique id)."""
    return doc.rootNode().uniqueId().toString()


class ParamForm(QWidget):
    """Widgets for one operation's parameters, built from its schema."""

    def __init__(self, op: dict, values: dict | None = None, parent=None):
        super().__init__(parent)
        self.op = op
        self._getters: dict = {}
        self._setters: dict = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        values = values or {}
        for p in op.get("params") or []:
            name = p.get("name")
            if not name:
                continue
            widget = self._widget_for(p, values.get(name, p.get("default")))
            if widget is None:
                continue
            label = QLabel(p.get("title") or name)
            tip = p.get("description") or ""
            label.setToolTip(tip)
            widget.setToolTip(tip)
            form.addRow(label, widget)

    def _widget_for(self, p: dict, value):
        kind, name = p.get("kind"), p["name"]
        if kind == "int":
            lo, hi = int(p.get("min", 0)), int(p.get("max", 100))
            spin = QSpinBox()
            spin.setRange(lo, hi)
            spin.setObjectName(f"easel_param_{name}")
            slider = QSlider(Qt.Horizontal)
            slider.setRange(lo, hi)
            spin.valueChanged.connect(slider.setValue)
            slider.valueChanged.connect(spin.setValue)
            spin.setValue(int(value if value is not None else lo))
            self._getters[name] = spin.value
            self._setters[name] = lambda v, s=spin: s.setValue(int(v))
            return _row(slider, spin)
        if kind == "float":
            lo, hi = float(p.get("min", 0.0)), float(p.get("max", 1.0))
            step = float(p.get("step") or (hi - lo) / 100 or 0.01)
            spin = QDoubleSpinBox()
            decimals = max(0, min(6, len(f"{step:.6f}".rstrip("0").split(".")[1])))
            spin.setDecimals(decimals)
            spin.setRange(lo, hi)
            spin.setSingleStep(step)
            spin.setObjectName(f"easel_param_{name}")
            spin.setValue(float(value if value is not None else lo))
            self._getters[name] = spin.value
            self._setters[name] = lambda v, s=spin: s.setValue(float(v))
            steps = int(round((hi - lo) / step)) if step > 0 else 0
            if 0 < steps <= 10000:
                slider = QSlider(Qt.Horizontal)
                slider.setRange(0, steps)
                slider.setValue(int(round((spin.value() - lo) / step)))
                slider.valueChanged.connect(lambda i, s=spin: s.setValue(lo + i * step))
                spin.valueChanged.connect(
                    lambda v, sl=slider: sl.setValue(int(round((v - lo) / step))))
                return _row(slider, spin)
            return spin
        if kind == "bool":
            box = QCheckBox()
            box.setObjectName(f"easel_param_{name}")
            box.setChecked(bool(value))
            self._getters[name] = box.isChecked
            self._setters[name] = lambda v, b=box: b.setChecked(bool(v))
            return box
        if kind == "choice":
            combo = QComboBox()
            combo.setObjectName(f"easel_param_{name}")
            for opt in p.get("options") or []:
                combo.addItem(str(opt), opt)
            i = combo.findData(value)
            combo.setCurrentIndex(max(0, i))
            self._getters[name] = combo.currentData
            self._setters[name] = lambda v, c=combo: c.setCurrentIndex(max(0, c.findData(v)))
            return combo
        if kind == "seed":
            spin = QSpinBox()
            spin.setObjectName(f"easel_param_{name}")
            spin.setRange(0, SEED_MAX)
            spin.setSpecialValueText("random")
            spin.setValue(int(value or 0))
            dice = QToolButton()
            dice.setText("\N{GAME DIE}")
            dice.setToolTip("A new random seed (0 lets the daemon pick one each time)")
            dice.clicked.connect(lambda _=False, s=spin: s.setValue(random.randint(1, SEED_MAX)))
            self._getters[name] = spin.value
            self._setters[name] = lambda v, s=spin: s.setValue(int(v))
            return _row(spin, dice)
        return None  # a kind this version does not know: the daemon's default applies

    def values(self) -> dict:
        return {name: get() for name, get in self._getters.items()}

    def set_value(self, name: str, value) -> None:
        self._setters[name](value)


def _row(*widgets) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    for x in widgets:
        lay.addWidget(x)
    return w


class EaselDocker(DockWidget):
    """The Easel docker (one per Krita window)."""

    def __init__(self):
        super().__init__()
        self.setWindowTitle("Easel")
        self.settings = Settings.load()
        self.client = None
        self.operations: list[dict] = []
        self.runner: JobRunner | None = None
        self.pending: dict | None = None
        self.histories: dict[str, list[dict]] = {}
        self.param_memory: dict[str, dict] = {}
        self.form: ParamForm | None = None
        self.scribble_anchor: dict[str, str] = {}  # document -> the layer the mask was made over
        self.last_error = ""
        self.last_status = ""
        self._finishing = False
        self._build_ui()
        self._busy(False)
        self.visibilityChanged.connect(self._on_visible)

    # ------------------------------------------------------------------------------ the UI
    def _build_ui(self) -> None:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        body = QWidget()
        scroll.setWidget(body)
        v = QVBoxLayout(body)

        self.status = QLabel("Not connected to the Easel daemon yet.")
        self.status.setObjectName("easel_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        v.addWidget(self.status)

        top = QHBoxLayout()
        self.op_combo = QComboBox()
        self.op_combo.setObjectName("easel_operation")
        self.op_combo.setModel(QStandardItemModel(self.op_combo))
        self.op_combo.currentIndexChanged.connect(self._on_operation)
        top.addWidget(self.op_combo, 1)
        self.reconnect_btn = QToolButton()
        self.reconnect_btn.setText("\N{CLOCKWISE OPEN CIRCLE ARROW}")
        self.reconnect_btn.setToolTip("Reconnect to the daemon and reload its operations")
        self.reconnect_btn.clicked.connect(self.connect_daemon)
        top.addWidget(self.reconnect_btn)
        v.addLayout(top)

        self.op_help = QLabel()
        self.op_help.setWordWrap(True)
        small = self.op_help.font()
        small.setItalic(True)
        self.op_help.setFont(small)
        v.addWidget(self.op_help)

        self.form_box = QGroupBox("Parameters")
        self.form_layout = QVBoxLayout(self.form_box)
        v.addWidget(self.form_box)

        where = QGroupBox("Input")
        wf = QFormLayout(where)
        self.source_combo = QComboBox()
        self.source_combo.setObjectName("easel_source")
        self.source_combo.addItem("Active layer", SOURCE_LAYER)
        self.source_combo.addItem("Visible image", SOURCE_VISIBLE)
        wf.addRow("Source", self.source_combo)
        self.region_combo = QComboBox()
        self.region_combo.setObjectName("easel_region")
        self.region_combo.addItem("Whole image", REGION_ALL)
        self.region_combo.addItem("Selection (if any)", REGION_SELECTION)
        self.region_combo.addItem(f"Painted mask (\u201c{kritadoc.SCRIBBLE_LAYER}\u201d layer)",
                                  REGION_PAINTED)
        self.region_combo.setCurrentIndex(1)
        self.region_combo.currentIndexChanged.connect(self._on_region)
        self.scribble_btn = QPushButton("Paint mask")
        self.scribble_btn.setObjectName("easel_scribble")
        self.scribble_btn.setToolTip(f"Adds (or selects) a \u201c{kritadoc.SCRIBBLE_LAYER}\u201d "
                                     f"paint layer: paint over the region with any brush")
        self.scribble_btn.clicked.connect(self.start_scribble)
        wf.addRow("Region", _row(self.region_combo, self.scribble_btn))
        self.grow_spin = QSpinBox()
        self.grow_spin.setObjectName("easel_grow")
        self.grow_spin.setRange(-500, 500)
        self.grow_spin.setSuffix(" px")
        self.feather_spin = QDoubleSpinBox()
        self.feather_spin.setObjectName("easel_feather")
        self.feather_spin.setRange(0.0, 500.0)
        self.feather_spin.setSuffix(" px")
        self.invert_box = QCheckBox("Invert")
        self.invert_box.setObjectName("easel_invert")
        self.mods_row = _row(QLabel("Grow"), self.grow_spin, QLabel("Feather"),
                             self.feather_spin, self.invert_box)
        wf.addRow("", self.mods_row)
        v.addWidget(where)

        self.refs_box = QGroupBox("Reference layers")
        rl = QVBoxLayout(self.refs_box)
        self.refs_help = QLabel()
        self.refs_help.setWordWrap(True)
        rl.addWidget(self.refs_help)
        self.refs_list = QListWidget()
        self.refs_list.setObjectName("easel_references")
        self.refs_list.setMaximumHeight(110)
        rl.addWidget(self.refs_list)
        refresh = QPushButton("Refresh layers")
        refresh.clicked.connect(self.refresh_references)
        rl.addWidget(refresh)
        v.addWidget(self.refs_box)

        runrow = QHBoxLayout()
        self.run_btn = QPushButton("Run")
        self.run_btn.setObjectName("easel_run")
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn = QPushButton("Cancel")
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

        hist = QGroupBox("History (this document)")
        hl = QVBoxLayout(hist)
        self.history_list = QListWidget()
        self.history_list.setObjectName("easel_history")
        self.history_list.setMaximumHeight(120)
        hl.addWidget(self.history_list)
        self.reapply_btn = QPushButton("Re-apply")
        self.reapply_btn.setObjectName("easel_reapply")
        self.reapply_btn.setToolTip("Adds the selected result as a new layer again")
        self.reapply_btn.clicked.connect(self.reapply)
        self.compare_btn = QPushButton("Compare")
        self.compare_btn.setObjectName("easel_compare")
        self.compare_btn.setToolTip("Shows or hides the selected result's layer")
        self.compare_btn.clicked.connect(self.compare)
        hl.addWidget(_row(self.reapply_btn, self.compare_btn))
        v.addWidget(hist)

        daemon = QGroupBox("Daemon")
        daemon.setCheckable(True)
        daemon.setChecked(False)
        df = QFormLayout()
        dbody = QWidget()
        dbody.setLayout(df)
        dl = QVBoxLayout(daemon)
        dl.addWidget(dbody)
        daemon.toggled.connect(dbody.setVisible)
        dbody.setVisible(False)
        self.socket_edit = QLineEdit(self.settings.socket_path)
        self.socket_edit.setPlaceholderText("default ($XDG_RUNTIME_DIR/easel/easeld.sock)")
        self.daemon_edit = QLineEdit(self.settings.daemon_path)
        self.daemon_edit.setPlaceholderText("easeld on PATH")
        self.config_edit = QLineEdit(self.settings.daemon_config)
        self.config_edit.setPlaceholderText("default configuration")
        df.addRow("Socket", self.socket_edit)
        df.addRow("easeld", self.daemon_edit)
        df.addRow("Config", self.config_edit)
        apply_btn = QPushButton("Save and reconnect")
        apply_btn.clicked.connect(self._apply_settings)
        df.addRow("", apply_btn)
        v.addWidget(daemon)
        v.addStretch(1)
        self.setWidget(scroll)

    def _busy(self, busy: bool) -> None:
        self.run_btn.setEnabled(not busy and self._current_op() is not None)
        self.cancel_btn.setEnabled(busy)
        if not busy:
            self.progress.setValue(0)
            self.progress.setFormat("")

    def say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #d04040;" if error else "")
        self.last_error = text if error else ""
        self.last_status = text

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
            self.say("A job is running; cancel it before reconnecting.", error=True)
            return False
        if self.client is not None:
            self.client.close()
            self.client = None
        self.say("Connecting to the Easel daemon\N{HORIZONTAL ELLIPSIS}")
        try:
            self.client = connect(self.settings)
            ops = self.client.operations()
        except EaselError as e:
            self.client = None
            self.say(f"Cannot use the Easel daemon: {e.message}", error=True)
            self._set_operations([])
            return False
        except Exception as e:  # noqa: BLE001 - say it in the docker, never take Krita down
            self.client = None
            self.say(f"Cannot use the Easel daemon: {type(e).__name__}: {e}", error=True)
            self._set_operations([])
            return False
        self._set_operations(ops)
        self.say(f"Connected to {self.client.server or 'easeld'}: {len(ops)} operations.")
        self._refresh_document()
        return True

    def _ensure_client(self) -> bool:
        if self.client is not None and not self.client.closed:
            return True
        return self.connect_daemon()

    def _set_operations(self, ops: list[dict]) -> None:
        current = self.current_operation_id()
        self.operations = ops
        model: QStandardItemModel = self.op_combo.model()
        self.op_combo.blockSignals(True)
        model.clear()
        bold = QFont()
        bold.setBold(True)
        by_cat: dict[str, list[dict]] = {}
        for op in ops:
            by_cat.setdefault(op.get("category") or "Other", []).append(op)
        for cat in sorted(by_cat, key=lambda c: (c == "Testing", c.lower())):
            header = QStandardItem(cat)
            header.setFlags(Qt.NoItemFlags)
            header.setFont(bold)
            model.appendRow(header)
            for op in sorted(by_cat[cat], key=lambda o: (o.get("title") or o["id"]).lower()):
                item = QStandardItem("    " + (op.get("title") or op["id"]))
                item.setData(op["id"], Qt.UserRole)
                item.setToolTip(op.get("description") or "")
                model.appendRow(item)
        self.op_combo.blockSignals(False)
        if not (current and self.select_operation(current)):
            for i in range(model.rowCount()):
                if model.item(i).data(Qt.UserRole):
                    self.op_combo.setCurrentIndex(i)
                    break
        self._on_operation()

    def current_operation_id(self) -> str | None:
        return self.op_combo.currentData(Qt.UserRole)

    def _current_op(self) -> dict | None:
        oid = self.current_operation_id()
        return next((o for o in self.operations if o["id"] == oid), None)

    def select_operation(self, op_id: str) -> bool:
        i = self.op_combo.findData(op_id, Qt.UserRole)
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
        help_text = op.get("description") or ""
        if op.get("mask") == "required":
            help_text += " Needs a region: a selection or a painted mask."
        self.op_help.setText(help_text)
        self.form = ParamForm(op, self.param_memory.get(op["id"]))
        self.form_layout.addWidget(self.form)
        self.form_box.setVisible(bool(op.get("params")))
        self.refs_box.setVisible(int(op.get("max_references") or 0) > 0)
        lo, hi = int(op.get("min_references") or 0), int(op.get("max_references") or 0)
        self.refs_help.setText(f"Tick {lo} reference layer" + ("" if hi == 1 else
                               f"s (up to {hi})") + ".")
        self.refresh_references()
        self._busy(self.busy)

    def _on_region(self, *_):
        self.mods_row.setEnabled(self.region_combo.currentData() != REGION_ALL)

    # ------------------------------------------------------------------------------ layers
    def refresh_references(self) -> None:
        doc = self._document()
        checked = {self.refs_list.item(i).data(Qt.UserRole)
                   for i in range(self.refs_list.count())
                   if self.refs_list.item(i).checkState() == Qt.Checked}
        self.refs_list.clear()
        if doc is None:
            return
        for n in kritadoc.walk_layers(doc):
            if n.name() == kritadoc.SCRIBBLE_LAYER:
                continue
            uid = n.uniqueId().toString()
            item = QListWidgetItem(n.name())
            item.setData(Qt.UserRole, uid)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if uid in checked else Qt.Unchecked)
            self.refs_list.addItem(item)

    def set_reference_checked(self, layer_name: str, on: bool = True) -> bool:
        for i in range(self.refs_list.count()):
            item = self.refs_list.item(i)
            if item.text() == layer_name:
                item.setCheckState(Qt.Checked if on else Qt.Unchecked)
                return True
        return False

    def start_scribble(self) -> None:
        """Adds or selects the "Easel mask" layer and switches the region to it."""
        doc = self._document()
        if doc is None:
            self.say("Open an image first.", error=True)
            return
        active = doc.activeNode()
        key = document_key(doc)
        if active is not None and kritadoc.is_layer(active) \
                and active.name() != kritadoc.SCRIBBLE_LAYER:
            self.scribble_anchor[key] = active.uniqueId().toString()
        node = kritadoc.ensure_scribble_layer(doc, above=active)
        # A layer added this instant is not in the layer docker's model yet, and Krita ignores
        # activating it: activate it again once the event loop has caught up.
        for ms in (0, 150):
            QTimer.singleShot(ms, lambda d=doc, n=node: d.setActiveNode(n))
        self.region_combo.setCurrentIndex(self.region_combo.findData(REGION_PAINTED))
        self.say(f"Paint over the region on the \u201c{kritadoc.SCRIBBLE_LAYER}\u201d layer with "
                 f"any brush, then press Run.")

    def _source_layer(self, doc):
        """The layer to work on: the active one, but never the mask being painted."""
        node = doc.activeNode()
        if node is not None and node.name() == kritadoc.SCRIBBLE_LAYER:
            anchor = self.scribble_anchor.get(document_key(doc))
            found = kritadoc.node_by_id(doc, anchor) if anchor else None
            if found is not None:
                return found
            layers = [n for n in kritadoc.walk_layers(doc) if n.name() != kritadoc.SCRIBBLE_LAYER
                      and n.type() == "paintlayer"]
            return layers[0] if layers else None
        return node

    # ------------------------------------------------------------------------------ jobs
    def run(self) -> bool:
        """Sends the current operation; returns True if a job was started."""
        if self.busy:
            return False
        try:
            return self._run()
        except (AdapterError, UnsupportedColorSpace) as e:
            self.say(str(e), error=True)
        except EaselError as e:
            if self.client is not None and self.client.closed:
                self.client = None
            self.say(f"The daemon refused the job: {e.message}", error=True)
        except Exception as e:  # noqa: BLE001 - a message in the docker, never a crash
            self.say(f"Easel could not run: {type(e).__name__}: {e}", error=True)
        self._busy(False)
        return False

    def _run(self) -> bool:
        doc = self._document()
        if doc is None:
            raise AdapterError("Open an image first.")
        layout = kritadoc.document_layout(doc)
        if not self._ensure_client():
            return False
        op = self._current_op()
        if op is None:
            raise AdapterError("Choose an operation.")
        source = self.source_combo.currentData()
        node = self._source_layer(doc)
        scribble = kritadoc.find_scribble_layer(doc)
        region = self.region_combo.currentData()
        mask = None
        if region == REGION_SELECTION:
            # Like Krita's filters: the selection when there is one, else the whole image.
            mask = kritadoc.selection_mask(doc)
        elif region == REGION_PAINTED:
            if scribble is None:
                raise AdapterError(f"There is no \u201c{kritadoc.SCRIBBLE_LAYER}\u201d layer: "
                                   f"press \u201cPaint mask\u201d and paint the region.")
            mask = kritadoc.layer_alpha_mask(doc, scribble)
            if mask is None:
                raise AdapterError(f"The \u201c{kritadoc.SCRIBBLE_LAYER}\u201d layer is empty: "
                                   f"paint over the region first.")
        if op.get("mask") == "required" and mask is None:
            raise AdapterError(f"\u201c{op.get('title') or op['id']}\u201d needs a region: select "
                               f"it or paint it (Paint mask).")
        refs_nodes = []
        for i in range(self.refs_list.count()):
            item = self.refs_list.item(i)
            if item.checkState() == Qt.Checked and self.refs_box.isVisible():
                n = kritadoc.node_by_id(doc, item.data(Qt.UserRole))
                if n is not None:
                    refs_nodes.append(n)
        lo, hi = int(op.get("min_references") or 0), int(op.get("max_references") or 0)
        if not lo <= len(refs_nodes) <= hi:
            raise AdapterError(f"\u201c{op.get('title') or op['id']}\u201d takes {lo}"
                               + (f" to {hi}" if hi != lo else "")
                               + f" reference layer(s); {len(refs_nodes)} ticked.")
        if source == SOURCE_LAYER:
            if node is None:
                raise AdapterError("Choose a layer to work on.")
            kritadoc.node_layout(node)  # refuses a layer in a colour space Easel cannot take
        image, src_layout = kritadoc.read_image(doc, node, source, hide=(scribble,))
        refs = [kritadoc.read_image(doc, n, SOURCE_LAYER)[0] for n in refs_nodes]
        params = self.form.values() if self.form is not None else {}
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
        if above is not None and above.name() == kritadoc.SCRIBBLE_LAYER:
            above = node
        self.pending = {"doc_key": document_key(doc), "doc": doc, "layout": src_layout,
                        "above": above.uniqueId().toString() if above is not None else None,
                        "op": op["id"], "params": params, "job": job}
        self.runner = JobRunner(self.client, job, self)
        self.runner.progressed.connect(self._on_progress)
        self.runner.succeeded.connect(self._on_result)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.failed.connect(self._on_failed)
        self._busy(True)
        self.progress.setFormat("queued")
        self.say(f"Running \u201c{op.get('title') or op['id']}\u201d\N{HORIZONTAL ELLIPSIS}")
        return True

    def cancel(self) -> None:
        if self.runner is not None and not self.runner.done:
            self.say("Cancelling\N{HORIZONTAL ELLIPSIS}")
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
            self.say("The result arrived after its document was closed; it was dropped.",
                     error=True)
            return
        layout = pending["layout"]
        if info["format"] != layout.format:
            self.say(f"The daemon answered {info['format']} instead of {layout.format}; the "
                     f"result was dropped.", error=True)
            return
        above = kritadoc.node_by_id(doc, pending["above"]) if pending["above"] else None
        name = info["name"] or pending["op"]
        self.progress.setFormat("adding the layer")
        try:
            node = kritadoc.add_result_layer(doc, info["data"], info["x"], info["y"],
                                             info["width"], info["height"], layout, name, above)
        except Exception as e:  # noqa: BLE001
            self.say(f"Could not add the result layer: {type(e).__name__}: {e}", error=True)
            return
        entry = {"name": name, "op": pending["op"], "params": pending["params"],
                 "x": info["x"], "y": info["y"], "width": info["width"],
                 "height": info["height"], "layout": layout, "data": info["data"],
                 "node": node.uniqueId().toString(), "seed": info.get("seed"),
                 "elapsed_ms": info.get("elapsed_ms")}
        hist = self.histories.setdefault(pending["doc_key"], [])
        hist.append(entry)
        del hist[:-HISTORY_MAX]
        self._refresh_history()
        ms = info.get("elapsed_ms")
        self.say(f"Added \u201c{name}\u201d" + (f" ({ms} ms)." if ms is not None else "."))

    def _on_cancelled(self) -> None:
        self.pending = None
        self._busy(False)
        self.say("Cancelled; the document was not changed.")

    def _on_failed(self, message: str, code: str) -> None:
        self.pending = None
        self._busy(False)
        if code == "unavailable":
            if self.client is not None:
                self.client.close()
            self.client = None
            self.say(f"{message} The document was not changed. Run again to restart the daemon.",
                     error=True)
        else:
            self.say(f"The operation failed ({code}): {message} The document was not changed.",
                     error=True)

    # ------------------------------------------------------------------------------ history
    def history(self, doc=None) -> list[dict]:
        doc = doc or self._document()
        return self.histories.get(document_key(doc), []) if doc is not None else []

    def _refresh_history(self) -> None:
        self.history_list.clear()
        for i, e in enumerate(self.history()):
            item = QListWidgetItem(f"{e['name']}  \u2014 {e['width']}\u00d7{e['height']} at "
                                   f"{e['x']},{e['y']}")
            item.setData(Qt.UserRole, i)
            self.history_list.addItem(item)
        if self.history_list.count():
            self.history_list.setCurrentRow(self.history_list.count() - 1)

    def _selected_entry(self):
        item = self.history_list.currentItem()
        hist = self.history()
        if item is None or not hist:
            return None
        i = item.data(Qt.UserRole)
        return hist[i] if 0 <= i < len(hist) else None

    def reapply(self) -> None:
        """Adds the selected result again, as a new layer above the active one."""
        doc, e = self._document(), self._selected_entry()
        if doc is None or e is None:
            return
        try:
            node = kritadoc.add_result_layer(doc, e["data"], e["x"], e["y"], e["width"],
                                             e["height"], e["layout"], e["name"], doc.activeNode())
        except Exception as ex:  # noqa: BLE001
            self.say(f"Could not add the layer: {type(ex).__name__}: {ex}", error=True)
            return
        e["node"] = node.uniqueId().toString()
        self.say(f"Added \u201c{e['name']}\u201d again.")

    def compare(self) -> None:
        """Shows or hides the selected result's layer (before/after)."""
        doc, e = self._document(), self._selected_entry()
        if doc is None or e is None:
            return
        node = kritadoc.node_by_id(doc, e["node"])
        if node is None:
            self.say("That result's layer is gone (undone or deleted); Re-apply adds it again.",
                     error=True)
            return
        node.setVisible(not node.visible())
        doc.refreshProjection()
        self.say(f"\u201c{e['name']}\u201d is {'shown' if node.visible() else 'hidden'}.")
