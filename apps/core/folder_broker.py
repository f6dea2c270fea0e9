"""The embedded default Celery broker: a durable queue in a folder, for one machine and no server.

`folder://` in CELERY_BROKER_URL (registered in project/celery.py), with the `data_folder` transport option:

    queue/        messages waiting, one file each, `<time in ns>_<id>.<queue>.msg`
    processing/   one folder per consuming process: the messages it claimed and has not settled, and its lock
    bad/          message files that could not be decoded
    control/      exchange tables (which queues an exchange routes to)

It extends kombu's filesystem transport, which crashes the worker and loses work. That one creates a message
file and then writes it, so a reader may meet it empty or half-written (JSONDecodeError, "Unrecoverable
error"), rewrites exchange tables in place the same way, and deletes a message once read, so a worker killed
while holding one loses it. Here:

- files appear whole: written to a hidden name in the same folder, synced, then renamed into place;
- a consumer claims a message by renaming it into its processing folder (one rename wins), and the file stays
  there until the message is acknowledged (deleted), rejected (deleted or put back) or left unacknowledged
  when the channel closes (put back);
- each consuming process holds an exclusive flock on its processing folder's lock file while it lives. The
  kernel drops it when the process dies, SIGKILL included, and any consumer that can then take it puts that
  folder's messages back in the queue.

Messages are in the queue at least once: a process killed between putting back a copy and deleting its claim
leaves two, and Celery tasks here are idempotent. A machine crash may lose the last few seconds of publishes
(the rename is not synced to the folder), as Redis with its default once-a-second append-only file would.
"""
import contextlib
import fcntl
import heapq
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from queue import Empty

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

from apps.core.files import write_atomic

logger = logging.getLogger(__name__)

# Oldest names taken per listing of the queue folder: a backlog of 100,000 messages is listed 100 times as it
# drains, not once per message.
LIST_BATCH = 1000
# How often a consumer that is polling looks for folders of consuming processes that died.
RECOVER_EVERY_SECONDS = 5.0


