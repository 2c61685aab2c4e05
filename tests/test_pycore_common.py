"""Pure-Python helpers: extension grammar, header tokenizer, parse_uri, util, MemorizingFile."""

import io
import zlib

import pytest
from pywebsocket3 import common, http_header_util, util
from pywebsocket3.memorizingfile import MemorizingFile


def _params(extension):
    return (extension.name(), extension.get_parameters())


def test_parse_extensions_tokens_quoted_and_lws():
    parsed = common.parse_extensions(
        'permessage-deflate; server_max_window_bits="10" ;  client_max_window_bits ,  , '
        "x-foo; a=b,\r\n y"
    )
    assert [_params(e) for e in parsed] == [
        (
            "permessage-deflate",
            [("server_max_window_bits", "10"), ("client_max_window_bits", None)],
        ),
        ("x-foo", [("a", "b")]),
        ("y", []),
    ]


def test_parse_extensions_quoted_pair_and_folded_space():
    (ext,) = common.parse_extensions('e; p="a\\"b\r\n c"')
    assert ext.get_parameter_value("p") == 'a"b c'


@pytest.mark.parametrize(
    "bad",
    ["", ",", " , ", "foo; =bar", "foo; bar=", 'foo; bar="unterminated', "foo bar", "foo;", "@"],
)
def test_parse_extensions_rejects(bad):
    with pytest.raises(common.ExtensionParsingException):
        common.parse_extensions(bad)


def test_extension_parameter_accessors():
    ext = common.ExtensionParameter("n")
    ext.add_parameter("a", None)
    ext.add_parameter("b", "1")
    ext.add_parameter("b", "2")
    assert ext.get_parameter_names() == ["a", "b", "b"]
    assert ext.has_parameter("b") and not ext.has_parameter("c")
    assert ext.get_parameter_value("b") == "1"
    assert ext.get_parameter_value("a") is None
    assert ext.get_parameter_value("c") is None


def test_format_extensions_quotes_only_when_needed():
    a = common.ExtensionParameter("permessage-deflate")
    a.add_parameter("server_max_window_bits", "10")
    a.add_parameter("server_no_context_takeover", None)
    b = common.ExtensionParameter("x")
    b.add_parameter("q", "a b")
    b.add_parameter("e", "")
    b.add_parameter("d", 'say "hi"')
    assert common.format_extensions([a, b]) == (
        "permessage-deflate; server_max_window_bits=10; server_no_context_takeover, "
        'x; q="a b"; e=""; d="say \\"hi\\""'
    )
    # What format_extension writes, parse_extensions reads back.
    assert [_params(e) for e in common.parse_extensions(common.format_extensions([a, b]))] == [
        _params(a),
        _params(b),
    ]


def test_constants_old_and_new():
    assert common.VERSION_HYBI_LATEST == 13 and common.VERSION_HYBI08 == 8
    assert common.VERSION_HIXIE75 == -1 and common.VERSION_HYBI00 == 0
    assert common.STATUS_NORMAL == 1000 and common.STATUS_MANDATORY_EXT == 1010
    assert common.WEBSOCKET_ACCEPT_UUID == b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert common.MUX_EXTENSION == "mux_DO_NOT_USE"
    assert common.X_WEBKIT_DEFLATE_FRAME_EXTENSION == "x-webkit-deflate-frame"
    assert common.SEC_WEBSOCKET_KEY1_HEADER == "Sec-WebSocket-Key1"
    assert [common.is_control_opcode(op) for op in (0, 1, 2, 7, 8, 9, 0xA, 0xF)] == [
        False,
        False,
        False,
        False,
        True,
        True,
        True,
        True,
    ]


def test_header_tokenizer():
    state = http_header_util.ParsingState('tok,\r\n\t "q\\x" rest')
    assert http_header_util.consume_token(state) == "tok"
    assert http_header_util.consume_string(state, ",")
    assert http_header_util.peek(state) == "\r"
    http_header_util.consume_lwses(state)
    assert http_header_util.consume_token_or_quoted_string(state) == "qx"
    assert not http_header_util.consume_string(state, "x")
    assert http_header_util.consume_lws(state)
    assert not http_header_util.consume_lws(state)
    assert http_header_util.consume(state, 99) is None
    assert http_header_util.consume(state, 4) == "rest"
    assert http_header_util.peek(state) is None
    assert http_header_util.consume_token(state) is None


def test_quote_if_necessary():
    assert http_header_util.quote_if_necessary("abc") == "abc"
    assert http_header_util.quote_if_necessary("") == '""'
    assert http_header_util.quote_if_necessary("a,b") == '"a,b"'
    assert http_header_util.quote_if_necessary('"') == '"\\""'
    assert http_header_util.quote_if_necessary("a\\ b") == '"a\\\\ b"'
    assert http_header_util.quote_if_necessary("a   b") == '"a \\ \\ b"'


