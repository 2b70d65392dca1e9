"""Reading an export document (``ThreadData.to_dict()``) back into records, strictly.

An import file comes from anywhere, so every field is checked and a refusal names the field
(``messages[3].sources[0].url: expected a string``). Nothing here touches the database.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import time
from collections.abc import Mapping
from typing import Any, get_args

from sonar_tui.store import codec
from sonar_tui.store.errors import StoreImportError
from sonar_tui.store.models import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    AttachmentRecord,
    MessageRecord,
    MessageStatus,
    ThreadData,
    ThreadRecord,
)

_STATUSES = frozenset(get_args(MessageStatus))
_UID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def parse_export(data: Any) -> ThreadData:
    if not isinstance(data, Mapping):
        raise StoreImportError("not a sonar-tui thread export: expected a JSON object")
    if data.get("format") != EXPORT_FORMAT:
        raise StoreImportError(
            f"not a sonar-tui thread export (format {data.get('format')!r}, "
            f"expected {EXPORT_FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StoreImportError(f"export version {version!r} is not valid")
    if version > EXPORT_VERSION:
        raise StoreImportError(
            f"this export is version {version}, newer than this sonar-tui reads "
            f"({EXPORT_VERSION}); upgrade sonar-tui to import it")
    reader = _Reader()
    thread = reader.thread(_mapping(data.get("thread"), "thread"))
    messages_raw = data.get("messages")
    if not isinstance(messages_raw, list):
        raise StoreImportError("messages: expected a list")
    messages = [reader.message(_mapping(m, f"messages[{i}]"), f"messages[{i}]")
                for i, m in enumerate(messages_raw)]
    return ThreadData(thread=thread, messages=messages)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise StoreImportError(f"{where}: expected an object")
    return value


class _Reader:
    def thread(self, d: Mapping[str, Any]) -> ThreadRecord:
        uid = d.get("uid")
        if not (isinstance(uid, str) and _UID.fullmatch(uid)):
            raise StoreImportError(f"thread.uid: expected an identifier, got {uid!r}")
        now = time.time()
        created = self.number(d.get("created_at"), "thread.created_at", default=now)
        return ThreadRecord(
            id=0,
            uid=uid,
            title=self.text(d.get("title"), "thread.title"),
            created_at=created,
            updated_at=self.number(d.get("updated_at"), "thread.updated_at", default=created),
            pinned=bool(d.get("pinned", False)),
            overrides=dict(self.obj(d.get("overrides"), "thread.overrides") or {}),
            last_api=self.opt_text(d.get("last_api"), "thread.last_api"),
            last_model=self.opt_text(d.get("last_model"), "thread.last_model"),
        )

    def message(self, d: Mapping[str, Any], where: str) -> MessageRecord:
        role = d.get("role")
        if role not in ("user", "assistant"):
            raise StoreImportError(f"{where}.role: expected 'user' or 'assistant', got {role!r}")
        status = d.get("status", "complete")
        if status not in _STATUSES:
            raise StoreImportError(f"{where}.status: unknown status {status!r}")
        if status == "streaming":
            status = "interrupted"  # exported mid-stream: nobody will ever finish it here
        cost = d.get("cost")
        return MessageRecord(
            id=0,
            thread_id=0,
            role=role,
            content=self.text(d.get("content"), f"{where}.content"),
            status=status,
            reasoning=self.text(d.get("reasoning"), f"{where}.reasoning"),
            steps=[self.required_obj(s, f"{where}.steps[{i}]")
                   for i, s in enumerate(self.seq(d.get("steps"), f"{where}.steps"))],
            error=self.obj(d.get("error"), f"{where}.error"),
            model=self.opt_text(d.get("model"), f"{where}.model"),
            api=self.opt_text(d.get("api"), f"{where}.api"),
            settings=dict(self.obj(d.get("settings"), f"{where}.settings") or {}),
            usage=self.obj(d.get("usage"), f"{where}.usage"),
            cost=None if cost is None else self.number(cost, f"{where}.cost"),
            finish_reason=self.opt_text(d.get("finish_reason"), f"{where}.finish_reason"),
            created_at=self.number(d.get("created_at"), f"{where}.created_at", default=time.time()),
            finished_at=(None if d.get("finished_at") is None
                         else self.number(d.get("finished_at"), f"{where}.finished_at")),
            sources=[self.source(s, f"{where}.sources[{i}]")
                     for i, s in enumerate(self.seq(d.get("sources"), f"{where}.sources"))],
            related=[self.text(q, f"{where}.related[{i}]")
                     for i, q in enumerate(self.seq(d.get("related"), f"{where}.related"))],
            images=[self.image(s, f"{where}.images[{i}]")
                    for i, s in enumerate(self.seq(d.get("images"), f"{where}.images"))],
            attachments=[self.attachment(a, f"{where}.attachments[{i}]") for i, a in
                         enumerate(self.seq(d.get("attachments"), f"{where}.attachments"))],
            response_id=self.opt_text(d.get("response_id"), f"{where}.response_id"),
            response_endpoint=self.opt_text(d.get("response_endpoint"),
                                            f"{where}.response_endpoint"),
        )

    def source(self, value: Any, where: str) -> dict[str, Any]:
        d = _mapping(value, where)
        number = d.get("number")
        if not isinstance(number, int) or isinstance(number, bool):
            raise StoreImportError(f"{where}.number: expected an integer")
        return {
            "number": number,
            "url": self.text(d.get("url"), f"{where}.url", required=True),
            "title": self.text(d.get("title"), f"{where}.title"),
            **{key: self.opt_text(d.get(key), f"{where}.{key}")
               for key in ("date", "last_updated", "snippet", "origin")},
        }

    def image(self, value: Any, where: str) -> dict[str, Any]:
        d = _mapping(value, where)
        return {
            "url": self.text(d.get("url"), f"{where}.url", required=True),
            "origin_url": self.opt_text(d.get("origin_url"), f"{where}.origin_url"),
            "width": self.opt_int(d.get("width"), f"{where}.width"),
            "height": self.opt_int(d.get("height"), f"{where}.height"),
            "title": self.opt_text(d.get("title"), f"{where}.title"),
        }

    def attachment(self, value: Any, where: str) -> AttachmentRecord:
        d = _mapping(value, where)
        data = None
        encoded = d.get("data_base64")
        if encoded is not None:
            try:
                data = base64.b64decode(self.text(encoded, f"{where}.data_base64"), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise StoreImportError(f"{where}.data_base64: not valid base64") from exc
        size = self.opt_int(d.get("size"), f"{where}.size")
        return AttachmentRecord(
            name=self.text(d.get("name"), f"{where}.name", required=True),
            mime=self.text(d.get("mime"), f"{where}.mime", required=True),
            size=len(data) if data is not None else (size or 0),
            sha256=self.text(d.get("sha256"), f"{where}.sha256"),
            data=data,
        )

    # -- scalars
    @staticmethod
    def text(value: Any, where: str, *, required: bool = False) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str):
            raise StoreImportError(f"{where}: expected a string")
        return codec.text(value)  # JSON allows "\ud800"; UTF-8 (and SQLite) does not

    def opt_text(self, value: Any, where: str) -> str | None:
        return None if value is None else self.text(value, where)

    @staticmethod
    def number(value: Any, where: str, default: float | None = None) -> float:
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise StoreImportError(f"{where}: expected a number")
        return float(value)

    @staticmethod
    def opt_int(value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise StoreImportError(f"{where}: expected an integer")
        return value

    @staticmethod
    def seq(value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise StoreImportError(f"{where}: expected a list")
        return value

    @staticmethod
    def required_obj(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise StoreImportError(f"{where}: expected an object")
        return dict(value)

    @staticmethod
    def obj(value: Any, where: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise StoreImportError(f"{where}: expected an object")
        return dict(value)
