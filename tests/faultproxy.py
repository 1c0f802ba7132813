"""A fault-injecting TCP proxy on a loopback port, for testing retries against a real server.

Every request on a connection (a new request starts when the client sends again after the
server has answered) draws its fate: most pass untouched; a fraction are *reset* (RST, via
SO_LINGER 0) once a random number of bytes of that exchange has gone through, which may be
before the request, in the middle of an upload or in the middle of a response body; and a
fraction *stall* after a random number of bytes: the proxy keeps reading what the client
sends but never forwards anything again, like a hung server, until the client gives up.

    proxy = FaultProxy(("127.0.0.1", 8333), reset=0.05, stall=0.01, seed=1).start()
    ... use proxy.url as the endpoint ...
    proxy.stop(); proxy.counts -> {"connections": 40, "requests": 700, "resets": 31, ...}

Faults can also be aimed: ``pick(head)`` sees the start of each request (its request line
and headers) and returns a fate for it, ``(kind, after)``, or None for the random draw.
Besides "reset", "stall" and "pass" there is "slow": the answer passes, a 64 KiB read at a
time with a pause after each (about 1 MB/s), so a transfer is still under way when a fault
elsewhere strikes; and "slow-reset", slow until it is reset after ``after`` bytes.
"""

from __future__ import annotations

import random
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable

STALL_HOLD_S = 60.0
SLOW_PAUSE_S = 0.05  # after each read forwarded from the server in a "slow" exchange
Fate = tuple[str, int]


class FaultProxy:
    def __init__(self, target: tuple[str, int], reset: float = 0.1, stall: float = 0.02,
                 max_bytes: int = 200_000, seed: int = 0,
                 pick: Callable[[bytes], Fate | None] | None = None) -> None:
        self.target = target
        self.pick = pick
        self.reset = reset
        self.stall = stall
        self.max_bytes = max_bytes
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.enabled = True  # False: every connection passes (e.g. for set-up steps)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._listener.listen(128)
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()

    def _fate(self, head: bytes) -> Fate:
        with self._lock:
            draw = self._rng.random()
            after = self._rng.randrange(self.max_bytes)
        if not self.enabled:
            return "pass", 0
        picked = self.pick(head) if self.pick is not None else None
        if picked is not None:
            return picked
        if draw < self.reset:
            return "reset", after
        if draw < self.reset + self.stall:
            return "stall", after
        return "pass", 0

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.counts["connections"] += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        try:
            self._pump(client, upstream)
        finally:
            upstream.close()
            client.close()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        kind, after, moved, answered = "pass", 0, 0, True
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    if source is client and answered:  # a new request: a new fate
                        kind, after = self._fate(data)
                        moved, answered = 0, False
                        with self._lock:
                            self.counts["requests"] += 1
                    answered = answered or source is upstream
                    if kind in ("reset", "stall", "slow-reset") and moved + len(data) >= after:
                        key.data.sendall(data[:after - moved])
                        self._inject(kind.removeprefix("slow-"), client)
                        return
                    key.data.sendall(data)
                    moved += len(data)
                    if kind.startswith("slow") and source is upstream:
                        time.sleep(SLOW_PAUSE_S)

    def _inject(self, kind: str, client: socket.socket) -> None:
        with self._lock:
            self.counts[f"{kind}s"] += 1
        if kind == "reset":
            _reset(client)
            return
        deadline = time.monotonic() + STALL_HOLD_S  # a hung server: read, never answer
        client.settimeout(0.2)
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if not client.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN: the peer sees 'connection reset by peer'."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()
