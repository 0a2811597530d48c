"""The parameter form of one operation, built from its schema (Qt only: no Krita import, so it
is tested under PyQt5 and PyQt6 outside Krita).

Choices show their titles (the schema's ``option_titles`` or easel_client.labels' list), a
parameter shows only where it does something (``applies_when``), the seed has a dice button, a
text parameter (a prompt) is a text box: several lines where the schema says ``multiline``, at
most ``max_len`` characters. Parameters the docker fills itself (``managed``, such as a
generative operation's ``conversation``) get no widget.
"""

from __future__ import annotations

import random

from .i18n import i18n
from .qt import (QColor, QDoubleSpinBox, QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QIcon,
                 QLabel, QLineEdit, QPainter, QPixmap, QPlainTextEdit, QSizePolicy, QSlider,
                 QSpinBox, Qt, QToolButton, QWidget)

try:
    from .easel_client import labels
except ImportError:  # pragma: no cover - development: easel_client on sys.path
    from easel_client import labels

__all__ = ["ParamForm", "SEED_MAX", "dice_icon", "row"]

SEED_MAX = 2**31 - 1


def dice_icon(size: int = 32) -> QIcon:
    """A die showing five, drawn (Krita's icon set has no die)."""
    pm = QPixmap(size, size)
    pm.fill(QColor(0, 0, 0, 0))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    m = size * 0.1
    p.setPen(QColor(40, 40, 40))
    p.setBrush(QColor(235, 235, 235))
    p.drawRoundedRect(int(m), int(m), int(size - 2 * m), int(size - 2 * m), size * 0.18,
                      size * 0.18)
    p.setBrush(QColor(30, 30, 30))
    p.setPen(Qt.PenStyle.NoPen)
    r = size * 0.08
    for fx, fy in ((0.3, 0.3), (0.7, 0.3), (0.5, 0.5), (0.3, 0.7), (0.7, 0.7)):
        p.drawEllipse(int(fx * size - r), int(fy * size - r), int(2 * r), int(2 * r))
    p.end()
    return QIcon(pm)


def row(*widgets) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    for x in widgets:
        lay.addWidget(x)
    return w


