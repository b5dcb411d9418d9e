"""The data-access module: one place that talks to the document store.

Every backend speaks PyMongo's synchronous API: a real MongoDB server through PyMongo itself,
mongomock in memory, and litemongo (mongomock over SQLite files) embedded under DATA_DIR.
The two single-process backends are not thread-safe (SQLite handles are bound to the thread
that opened them), so their calls are funnelled through one worker thread; calls to a real
server go straight through the driver's own connection pool.

Only the per-collection modules of `utils.crud` open a `Collection`: they own each
collection's name, filters, tenant scoping and indexes, and the rest of Oktopus calls their
named functions.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio.to_thread
import pymongo
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from utils.log_redaction import redact_driver_logs
from utils.settings import Settings

logger = logging.getLogger("oktopus.db")

T = TypeVar("T")
Document = dict[str, Any]


class Conflict(Exception):
    """A write broke a unique index: the API answers 409."""


class StoreUnavailable(Exception):
    """The database cannot be reached: the API answers 503."""


# MongoDB's error codes: an operation the connected user may not run, and an index that
# exists under the same name or keys with other options (recognised by code, not by a
# server's wording, which differs between servers and versions).
_UNAUTHORIZED = 13
_INDEX_CONFLICTS = {85: "IndexOptionsConflict", 86: "IndexKeySpecsConflict"}


class StoreInUse(RuntimeError):
    """The embedded store is open in another process: it serves one process at a time."""


class IndexSetupError(RuntimeError):
    """An index Oktopus relies on cannot be created: start-up stops, saying what to fix."""


def _hold_exclusively(path: Path) -> IO[str] | None:
    """Lock the embedded store's directory for this process, or raise StoreInUse.

    The store's compare-and-set is atomic only because one thread of one process makes every
    call; a second server (`--workers 2`, a second `fast.py`, `utils.cron --direct` while the
    server runs) would break exactly-once advancement silently. The lock goes with the process,
    however it ends. Where the OS has no `fcntl` the rule is documented, not enforced.
    """
    try:
        import fcntl
    except ImportError:
        return None
    # A dot keeps the name out of the way of litemongo's databases, which are folders here.
    lock_file = path / ".oktopus.lock"
    try:
        handle = lock_file.open("a+", encoding="utf-8")
    except OSError as error:
        raise RuntimeError(
            f"Cannot open the embedded store's lock file {lock_file} "
            f"({error.strerror or error}): give the server read and write access to DATA_DIR."
        ) from error
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        if holder == str(os.getpid()):
            raise StoreInUse(
                f"The embedded store in {path} is already open in this process (pid {holder}): "
                "close the store opened earlier first."
            ) from None
        raise StoreInUse(
            f"The embedded store in {path} is in use by another Oktopus process (pid {holder}). "
            "It serves one process at a time: stop that process first, or use a MongoDB "
            "server (MONGODB_URI) for several."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def new_id() -> str:
    """A fresh document id: a random UUID in hex, the same on every backend."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, at the millisecond precision BSON keeps."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """A datetime read back from any backend, as timezone-aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _normalize(doc: Document | None) -> Document | None:
    if doc is None:
        return None
    for key, value in doc.items():
        if isinstance(value, datetime):
            doc[key] = as_utc(value)
    return doc


class Store:
    """A connected document store: its database, its backend's name, and how calls run."""

    def __init__(self, settings: Settings) -> None:
        self.backend = settings.backend
        self._executor: ThreadPoolExecutor | None = None
        self._worker: threading.Thread | None = None
        self._lock: IO[str] | None = None
        path = (settings.data_dir / "store").resolve()
        if self.backend == "embedded":
            path.mkdir(parents=True, exist_ok=True)
            self._lock = _hold_exclusively(path)
        try:
            self._connect(settings, path)
        except BaseException:
            # The lock is this store's alone: a failed opening must not keep the next one of
            # this process out until the garbage collector finds this one.
            self._release()
            raise

    def _connect(self, settings: Settings, path: Path) -> None:
        if self.backend == "mongodb":
            redact_driver_logs()
            uri = settings.mongodb_uri or ""
            options: dict[str, Any] = {"tz_aware": True}
            # PyMongo lets keyword options override the URI's: default only what it leaves out.
            if "serverselectiontimeoutms=" not in uri.lower():
                options["serverSelectionTimeoutMS"] = 5000
            self.client = pymongo.MongoClient(uri, **options)
            self.location = "MongoDB server"
        else:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oktopus-store")
            self._worker = self._executor.submit(threading.current_thread).result()
            if self.backend == "mongomock":
                import mongomock

                self.client = self.run(lambda: mongomock.MongoClient(tz_aware=True))
                self.location = "in memory"
            else:
                import litemongo

                self.client = self.run(lambda: litemongo.connect(str(path), tz_aware=True))
                self.location = f"embedded store in {path}"
        self.db = self.client[settings.mongodb_db]

    def run(self, call: Callable[[], T]) -> T:
        """Run one database call where this backend allows it, translating driver errors."""
        try:
            if self._executor is None or threading.current_thread() is self._worker:
                return call()
            return self._executor.submit(call).result()
        except DuplicateKeyError as error:
            raise Conflict("duplicate key") from error
        except PyMongoError as error:
            raise StoreUnavailable(str(error)) from error

    async def call(self, work: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Await `work(*args, **kwargs)` run as one piece on this backend's thread, without
        blocking the loop: how a route runs its database work (see `utils.deps`).

        On the single-process backends the whole of `work` (every store call in it, and the
        computation between them) runs on the store's thread: one thread hop per request
        instead of one per database call, which is what dominates a short request's time.
        On a MongoDB server it runs in the threadpool FastAPI uses for plain `def` routes.
        """
        if args or kwargs:
            work = functools.partial(work, *args, **kwargs)
        if self._executor is None:
            return await anyio.to_thread.run_sync(self.run, work)
        return await asyncio.wrap_future(self._executor.submit(functools.partial(self.run, work)))

    def collection(self, name: str) -> Collection:
        return Collection(self, name)

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""
        self.run(lambda: self.db.command("ping"))

    def ensure_indexes(self) -> None:
        """Create every index Oktopus relies on; safe to run at every start-up.

        IndexSetupError when the database refuses one (an index on the same keys or of the
        same name kept with other options, documents breaking a unique key): the database
        answers, so this is not StoreUnavailable, and the operator needs the collection and
        the keys to fix it."""
        from utils.crud import INDEXES  # the modules that own the collections import this one

        for name, indexes in INDEXES.items():
            for keys, options in indexes:
                self.run(functools.partial(self._create_index, name, keys, options))

    def _create_index(
        self, collection: str, keys: list[tuple[str, int]], options: dict[str, Any]
    ) -> None:
        index = f"{'unique index' if options.get('unique') else 'index'} {dict(keys)}"
        try:
            self.db[collection].create_index(keys, **options)
        except DuplicateKeyError as error:
            raise IndexSetupError(
                f"Cannot create the {index} on collection {collection!r}: stored documents "
                f"share a value of it (duplicate key: {error}). Remove or rename the "
                "duplicates, then start Oktopus again."
            ) from error
        except OperationFailure as error:
            code = error.code
            if code is None and self._index_taken(collection, keys):
                # The single-process backends raise index conflicts without MongoDB's code.
                code = 85
            if code in _INDEX_CONFLICTS:
                raise IndexSetupError(
                    f"Cannot create the {index} on collection {collection!r}: an index on "
                    f"these keys or of this name already exists with other options "
                    f"({_INDEX_CONFLICTS[code]}, code {code}). Drop that index: "
                    "Oktopus creates it again at start-up."
                ) from error
            if error.code == _UNAUTHORIZED:
                advice = "Give Oktopus's database user the createIndex privilege on it."
            else:
                advice = "See the database's reason above."
            raise IndexSetupError(
                f"Cannot create the {index} on collection {collection!r}: {error}. {advice}"
            ) from error

    def _index_taken(self, collection: str, keys: list[tuple[str, int]]) -> bool:
        """Whether an index of the default name for `keys`, or on the same keys, exists."""
        name = "_".join(f"{field}_{direction}" for field, direction in keys)
        existing = self.db[collection].index_information()
        return name in existing or any(info["key"] == keys for info in existing.values())

    def close(self) -> None:
        """Close the client, then (however that ends) the store's thread and its lock."""
        try:
            if self._executor is None:
                self.client.close()
            else:
                self.run(self.client.close)
        finally:
            self._release()

    def _release(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None


class Collection:
    """CRUD on one collection, every call run through the store and returning plain dicts."""

    def __init__(self, store: Store, name: str) -> None:
        self._store = store
        self._coll = store.db[name]
        self.name = name

    def insert(self, doc: Document) -> Document:
        doc.setdefault("_id", new_id())
        self._store.run(lambda: self._coll.insert_one(doc))
        return doc

    def insert_many(self, docs: list[Document]) -> list[Document]:
        for doc in docs:
            doc.setdefault("_id", new_id())
        if docs:
            self._store.run(lambda: self._coll.insert_many(docs, ordered=True))
        return docs

    def get(self, filter: Mapping[str, Any]) -> Document | None:
        return _normalize(self._store.run(lambda: self._coll.find_one(dict(filter))))

    def find(
        self,
        filter: Mapping[str, Any],
        *,
        sort: list[tuple[str, int]] | None = None,
        skip: int = 0,
        limit: int = 0,
        projection: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        def query() -> list[Document]:
            cursor = self._coll.find(
                dict(filter),
                projection=dict(projection) if projection else None,
                sort=sort,
                skip=skip,
                limit=limit,
            )
            return list(cursor)

        return [_normalize(doc) for doc in self._store.run(query)]

    def count(self, filter: Mapping[str, Any]) -> int:
        return self._store.run(lambda: self._coll.count_documents(dict(filter)))

    def update(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
    ) -> Document | None:
        """Atomically apply `update` to the one document matching `filter`; return it after."""
        return _normalize(
            self._store.run(
                lambda: self._coll.find_one_and_update(
                    dict(filter),
                    dict(update),
                    upsert=upsert,
                    return_document=ReturnDocument.AFTER,
                )
            )
        )

    def set_if(self, filter: Mapping[str, Any], update: Mapping[str, Any]) -> bool:
        """Apply `update` to the one document matching `filter`, if any: a compare-and-set
        that, unlike `update`, does not read the document back (the caller knows it)."""
        matched = self._store.run(
            lambda: self._coll.update_one(dict(filter), dict(update)).matched_count
        )
        return matched == 1

    def upsert(self, filter: Mapping[str, Any], update: Mapping[str, Any]) -> None:
        """Apply `update` to the one document matching `filter`, creating it if there is none."""
        self._store.run(lambda: self._coll.update_one(dict(filter), dict(update), upsert=True))

    def replace(self, filter: Mapping[str, Any], doc: Document, *, upsert: bool = True) -> None:
        self._store.run(lambda: self._coll.replace_one(dict(filter), doc, upsert=upsert))

    def delete(self, filter: Mapping[str, Any]) -> bool:
        return self._store.run(lambda: self._coll.delete_one(dict(filter)).deleted_count) == 1

    def delete_many(self, filter: Mapping[str, Any]) -> int:
        return self._store.run(lambda: self._coll.delete_many(dict(filter)).deleted_count)


def public(doc: Document, hidden: Iterable[str] = ()) -> Document:
    """A stored document as the API shows it: `_id` becomes `id`, hidden fields dropped."""
    out = {"id": doc["_id"]}
    out.update((k, v) for k, v in doc.items() if k != "_id" and k not in hidden)
    return out
