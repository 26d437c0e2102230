"""Where the lake lives: a local folder, or a bucket of S3-compatible object storage.

`$BITSO_LAKE` is either a path (`bucket`, `/data/lake`) or a URL (`s3://bucket/prefix`). Code that
reads or writes lake files names them by key, their path under the lake (`spreads/book=btc_mxn/
date=2026-11-29/btc_mxn_20261129T100000Z.csv`), and goes through `open_lake`, so the same code
serves both.

Publication is atomic on both: a local file is written aside under a dot-name, flushed to disk
and renamed into place; an object is sent in one PUT (or one multipart upload, which becomes
visible only when complete), so a reader sees the old object or the new one, never a part.
Object storage is reached through fsspec (s3fs); the endpoint and credentials come from the
standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...) and are never logged.
"""

from __future__ import annotations

import abc
import contextlib
import errno
import fnmatch
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import fsspec


class LakeStorageError(OSError):
    """The object store refused or could not be reached; says which object and why."""


def is_object_store(location: str) -> bool:
    """True for a URL such as `s3://bucket/prefix`; false for a local path."""
    return "://" in location and not location.startswith("file://")


def open_lake(location: str | Path) -> LakeStorage:
    location = str(location)
    if is_object_store(location):
        return ObjectStoreLake(location)
    return LocalLake(Path(location.removeprefix("file://")))


class LakeStorage(abc.ABC):
    """The operations the lake needs, by key (a path under the lake, with `/` separators)."""

    root: str

    def location(self, key: str) -> str:
        """The full path or URL of `key`, for messages and for engines that read it."""
        return f"{self.root}/{key}"

    @abc.abstractmethod
    def check(self) -> None:
        """Fail now, with an OSError naming the lake, if it cannot be reached."""

    def glob(self, pattern: str) -> list[str]:
        """Keys matching a glob of `*` (within one path segment), sorted; dot-named files and
        folders, which are being written or are internal, are never matched."""
        return sorted(self.versions(pattern))

    @abc.abstractmethod
    def versions(self, pattern: str) -> dict[str, str]:
        """The keys `glob` matches, each with a version: a short text that changes whenever the
        file is published again (size and modification time, or the object's ETag), so a
        reader can tell an unchanged file without reading it."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abc.abstractmethod
    def publish(self, key: str, data: bytes) -> None:
        """Make `data` the content of `key` at once: readers never see it partly written."""

    @abc.abstractmethod
    def publish_file(self, key: str, path: Path) -> None:
        """`publish` for a local file's content, without holding it in memory."""

    @abc.abstractmethod
    def delete_tree(self, key: str) -> None:
        """Remove `key` and everything under it; nothing there is not an error."""

    @abc.abstractmethod
    def children(self, key: str) -> list[str]:
        """Names directly under the folder or prefix `key`, sorted; none if it does not exist."""


def _visible(key: str) -> bool:
    return not any(part.startswith(".") for part in key.split("/"))


class LocalLake(LakeStorage):
    def __init__(self, root: Path) -> None:
        self.path = root
        self.root = str(root).rstrip("/") or "/"

    def check(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def versions(self, pattern: str) -> dict[str, str]:
        found = {}
        for path in self.path.glob(pattern):
            key = path.relative_to(self.path).as_posix()
            if _visible(key) and path.is_file():
                status = path.stat()
                found[key] = f"{status.st_size}:{status.st_mtime_ns}"
        return found

    def exists(self, key: str) -> bool:
        return (self.path / key).exists()

    def read_bytes(self, key: str) -> bytes:
        return (self.path / key).read_bytes()

    def publish(self, key: str, data: bytes) -> None:
        self._publish(key, lambda handle: handle.write(data))

    def publish_file(self, key: str, path: Path) -> None:
        with path.open("rb") as source:
            self._publish(key, lambda handle: shutil.copyfileobj(source, handle))

    def _publish(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        # Dot-names are skipped by every reader of the lake (and by Spark, Hive and DuckDB globs).
        target = self.path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, write)

    def delete_tree(self, key: str) -> None:
        target = self.path / key
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists() or target.is_symlink():
            target.unlink()

    def children(self, key: str) -> list[str]:
        folder = self.path / key
        return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def replace_file(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Replace `target` whole, durably: `write` fills a dot-named file beside it, which is
    fsynced and renamed over it, then the folder is fsynced. A reader sees the old file or the
    new one, never part of either; a failed write leaves the old file and no aside."""
    aside = target.with_name(f".{target.name}.tmp")
    try:
        with aside.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(aside, target)
    except BaseException:
        aside.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def replace_file_bytes(target: Path, content: bytes) -> None:
    """`replace_file` with content already in memory."""
    replace_file(target, lambda handle: handle.write(content))


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ObjectStoreLake(LakeStorage):
    def __init__(self, url: str) -> None:
        url = url.rstrip("/")
        # Listings are read fresh every time: another process may have published meanwhile.
        self.fs, path = fsspec.core.url_to_fs(
            url, use_listings_cache=False, skip_instance_cache=True
        )
        self.base = path.rstrip("/")
        self.root = url

    def _path(self, key: str) -> str:
        return f"{self.base}/{key}"

    def check(self) -> None:
        # One listing of the bucket proves the endpoint, the credentials and the bucket.
        bucket = self.base.split("/", 1)[0]
        with self._errors(""):
            self.fs.ls(bucket, refresh=True)

    def versions(self, pattern: str) -> dict[str, str]:
        # The store's own glob would also descend into dot-named prefixes; filter by segments.
        with self._errors(pattern):
            found = self.fs.glob(self._path(pattern), detail=True)
        versions = {}
        for path, info in found.items():
            key = path.removeprefix(f"{self.base}/")
            if info.get("type") == "file" and _visible(key) and fnmatch.fnmatchcase(key, pattern):
                etag = info.get("ETag", "").strip('"')
                versions[key] = f"{info.get('size')}:{etag}"
        return versions

    def exists(self, key: str) -> bool:
        with self._errors(key):
            return self.fs.exists(self._path(key))

    def read_bytes(self, key: str) -> bytes:
        with self._errors(key):
            return self.fs.cat_file(self._path(key))

    def publish(self, key: str, data: bytes) -> None:
        with self._errors(key):
            self.fs.pipe_file(self._path(key), data)

    def publish_file(self, key: str, path: Path) -> None:
        with self._errors(key):
            self.fs.put_file(str(path), self._path(key))

    def delete_tree(self, key: str) -> None:
        with self._errors(key):
            if self.fs.exists(self._path(key)):
                self.fs.rm(self._path(key), recursive=True)

    def children(self, key: str) -> list[str]:
        with self._errors(key):
            try:
                entries = self.fs.ls(self._path(key), detail=False)
            except FileNotFoundError:
                return []
        return sorted(entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries)

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """Whatever the store's client raises becomes an OSError naming the object, so callers
        handle one kind of failure for both kinds of lake."""
        try:
            yield
        except LakeStorageError:
            raise
        except FileNotFoundError as error:
            raise FileNotFoundError(errno.ENOENT, str(error), self.location(key)) from error
        except Exception as error:
            reason = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            raise LakeStorageError(f"{self.location(key)}: {reason}") from error