class _Claims:
    """One process's folder under processing/, locked for as long as the process lives, and what it holds there."""

    def __init__(self, processing: Path):
        # Made and locked under a hidden name, then renamed: no one ever sees it unlocked and takes it for dead.
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=processing))
        self.lock = os.open(staging / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        self.folder = processing / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(staging, self.folder)
        self.pid = os.getpid()
        self.held: dict[str, Path] = {}  # delivery tag -> claimed file
        self.recover_at = 0.0  # at once: a consumer that starts puts back what dead ones held


_claims: dict[Path, "_Claims"] = {}
_claims_lock = threading.Lock()


def _claims_for(processing: Path) -> _Claims:
    # Made on a process's first get, not when it opens a channel: pool children publish without consuming, and
    # Celery starts its pool (and an embedded beat, which closes what it inherits anyway) before its consumer,
    # so those children never hold the lock.
    #
    # A process forked later (a pool child replacing one that died, a task's multiprocessing helpers) does
    # inherit the lock's descriptor, and with it the lock: flock belongs to the open file, which the kernel frees
    # only once every descriptor of it is closed. The folder of a worker that died is then put back only when
    # those children are gone too. That is fine: billiard's children exit once their parent is gone (within a
    # second when idle; one mid-task finishes it first, and that message then runs again), and a child never
    # unlocks (LOCK_UN on any copy would free the lock while its owner lives) nor uses the folder as its own:
    # the pid check below gives a child that consumes a folder and a lock of its own. A child hung for good would
    # keep its dead parent's messages claimed until someone kills it.
    with _claims_lock:
        claims = _claims.get(processing)
        if claims is None or claims.pid != os.getpid():
            claims = _claims[processing] = _Claims(processing)
        return claims


class QoS(virtual.QoS):
    """Settles a message's claimed file when the consumer settles the message."""

    def ack(self, delivery_tag):
        self.channel.settle(delivery_tag)
        super().ack(delivery_tag)
        self.channel.may_take_more.set()

    def reject(self, delivery_tag, requeue=False):
        # With requeue, the base class puts the message back through Channel._restore.
        if not requeue:
            self.channel.settle(delivery_tag)
        super().reject(delivery_tag, requeue=requeue)
        self.channel.may_take_more.set()


class Channel(filesystem.Channel):
    """A channel on the folder queue: atomic files, claims that survive until settled, dead consumers recovered."""

    QoS = QoS

    def __init__(self, connection, **kwargs):
        super().__init__(connection, **kwargs)
        root = self.transport_options.get("data_folder")
        if not root:
            raise ChannelError("The folder broker needs the data_folder transport option")
        root = Path(root)
        self.queue_folder, self.processing_folder = root / "queue", root / "processing"
        self.bad_folder, self.tables_folder = root / "bad", root / "control"
        for folder in (self.queue_folder, self.processing_folder, self.bad_folder, self.tables_folder):
            folder.mkdir(parents=True, exist_ok=True)
        self._waiting: dict[str, deque[str]] = {}  # per queue: names listed and not yet tried
        self._no_ack_queues: set[str] = set()
        self.may_take_more = connection.may_take_more

    # kombu's _purge, _size and _exchange_file read these.
    @property
    def data_folder_in(self):
        return str(self.queue_folder)

    @property
    def control_folder(self):
        return self.tables_folder

    # ---- Messages ----

    def _put(self, queue, payload, **kwargs):
        self._publish(f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}.msg", payload)

    def _publish(self, name: str, payload: dict) -> None:
        path = self.queue_folder / name
        try:
            write_atomic(path, str_to_bytes(dumps(payload)), sync_folder=False)
        except OSError as exc:
            raise ChannelError(f"Cannot add {path} to the queue: {exc}") from exc

    def _get(self, queue, timeout=None):
        claims = _claims_for(self.processing_folder)
        if time.monotonic() >= claims.recover_at:
            claims.recover_at = time.monotonic() + RECOVER_EVERY_SECONDS
            self._recover(claims)
        waiting = self._waiting.get(queue)
        if not waiting:
            waiting = self._waiting[queue] = deque(self._oldest(queue))
        while waiting:
            name = waiting.popleft()
            claimed = claims.folder / name
            try:
                os.rename(self.queue_folder / name, claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            payload = self._decode(claimed)
            if payload is None:
                continue
            if queue in self._no_ack_queues:
                claimed.unlink()  # no one will acknowledge it (remote control, events)
            else:
                claims.held[payload["properties"]["delivery_tag"]] = claimed
            return payload
        raise Empty()

    def _oldest(self, queue: str) -> list[str]:
        suffix = f"{queue}.msg"
        # Files being written never match: `.<name>.<random>.tmp` has all of <name> after its first dot.
        names = (name for name in os.listdir(self.queue_folder) if name.partition(".")[2] == suffix)
        return heapq.nsmallest(LIST_BATCH, names)

    def _decode(self, claimed: Path) -> dict | None:
        """The claimed file's payload; None when it cannot be one, after moving it to bad/."""
        try:
            payload = loads(bytes_to_str(claimed.read_bytes()))
            # What the consumer will build from it: a payload it cannot build would stop the worker.
            self.Message(payload, channel=self)
        except Exception as exc:  # any fault of the file's content, which must not reach the consumer
            bad = self.bad_folder / claimed.name
            os.rename(claimed, bad)
            logger.error("Moved an undecodable message to %s (%s: %s)", bad, type(exc).__name__, exc)
            return None
        return payload

    def settle(self, delivery_tag: str) -> None:
        """Delete the claimed file of a message that is done with (acknowledged or dropped)."""
        claimed = _claims_for(self.processing_folder).held.pop(delivery_tag, None)
        if claimed is not None:
            with contextlib.suppress(FileNotFoundError):
                claimed.unlink()

    def _restore(self, message):
        """Put an unacknowledged message back at the head of its queue: a copy marked redelivered, then the claim
        goes. A new id keeps the copy's name apart from the claim's, which this process may claim again at once."""
        claimed = _claims_for(self.processing_folder).held.pop(message.delivery_tag, None)
        if claimed is None:
            return
        payload = loads(bytes_to_str(claimed.read_bytes()))
        payload["properties"].setdefault("delivery_info", {})["redelivered"] = True
        stamp, _, rest = claimed.name.partition("_")
        self._publish(f"{stamp}_{uuid.uuid4().hex}.{rest.partition('.')[2]}", payload)
        claimed.unlink()

    def _recover(self, claims: _Claims) -> None:
        """Put back the messages held by consuming processes that died: those whose lock can be taken."""
        for entry in os.scandir(self.processing_folder):
            if entry.name.startswith(".") or entry.name == claims.folder.name:
                continue
            try:
                lock = os.open(os.path.join(entry.path, "lock"), os.O_RDONLY)
            except FileNotFoundError:
                lock = None  # removed by a recovery that stopped before removing the folder
            except NotADirectoryError:
                continue
            try:
                if lock is not None:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # its process is alive
                self._put_back(Path(entry.path))
            finally:
                if lock is not None:
                    os.close(lock)

    def _put_back(self, folder: Path) -> None:
        # Renamed as they are: one rename wins if two consumers recover the same folder.
        try:
            names = [name for name in os.listdir(folder) if name.endswith(".msg")]
        except FileNotFoundError:
            return
        moved = 0
        for name in names:
            try:
                os.rename(folder / name, self.queue_folder / name)
                moved += 1
            except FileNotFoundError:
                continue
        with contextlib.suppress(FileNotFoundError):
            (folder / "lock").unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
        if moved:
            logger.warning("Put %d message(s) back in the queue from %s: the process that claimed them is gone",
                           moved, folder.name)

    # ---- Consumers that do not acknowledge ----

    def basic_consume(self, queue, no_ack, *args, **kwargs):
        if no_ack:
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_cancel(self, consumer_tag):
        self._no_ack_queues.discard(self._tag_to_queue.get(consumer_tag))
        return super().basic_cancel(consumer_tag)

    def basic_get(self, queue, no_ack=False, **kwargs):
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self.settle(message.delivery_tag)
        return message

    # ---- Exchange tables ----

    def get_table(self, exchange):
        try:
            data = self._exchange_file(exchange).read_bytes()
        except FileNotFoundError:
            return []
        return [filesystem.exchange_queue_t(*binding) for binding in loads(bytes_to_str(data))]

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._tables_locked():
            table = self.get_table(exchange)
            if binding not in table:
                self._write_table(exchange, [binding, *table])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        self._purge(queue)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._tables_locked():
            table = self.get_table(exchange)
            if binding in table:
                self._write_table(exchange, [row for row in table if row != binding])

    @contextlib.contextmanager
    def _tables_locked(self):
        # One lock for every table, on a file of its own: each table file is replaced, so a lock on it would be
        # on a file that is gone.
        lock = os.open(self.tables_folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)

    def _write_table(self, exchange: str, table: list) -> None:
        path = self._exchange_file(exchange)
        try:
            write_atomic(path, str_to_bytes(dumps(table)), sync_folder=False)
        except OSError as exc:
            raise ChannelError(f"Cannot write the exchange table {path}: {exc}") from exc


class Transport(filesystem.Transport):
    """kombu transport `folder://` (see the module's docstring)."""

    Channel = Channel
    # Declared exchanges and bindings, shared by this process's connections (as kombu's filesystem transport
    # shares its own).
    global_state = virtual.BrokerState()
    driver_type = driver_name = "folder"

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        # Set when a message is settled, from whichever thread settles it (Celery's pool result handler).
        self.may_take_more = threading.Event()

    def drain_events(self, connection, timeout=None):
        """kombu's virtual drain_events, except that the wait between two polls ends when a message is settled.

        A worker at its prefetch limit (one message per pool process here) would otherwise take its next
        message up to a polling interval after finishing one: at most 10 tasks a second per process at 0.1 s.
        """
        started = time.monotonic()
        interval = self.polling_interval
        if timeout and interval and interval > timeout:
            interval = timeout
        while True:
            self.may_take_more.clear()
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise TimeoutError() from None  # socket.timeout, which Celery expects
                if interval is not None:
                    self.may_take_more.wait(interval)
