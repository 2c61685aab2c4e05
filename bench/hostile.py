"""Hostile clients for the soak test: each coroutine loops until a deadline and counts outcomes.

Every client talks raw TCP to 127.0.0.1 so that it can break the protocol on purpose.
"""

import asyncio
import base64
import os
import struct
import time
import zlib
from collections import Counter

HEAD = (
    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    "{extra}\r\n"
)


def request_head(port: int, extra: str = "", path: str = "/echo") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return HEAD.format(path=path, port=port, key=key, extra=extra).encode()


def frame(opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked client frame."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    mask = os.urandom(4)
    body = (
        bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _mask(payload, mask)
    )
    return header + mask + body


def _mask(payload: bytes, mask: bytes) -> bytes:
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(payload), "big"
    )


async def open_ws(port: int, extra: str = ""):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head(port, extra))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    if not head.startswith(b"HTTP/1.1 101"):
        writer.close()
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return reader, writer


async def outcome_of(reader, timeout: float) -> str:
    """What the server did next: a close code, a status line, EOF, or nothing."""
    try:
        data = await asyncio.wait_for(reader.read(65536), timeout)
    except asyncio.TimeoutError:
        return "no reaction"
    except ConnectionError:
        return "reset"
    if not data:
        return "eof"
    if data.startswith(b"HTTP/"):
        return data.split(b"\r\n", 1)[0].decode(errors="replace")[9:]
    if data[0] & 0x0F == 8 and len(data) >= 4:
        return f"close {struct.unpack('!H', data[2:4])[0]}"
    return f"bytes 0x{data[:2].hex()}"


async def slowloris(port: int, deadline: float, tally: Counter, conns: int = 200) -> None:
    """Dribbles a request head one byte a second; the server should drop it after its timeout."""
    held_for: list[float] = []

    async def dribble(reader, writer, head: bytes) -> bool:
        """True when the server hung up (or answered) before the head was complete."""
        for byte in head[:-2]:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                await asyncio.wait_for(reader.read(1024), 1.0)
                return True
            except asyncio.TimeoutError:
                if time.monotonic() > deadline:
                    return False
        return False

    async def one() -> None:
        while time.monotonic() < deadline:
            begun = time.monotonic()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                tally["slowloris connect failed"] += 1
                await asyncio.sleep(1)
                continue
            try:
                dropped = await dribble(reader, writer, request_head(port))
            except ConnectionError:
                dropped = True
            finally:
                writer.close()
            if dropped:
                tally["slowloris dropped by server"] += 1
                held_for.append(time.monotonic() - begun)
            else:
                tally["slowloris still open at the end"] += 1

    await asyncio.gather(*(one() for _ in range(conns)))
    if held_for:
        tally["slowloris longest seconds before drop"] = round(max(held_for))


async def oversize_heads(port: int, deadline: float, tally: Counter) -> None:
    """Request heads far past any sane size: expect a 4xx status and a closed connection."""
    padding = "".join(f"X-Pad-{i}: {'a' * 1000}\r\n" for i in range(100))
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request_head(port, padding))
            await writer.drain()
            tally[f"oversize head -> {await outcome_of(reader, 10)}"] += 1
            writer.close()
        except OSError as exc:
            tally[f"oversize head -> {type(exc).__name__}"] += 1
        await asyncio.sleep(0.05)


async def garbage_frames(port: int, deadline: float, tally: Counter) -> None:
    """A good handshake, then random bytes: expect a close (1002 most likely) or EOF."""
    while time.monotonic() < deadline:
        try:
            reader, writer = await open_ws(port)
            writer.write(os.urandom(4096))
            await writer.drain()
            tally[f"garbage -> {await outcome_of(reader, 10)}"] += 1
            writer.close()
        except OSError as exc:
            tally[f"garbage -> {type(exc).__name__}"] += 1
        await asyncio.sleep(0.02)


def bomb(inflated_mib: int) -> bytes:
    """A permessage-deflate payload that inflates to `inflated_mib` MiB of zeros."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    body = b"".join(squeeze.compress(chunk) for _ in range(inflated_mib))
    body += squeeze.flush(zlib.Z_SYNC_FLUSH)
    return body[:-4]  # permessage-deflate strips the 00 00 ff ff tail


async def deflate_bombs(port: int, deadline: float, tally: Counter, inflated_mib: int) -> None:
    """A small compressed message that inflates past the size limit: expect close 1009."""
    payload = frame(2, bomb(inflated_mib), rsv1=True)
    while time.monotonic() < deadline:
        try:
            reader, writer = await open_ws(port, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
            writer.write(payload)
            await writer.drain()
            tally[f"deflate bomb -> {await outcome_of(reader, 20)}"] += 1
            writer.close()
        except OSError as exc:
            tally[f"deflate bomb -> {type(exc).__name__}"] += 1
        await asyncio.sleep(0.5)


async def slow_readers(port: int, deadline: float, tally: Counter, conns: int = 20) -> None:
    """Sends 64 KiB messages, reads a trickle of the echoes: the server must block, not buffer."""
    message = frame(2, os.urandom(64 << 10))

    async def one() -> None:
        try:
            reader, writer = await open_ws(port)
        except OSError as exc:
            tally[f"slow reader -> {type(exc).__name__}"] += 1
            return
        sent = 0
        try:
            while time.monotonic() < deadline:
                writer.write(message)
                sent += 1
                try:
                    await asyncio.wait_for(writer.drain(), 1)
                except asyncio.TimeoutError:
                    tally["slow reader send blocked (backpressure)"] += 1
                    await reader.read(4096)  # a trickle, far below what was sent
                    await asyncio.sleep(1)
        except ConnectionError:
            tally["slow reader disconnected by server"] += 1
        finally:
            tally["slow reader messages sent"] += sent
            writer.close()

    await asyncio.gather(*(one() for _ in range(conns)))


async def run_all(port: int, seconds: float, bomb_mib: int) -> Counter:
    tally: Counter = Counter()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        slowloris(port, deadline, tally),
        oversize_heads(port, deadline, tally),
        garbage_frames(port, deadline, tally),
        deflate_bombs(port, deadline, tally, bomb_mib),
        slow_readers(port, deadline, tally),
    )
    return +tally
