"""Errors raised by easel_client: the protocol's stable error codes, and connection problems."""

from __future__ import annotations

__all__ = ["EaselError", "DaemonUnavailable", "ProtocolError"]


class EaselError(Exception):
    """An error answered by the daemon (or found by the client before asking it).

    ``code`` is one of the protocol's stable codes (``invalid_params``, ``cancelled``,
    ``plugin_crashed``...), ``fault`` says who is at fault (``caller``, ``plugin``, ``model``,
    ``limits``, ``environment``, ``user``, ``daemon``), ``job`` the job it concerns if any, and
    ``reply`` the daemon's whole error message (a dict) when it came from the daemon.
    """

    def __init__(self, code: str, message: str, fault: str | None = None, job: int | None = None,
                 reply: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fault = fault
        self.job = job
        self.reply = reply

    @classmethod
    def from_reply(cls, msg: dict) -> "EaselError":
        return cls(str(msg.get("code", "internal")), str(msg.get("message", "(no message)")),
                   msg.get("fault"), msg.get("job"), msg)


class DaemonUnavailable(EaselError):
    """The daemon cannot be reached: not running and not started, or the connection dropped."""

    def __init__(self, message: str):
        super().__init__("unavailable", message, "environment")


class ProtocolError(EaselError):
    """The daemon sent something the protocol does not allow (a daemon bug, or another program)."""

    def __init__(self, message: str):
        super().__init__("protocol", message, "daemon")
