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
import os

from django.core.cache.backends import filebased


class FileBasedCache(filebased.FileBasedCache):
    def _cull(self) -> None:
        # Runs on every write (each portal request's rate hit): count with one scandir, not
        # Django's glob + fnmatch over every file, which is measurable CPU per portal request
        # once there are a few hundred files (bench/README.md), spent under the rate
        # limiter's lock that every request waits for.
        with os.scandir(self._dir) as entries:  # type: ignore[attr-defined]
            count = sum(1 for entry in entries if entry.name.endswith(self.cache_suffix))
        if count < self._max_entries:  # type: ignore[attr-defined]
            return
        filelist = self._list_cache_files()  # type: ignore[attr-defined]
        for fname in filelist:
            with contextlib.suppress(FileNotFoundError), open(fname, "rb") as f:
                self._is_expired(f)  # type: ignore[attr-defined]  # deletes the file if expired
