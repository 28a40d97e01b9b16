"""The lifetime every handle-owning wrapper shares: close() once, context manager, close on collection."""
from __future__ import annotations


class Closing:
    """close() on leaving a `with` block and when collected; subclasses define close() (idempotent)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class OwnedHandle(Closing):
    """Subclasses set `self._handle` and define `_free` as a class attribute holding the C free function
    (bound at class definition time, so __del__ still works during interpreter shutdown)."""

    _handle = None
    _free = None

    def close(self) -> None:
        """Releases the handle (idempotent). Must not race with a call using it."""
        handle, self._handle = self._handle, None
        if handle is not None:
            type(self)._free(handle)
