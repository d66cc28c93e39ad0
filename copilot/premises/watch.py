"""Keep a ``PremiseIndex`` current: watchdog events on the project's ``.lean`` files, debounced.

Saves and creations re-extract the file, deletions remove it, a rename is a removal of the
old path and an update of the new one. Build and package folders (``.lake``, ``build``...)
are not watched; top-level folders created after ``start`` are not watched either. Events for one path within ``debounce`` seconds
collapse into one update, applied on a worker thread (never the caller's event loop).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger(__name__)

_IGNORED_PARTS = {".lake", "lake-packages", ".git", "build"}


def _relevant(path: str, root: Path) -> bool:
    p = Path(path)
    if p.suffix != ".lean":
        return False
    try:
        rel = p.relative_to(root)
    except ValueError:
        return False
    return not any(part in _IGNORED_PARTS for part in rel.parts[:-1])


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: ProjectWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        root = self.watcher.root
        if event.event_type == "moved":
            if _relevant(str(event.src_path), root):
                self.watcher.schedule(Path(str(event.src_path)))
            if _relevant(str(event.dest_path), root):
                self.watcher.schedule(Path(str(event.dest_path)))
        elif event.event_type in ("modified", "created", "deleted", "closed") and _relevant(str(event.src_path), root):
            self.watcher.schedule(Path(str(event.src_path)))


class ProjectWatcher:
    """Watches ``index.project_root`` recursively and feeds changes to the index."""

    def __init__(self, index, *, debounce: float = 0.3) -> None:
        self.index = index
        self.root = index.project_root
        self.debounce = debounce
        self._pending: dict[Path, float] = {}
        self._cv = threading.Condition()
        self._stop = False
        self._observer = Observer()
        self._thread = threading.Thread(target=self._run, name="premise-index-watch", daemon=True)
        self.updates = 0

    def start(self) -> None:
        """Start the observer and the update thread."""
        # Watch the root itself and each top-level folder except build/package folders, so a
        # project's `.lake` (thousands of build folders) costs no inotify watches.
        handler = _Handler(self)
        self._observer.schedule(handler, str(self.root), recursive=False)
        for child in sorted(self.root.iterdir()):
            if child.is_dir() and child.name not in _IGNORED_PARTS and not child.name.startswith("."):
                self._observer.schedule(handler, str(child), recursive=True)
        self._observer.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop both threads and wait for them."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._observer.stop()
        self._observer.join(timeout=5)
        self._thread.join(timeout=5)

    def schedule(self, path: Path) -> None:
        """Queue ``path`` for an update after the debounce delay."""
        with self._cv:
            self._pending[path] = time.monotonic() + self.debounce
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop:
                    now = time.monotonic()
                    due = [p for p, t in self._pending.items() if t <= now]
                    if due:
                        break
                    wait = min(self._pending.values()) - now if self._pending else None
                    self._cv.wait(timeout=wait)
                if self._stop:
                    return
                for p in due:
                    del self._pending[p]
            for p in due:
                try:
                    if p.exists():
                        self.index.update_file(p)
                    else:
                        self.index.remove_file(p)
                    self.updates += 1
                except Exception:  # one bad file must not stop the watcher
                    log.exception("premise index update failed for %s", p)
