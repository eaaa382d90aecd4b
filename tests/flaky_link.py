"""A loopback TCP relay that can drop or stall the connection on demand, like weak Wi-Fi.

``down`` cuts every connection (a reset, as when the phone loses the network);
``stalled`` accepts connections and reads what is sent but never answers, as a kit
that hangs or a link that black-holes packets. What a stalled connection carried is
thrown away, never delivered late; clearing the stall closes those connections.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class FlakyLink:
    """Relays 127.0.0.1:<port> to a target port; while ``down``, every connection is cut."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._down = False
        self._stalled = False
        self._open: list[socket.socket] = []
        self._holes: set[socket.socket] = set()  # stalled: read and dropped, never answered
        self.refused = 0
        self.swallowed = 0  # pieces of data a stall threw away
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._running = True
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        self._down = value
        if value:  # cut open keep-alive connections too, as a lost network does
            self._close_open()

    @property
    def stalled(self) -> bool:
        return self._stalled

    @stalled.setter
    def stalled(self, value: bool) -> None:
        self._stalled = value
        if value:  # open connections stop answering too
            self._holes.update(self._open)
        else:
            for sock in list(self._holes):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._holes.clear()

    def _close_open(self) -> None:
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._open.clear()

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.down:
                self.refused += 1
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # a reset, as when the phone loses the network
                continue
            if self.stalled:
                self._holes.add(client)
                threading.Thread(target=self._pipe, args=(client, None), daemon=True).start()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._open += [client, upstream]
            for source, sink, outbound in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(source, sink, outbound), daemon=True).start()

    def carried(self, client: socket.socket, data: bytes) -> None:
        """Called with each piece a phone sent that reached the target; a hook for subclasses."""

    def _pipe(self, source: socket.socket, sink: socket.socket | None, outbound: bool = False) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if sink is None or source in self._holes or sink in self._holes:
                    self.swallowed += 1
                else:
                    sink.sendall(data)
                    if outbound:
                        self.carried(source, data)
        if sink is not None:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._running = False
        self._listener.close()
        self._thread.join(timeout=2)
        self.stalled = False
        self._close_open()