class ParamForm(QWidget):
    """Widgets for one operation's parameters, built from its schema."""

    def __init__(self, op: dict, values: dict | None = None, parent=None, managed=()):
        super().__init__(parent)
        self.op = op
        self._getters: dict = {}
        self._setters: dict = {}
        self._rows: dict = {}  # name -> (label, widget)
        self._params = {p.get("name"): p for p in op.get("params") or [] if p.get("name")}
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        values = values or {}
        for name, p in self._params.items():
            if name in managed:
                continue
            widget = self._widget_for(p, values.get(name, p.get("default")))
            if widget is None:
                continue
            label = QLabel(labels.title(p.get("title") or name))
            tip = labels.sentence(p.get("description") or "")
            label.setToolTip(tip)
            widget.setToolTip(tip)
            label.setBuddy(widget)
            self.form.addRow(label, widget)
            self._rows[name] = (label, widget)
        self.update_applicable()

    def _changed(self, *_):
        self.update_applicable()

    def _widget_for(self, p: dict, value):
        kind, name = p.get("kind"), p["name"]
        if kind == "int":
            lo, hi = int(p.get("min", 0)), int(p.get("max", 100))
            spin = QSpinBox()
            spin.setRange(lo, hi)
            spin.setObjectName(f"easel_param_{name}")
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(lo, hi)
            slider.setMinimumWidth(40)
            spin.valueChanged.connect(slider.setValue)
            slider.valueChanged.connect(spin.setValue)
            spin.setValue(int(value if value is not None else lo))
            spin.valueChanged.connect(self._changed)
            self._getters[name] = spin.value
            self._setters[name] = lambda v, s=spin: s.setValue(int(v))
            return row(slider, spin)
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
            spin.valueChanged.connect(self._changed)
            self._getters[name] = spin.value
            self._setters[name] = lambda v, s=spin: s.setValue(float(v))
            steps = int(round((hi - lo) / step)) if step > 0 else 0
            if 0 < steps <= 10000:
                slider = QSlider(Qt.Orientation.Horizontal)
                slider.setMinimumWidth(40)
                slider.setRange(0, steps)
                slider.setValue(int(round((spin.value() - lo) / step)))
                slider.valueChanged.connect(lambda i, s=spin: s.setValue(lo + i * step))
                spin.valueChanged.connect(
                    lambda v, sl=slider: sl.setValue(int(round((v - lo) / step))))
                return row(slider, spin)
            return spin
        if kind == "bool":
            box = QCheckBox()
            box.setObjectName(f"easel_param_{name}")
            box.setChecked(bool(value))
            box.toggled.connect(self._changed)
            self._getters[name] = box.isChecked
            self._setters[name] = lambda v, b=box: b.setChecked(bool(v))
            return box
        if kind == "choice":
            combo = QComboBox()
            combo.setObjectName(f"easel_param_{name}")
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
            combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            for opt, text in zip(p.get("options") or [], labels.option_titles(p)):
                combo.addItem(text, opt)
                combo.setItemData(combo.count() - 1, str(opt), Qt.ItemDataRole.ToolTipRole)
            i = combo.findData(value)
            combo.setCurrentIndex(max(0, i))
            combo.currentIndexChanged.connect(self._changed)
            self._getters[name] = combo.currentData
            self._setters[name] = lambda v, c=combo: c.setCurrentIndex(max(0, c.findData(v)))
            return combo
        if kind == "seed":
            spin = QSpinBox()
            spin.setObjectName(f"easel_param_{name}")
            spin.setRange(0, SEED_MAX)
            spin.setSpecialValueText(i18n("random"))
            spin.setValue(int(value or 0))
            dice = QToolButton()
            dice.setObjectName(f"easel_dice_{name}")
            dice.setIcon(dice_icon())
            dice.setAutoRaise(True)
            dice.setToolTip(i18n("A new random seed (0 lets the daemon pick one each time)."))
            dice.clicked.connect(lambda _=False, s=spin: s.setValue(random.randint(1, SEED_MAX)))
            self._getters[name] = spin.value
            self._setters[name] = lambda v, s=spin: s.setValue(int(v))
            return row(spin, dice)
        if kind == "text":
            return self._text_widget(p, value)
        return None  # a kind this version does not know: the daemon's default applies

    def _text_widget(self, p: dict, value):
        name = p["name"]
        max_len = int(p.get("max_len") or 0)
        text = str(value or "")
        if max_len > 0:
            text = text[:max_len]
        if not p.get("multiline"):
            edit = QLineEdit()
            edit.setObjectName(f"easel_param_{name}")
            if max_len > 0:
                edit.setMaxLength(max_len)
            edit.setText(text)
            edit.textChanged.connect(self._changed)
            self._getters[name] = edit.text
            self._setters[name] = lambda v, e=edit: e.setText(str(v))
            return edit
        edit = QPlainTextEdit()
        edit.setObjectName(f"easel_param_{name}")
        edit.setTabChangesFocus(True)
        edit.setPlaceholderText(labels.sentence(p.get("description") or ""))
        line = edit.fontMetrics().lineSpacing()
        edit.setMinimumHeight(3 * line + 12)
        edit.setMaximumHeight(6 * line + 12)
        edit.setPlainText(text)

        def clip(e=edit):
            # QPlainTextEdit has no maximum length: cut what goes past it (a paste).
            t = e.toPlainText()
            if max_len > 0 and len(t) > max_len:
                cur = e.textCursor()
                pos = min(cur.position(), max_len)
                e.blockSignals(True)
                e.setPlainText(t[:max_len])
                e.blockSignals(False)
                cur = e.textCursor()
                cur.setPosition(pos)
                e.setTextCursor(cur)
            self._changed()
        edit.textChanged.connect(clip)
        self._getters[name] = edit.toPlainText
        self._setters[name] = lambda v, e=edit: e.setPlainText(str(v)[:max_len] if max_len > 0
                                                                 else str(v))
        return edit

    def update_applicable(self) -> None:
        """Shows only the parameters that do something with the current values."""
        vals = {n: g() for n, g in self._getters.items()}
        for name, (label, widget) in self._rows.items():
            on = labels.applies(self.op, self._params[name], vals)
            label.setVisible(on)
            widget.setVisible(on)

    def shown(self, name: str) -> bool:
        r = self._rows.get(name)
        return bool(r) and not r[1].isHidden()

    def values(self) -> dict:
        """The values to send: parameters that do not apply are left to the daemon's default."""
        vals = {name: get() for name, get in self._getters.items()}
        return {n: v for n, v in vals.items()
                if labels.applies(self.op, self._params[n], vals)}

    def set_value(self, name: str, value) -> None:
        self._setters[name](value)
