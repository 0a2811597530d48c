"""easel_client: the Python client of the Easel protocol (standard library only).

Used by the Krita and GIMP adapters, inside their embedded interpreters (Python 3.11+, Linux).
Pixels travel as shared memory (memfd descriptors over the Unix socket) or inline::

    from easel_client import Client, Image, SharedBuffer
    with Client.connect() as c:                      # starts easeld if needed
        buf = SharedBuffer(w * h * 4)                 # write the layer's pixels once, here
        buf.buf[:] = pixels
        res = c.run("remove-background", Image(w, h, "rgba8", buf), params={"model": "u2netp"})
        new_layer_pixels = res.tobytes()              # res.x, res.y place it in the document
"""

from .client import (CLIENT_NAME, PROTOCOL_VERSION, Client, FrameDropped, FrameError, Result,
                     Stream, StreamFrame)
from .daemon import default_socket_path
from .errors import DaemonUnavailable, EaselError, ProtocolError
from .images import FORMATS, Image, SharedBuffer, bytes_per_pixel

__version__ = "0.1.0"

__all__ = ["Client", "Stream", "Result", "StreamFrame", "FrameDropped", "FrameError", "Image",
           "SharedBuffer", "EaselError", "DaemonUnavailable", "ProtocolError", "FORMATS",
           "bytes_per_pixel", "default_socket_path", "PROTOCOL_VERSION", "CLIENT_NAME"]
