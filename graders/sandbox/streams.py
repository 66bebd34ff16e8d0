"""A worker's output, read in threads: the first N bytes kept, floods reported."""
from __future__ import annotations

import os
import threading

# Segments nobody has taken yet: one per request is the worker's; a student's process that
# prints the marker itself (it can find it) would otherwise grow the list without end.
MAX_SEGMENTS = 1000


class Stream(threading.Thread):
    """Reads one pipe; splits it into per-call segments at the worker's end-of-call marker."""

    def __init__(self, fd: int, marker: bytes, keep: int, flood: int, on_flood):
        super().__init__(daemon=True)
        self.fd, self.marker, self.keep, self.flood, self.on_flood = fd, marker, keep, flood, on_flood
        self.cond = threading.Condition()
        self.segments: list[tuple[bytes, int]] = []
        self._buf, self._total, self._tail = bytearray(), 0, b""
        self.start()

    def run(self):
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            data = self._tail + chunk
            while (i := data.find(self.marker)) >= 0:
                self._add(data[:i])
                with self.cond:
                    if len(self.segments) < MAX_SEGMENTS:
                        self.segments.append((bytes(self._buf), self._total))
                    elif len(self.segments) == MAX_SEGMENTS:
                        self.segments.append((b"", 0))
                        self.on_flood(f"printed the end-of-output marker more than {MAX_SEGMENTS} times")
                    self._buf, self._total = bytearray(), 0
                    self.cond.notify_all()
                data = data[i + len(self.marker):]
            keep_back = len(self.marker) - 1
            self._add(data[:-keep_back] if len(data) > keep_back else b"")
            self._tail = data[-keep_back:] if len(data) > keep_back else data
        self._add(self._tail)
        self._tail = b""
        os.close(self.fd)
        with self.cond:
            self.cond.notify_all()

    def _add(self, data: bytes):
        if not data:
            return
        room = self.keep - len(self._buf)
        if room > 0:
            self._buf += data[:room]
        self._total += len(data)
        if self._total > self.flood:
            self.on_flood()

    def next_segment(self, timeout: float) -> tuple[bytes, int]:
        with self.cond:
            self.cond.wait_for(lambda: self.segments or not self.is_alive(), timeout)
            if self.segments:
                return self.segments.pop(0)
        return self.rest()

    def rest(self) -> tuple[bytes, int]:
        """Everything not yet taken (all segments and the unfinished one), first bytes kept."""
        with self.cond:
            parts = self.segments + [(bytes(self._buf), self._total)]
            self.segments, self._buf, self._total = [], bytearray(), 0
        return b"".join(p[0] for p in parts)[:self.keep], sum(p[1] for p in parts)


def stream_text(data: bytes, total: int) -> str:
    text = data.decode("utf-8", errors="replace")
    if total > len(data):
        text += f"\n[... output truncated: {total - len(data)} more bytes were dropped]\n"
    return text