def test_format_extensions_round_trips_backslashes_and_spaces():
    # Found by fuzz/python/extension_headers.py: the backslash was written unescaped, and
    # parsing the formatted header took backslash-space for a quoted-pair (the value changed).
    parsed = common.parse_extensions('x; v="a\\\\ b\\"c"')
    assert _params(parsed[0]) == ("x", [("v", 'a\\ b"c')])
    formatted = common.format_extensions(parsed)
    assert formatted == 'x; v="a\\\\ b\\"c"'
    assert [_params(e) for e in common.parse_extensions(formatted)] == [_params(parsed[0])]
    # A run of spaces from quoted-pairs: unescaped, it would read back as one space.
    parsed = common.parse_extensions('x; v="p\\ \\ q"')
    assert _params(parsed[0]) == ("x", [("v", "p  q")])
    formatted = common.format_extensions(parsed)
    assert [_params(e) for e in common.parse_extensions(formatted)] == [_params(parsed[0])]


@pytest.mark.parametrize(
    "uri,expected",
    [
        ("/echo?q#f", (None, None, "/echo?q#f")),
        ("http://h/x", (None, None, "http://h/x")),
        ("ws://example.com/a?b=c#d", ("example.com", 80, "/a?b=c#d")),
        ("wss://example.com", ("example.com", 443, "/")),
        ("ws://example.com:8080/x", ("example.com", 8080, "/x")),
        ("ws:///x", (None, None, None)),
        ("ws://example.com:port/x", (None, None, None)),
        ("ws://example.com:-1/x", (None, None, None)),
    ],
)
def test_parse_uri(uri, expected):
    assert http_header_util.parse_uri(uri) == expected


def test_util_small_helpers(tmp_path):
    assert util.hexify(b"\x01\xff") == "01 ff"
    assert util.pack_byte(0x81) == b"\x81"
    assert util.get_class_logger(MemorizingFile(io.BytesIO())).name == (
        "pywebsocket3.memorizingfile.MemorizingFile"
    )
    e = ValueError("boom")
    util.prepend_message_to_exception("ctx: ", e)
    assert str(e) == "ctx: boom"
    script = tmp_path / "hello.pl"
    script.write_text("#!/usr/bin/perl -wT\nprint 1;\n")
    assert util.get_script_interp(str(script)) == "/usr/bin/perl -wT"
    assert util.get_script_interp(str(script), "/cyg") == "/cyg/perl -wT"
    (tmp_path / "plain").write_text("no shebang\n")
    assert util.get_script_interp(str(tmp_path / "plain")) is None
    assert util.sha1_hash(b"abc").hexdigest() == "a9993e364706816aba3e25717850c26c9cd0d89d"


def test_repeated_xor_masker_continues_across_calls():
    key = b"\x01\x02\x03\x04"
    data = bytes(range(11))
    expected = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    masker = util.RepeatedXorMasker(key)
    assert masker.mask(data[:3]) + masker.mask(data[3:]) == expected
    assert util.NoopMasker().mask(data) is data


def test_rfc1979_deflater_matches_zlib_and_round_trips():
    reference = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    first = reference.compress(b"Hello") + reference.flush(zlib.Z_SYNC_FLUSH)
    deflater = util._RFC1979Deflater(None, False)
    assert deflater.filter(b"Hello") == first[:-4] == bytes.fromhex("f248cdc9c90700")
    assert deflater.filter(b"Hello") == bytes.fromhex("f200110000")
    inflater = util._RFC1979Inflater()
    assert inflater.filter(bytes.fromhex("f248cdc9c90700")) == b"Hello"
    assert inflater.filter(bytes.fromhex("f200110000")) == b"Hello"
    # bfinal: a finished stream plus an empty block; the inflater starts a new stream after it.
    finishing = util._RFC1979Deflater(9, False)
    assert finishing._window_bits == 9
    payload = finishing.filter(b"abc", bfinal=True)
    assert payload.endswith(b"\x00")
    assert inflater.filter(payload) == b"abc"


def test_inflater_sized_reads():
    deflater = util._Deflater(15)
    inflater = util._Inflater(15)
    inflater.append(deflater.compress_and_flush(b"x" * 100))
    assert inflater.decompress(30) == b"x" * 30
    assert inflater.decompress(-1) == b"x" * 70
    with pytest.raises(Exception, match="size must be"):
        inflater.decompress(0)


def test_memorizing_file():
    f = MemorizingFile(io.BytesIO(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), max_memorized_lines=2)
    assert f.readline(3) == b"GET"
    assert f.readline() == b" / HTTP/1.1\r\n"
    assert f.readline() == b"Host: a\r\n"
    assert f.readline() == b"\r\n"
    assert f.read() == b"body"
    assert f.get_memorized_lines() == [b"GET / HTTP/1.1\r\n", b"Host: a\r\n"]
