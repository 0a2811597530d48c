"""PyQt5 / PyQt6 in one place (Krita 5 is Qt 5, Krita 6 is Qt 6), as Krita's own scripter does.

The plug-in's modules import Qt only from here and write enums in their scoped form
(``Qt.ItemDataRole.UserRole``), which both bindings accept. The binding is the one already loaded
(Krita's ``krita`` module loads its own), else the one EASEL_QT names ("5" or "6"), else PyQt5,
then PyQt6.
"""

from __future__ import annotations

import os
import sys


def _pick() -> str:
    for name in ("PyQt6", "PyQt5"):
        if name + ".QtCore" in sys.modules:
            return name
    want = os.environ.get("EASEL_QT", "")
    order = ["PyQt6", "PyQt5"] if want == "6" else ["PyQt5", "PyQt6"]
    for name in order:
        try:
            __import__(name + ".QtCore")
            return name
        except ImportError:
            continue
    raise ImportError("Easel for Krita needs PyQt5 or PyQt6")


BINDING = _pick()
QT6 = BINDING == "PyQt6"

if QT6:
    from PyQt6 import QtCore, QtGui, QtWidgets  # noqa: F401
    from PyQt6.QtCore import QByteArray, QBuffer, QEvent, QIODevice, QObject, QPoint, QRect, \
        QSize, Qt, QTimer, pyqtSignal  # noqa: F401
    from PyQt6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPixmap, QStandardItem, \
        QStandardItemModel  # noqa: F401
    from PyQt6.QtWidgets import QApplication, QCheckBox, QComboBox, QDoubleSpinBox, \
        QFormLayout, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, \
        QListWidget, QListWidgetItem, QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSizePolicy, \
        QSlider, QSpinBox, QToolButton, QVBoxLayout, QWidget  # noqa: F401
else:
    from PyQt5 import QtCore, QtGui, QtWidgets  # noqa: F401
    from PyQt5.QtCore import QByteArray, QBuffer, QEvent, QIODevice, QObject, QPoint, QRect, \
        QSize, Qt, QTimer, pyqtSignal  # noqa: F401
    from PyQt5.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPixmap, QStandardItem, \
        QStandardItemModel  # noqa: F401
    from PyQt5.QtWidgets import QApplication, QCheckBox, QComboBox, QDoubleSpinBox, \
        QFormLayout, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, \
        QListWidget, QListWidgetItem, QPlainTextEdit, QProgressBar, QPushButton, QScrollArea, QSizePolicy, \
        QSlider, QSpinBox, QToolButton, QVBoxLayout, QWidget  # noqa: F401


def exec_(obj):
    """``exec()`` (Qt 6) or ``exec_()`` (Qt 5) of a dialog, menu or application."""
    return obj.exec() if QT6 else obj.exec_()


def image_format_rgba8():
    return QImage.Format.Format_RGBA8888


def qbytes(data) -> bytes:
    """bytes from a QByteArray (or anything bytes-like)."""
    return bytes(data.data()) if isinstance(data, QByteArray) else bytes(data)
