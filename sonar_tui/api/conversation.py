"""What is being asked: the question, the earlier turns, image attachments, and settings."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sonar_tui.api.settings import RequestSettings

# The API takes PNG/JPEG/WEBP/GIF as data URIs up to 50 MB. Data URIs are base64 (4/3 larger),
# so the raw file limit is kept comfortably below that.
IMAGE_LIMIT_BYTES = 30 * 1024 * 1024
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class AttachmentError(ValueError):
    """An image the API would refuse: wrong type, too big, unreadable."""


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type from the file's first bytes (never from its name)."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    mime: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    @classmethod
    def from_path(cls, path: str | Path) -> Attachment:
        path = Path(path).expanduser()
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise AttachmentError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if not path.is_file():
            raise AttachmentError(f"{path} is not a file")
        if size > IMAGE_LIMIT_BYTES:
            raise AttachmentError(
                f"{path.name} is {size / 1048576:.1f} MB; images must be under "
                f"{IMAGE_LIMIT_BYTES // 1048576} MB")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AttachmentError(f"cannot read {path}: {exc.strerror or exc}") from exc
        mime = sniff_image_type(data)
        if mime is None:
            raise AttachmentError(f"{path.name} is not a PNG, JPEG, WEBP or GIF image")
        return cls(path.name, mime, data)


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message of the thread, as sent back to the service."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(slots=True)
class AskRequest:
    question: str
    settings: RequestSettings = field(default_factory=RequestSettings)
    history: list[Turn] = field(default_factory=list)  # oldest first; completed turns only
    attachments: list[Attachment] = field(default_factory=list)
    conversation_id: str | None = None  # sent as X-Conversation-Id when enabled
    stream: bool = True
    # The Agent API answer this question follows: sent instead of the history when set (the
    # client falls back to the history if the service refuses it). Chat completions ignore it.
    previous_response_id: str | None = None


def continuation_endpoint(base_url: str) -> str:
    """What a response id is valid for: the base URL's scheme, host, port and path, without
    credentials, query or fragment (so nothing secret is ever stored); "" when unusable."""
    try:
        parts = urlsplit(base_url.strip())
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    if not parts.scheme or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return f"{parts.scheme.lower()}://{host}{f':{port}' if port else ''}{parts.path.rstrip('/')}"


def fold_turns(history: list[Turn], question: str) -> list[Turn]:
    """The conversation as the APIs accept it, ending with ``question`` as a user turn.

    Sonar refuses anything but user/assistant strictly alternating after the system prompt,
    ending with user (400 ``invalid_message``). A stored thread can break that (a failed answer
    leaves two user turns in a row, an edit empties a turn), so rather than fail the user's
    question: empty turns are dropped, consecutive turns of one role are merged, and leading
    assistant turns are dropped. A trailing user turn absorbs the question.
    """
    folded: list[Turn] = []
    for turn in [*history, Turn("user", question)]:
        if turn.role not in ("user", "assistant") or not turn.content.strip():
            continue
        if not folded and turn.role != "user":
            continue
        if folded and folded[-1].role == turn.role:
            folded[-1] = Turn(turn.role, f"{folded[-1].content}\n\n{turn.content}")
        else:
            folded.append(turn)
    return folded


__all__ = ["AskRequest", "Attachment", "AttachmentError", "IMAGE_LIMIT_BYTES", "Turn",
           "continuation_endpoint", "fold_turns", "sniff_image_type"]
