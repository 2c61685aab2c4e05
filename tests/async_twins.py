"""Async twins of blocking handler files, made at test time, so the same tests run against
``async def`` handlers (``PYWEBSOCKET_TEST_HANDLER_MODE=async``).

The rewrite is mechanical and meant only for the small handler files of this suite: every
``def`` becomes ``async def`` and every stream, msgutil or raw connection call, and
``time.sleep``, is awaited. Each twin is checked to be an async handler file.
"""

import re
import shutil
from pathlib import Path

_AWAITED = re.compile(
    r"(?<![\w.])(?<!def )("
    r"msgutil\.(?:receive_message|send_message|close_connection|send_ping)"
    r"|request\.ws_stream\.(?:receive_message|send_message|close_connection|send_ping"
    r"|receive_bytes)"
    r"|request\.connection\.(?:read|write)"
    r"|stream\.(?:send_message|receive_message)"
    r"|_send_all|_on_ping|_on_pong"
    r")\("
)
_DEF = re.compile(r"^(\s*)def (web_socket_\w+|_on_ping|_on_pong|_send_all)\(", re.MULTILINE)

# Blocking files with async twins; the rest are copied unchanged (they stay blocking).
EXAMPLES = ["echo_wsh.py", "close_wsh.py", "abort_wsh.py", "internal_error_wsh.py"]
FIXTURES = [
    "echo_wsh.py",
    "on_ping_wsh.py",
    "on_pong_wsh.py",
    "passive_abort_wsh.py",
    "passive_custom_wsh.py",
    "passive_delay_wsh.py",
    "passive_none_wsh.py",
    "passive_reason_none_wsh.py",
    "raw_before_101_wsh.py",
    "raw_read_wsh.py",
    "raw_read_short_in_handshake_wsh.py",
    "hs_abort_wsh.py",
    "hs_status_418_wsh.py",
    "hs_value_error_wsh.py",
    "tr_abort_wsh.py",
    "tr_bad_operation_wsh.py",
    "tr_bytes_as_text_wsh.py",
    "tr_invalid_frame_wsh.py",
    "tr_invalid_utf8_wsh.py",
    "tr_return_wsh.py",
    "tr_terminated_wsh.py",
    "tr_unsupported_wsh.py",
    "tr_value_error_wsh.py",
    "extra_headers_wsh.py",
    "fragments_wsh.py",
    "request_attrs_wsh.py",
]


def twin_source(source: str) -> str:
    """The async twin of a blocking handler file's source."""
    out = _DEF.sub(r"\1async def \2(", source)
    out = _AWAITED.sub(r"await \1(", out)
    if "time.sleep(" in out:
        out = "import asyncio\n" + out.replace("time.sleep(", "await asyncio.sleep(")
    if "async def web_socket_transfer_data" not in out:
        raise ValueError("no async transfer hook in the twin:\n" + out)
    compile(out, "<twin>", "exec")
    return out


def overlay(source_dir: Path, target_dir: Path, names: list[str]) -> Path:
    """A copy of ``source_dir`` whose files named in ``names`` are replaced by twins."""
    shutil.copytree(source_dir, target_dir, symlinks=True)
    for name in names:
        path = target_dir / name
        path.write_text(twin_source(path.read_text()))
    return target_dir
