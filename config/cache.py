"""The embedded default cache: Django's file cache, without its random cull.

The per-user portal rate and the login rates are kept in this cache. Django's file cache,
once MAX_ENTRIES files exist, deletes a third of them at random, live or expired: past a few
hundred keys (users opening the portal, login attempts for many addresses, which anyone can
cause) it erases live counters and a limited caller starts afresh. This cull removes expired
entries only. Live entries are never dropped: with more than MAX_ENTRIES live at once the
directory grows, and each write pays for a scan; size MAX_ENTRIES for that, or use Redis.
"""

from __future__ import annotations

import contextlib

from django.core.cache.backends import filebased


class FileBasedCache(filebased.FileBasedCache):
    def _cull(self) -> None:
        filelist = self._list_cache_files()  # type: ignore[attr-defined]
        if len(filelist) < self._max_entries:  # type: ignore[attr-defined]
            return
        for fname in filelist:
            with contextlib.suppress(FileNotFoundError), open(fname, "rb") as f:
                self._is_expired(f)  # type: ignore[attr-defined]  # deletes the file if expired
