"""A small RFC 2616 tokenizer (token, quoted-string, LWS) and ws:// request-target parsing."""

import urllib.parse

# RFC 2616 section 2.2 separators.
_SEPARATORS = frozenset('()<>@,;:\\"/[]?={} \t')


def _is_char(c):
    return ord(c) <= 127


def _is_ctl(c):
    code = ord(c)
    return code <= 31 or code == 127


def _is_token_char(c):
    return _is_char(c) and not _is_ctl(c) and c not in _SEPARATORS


class ParsingState:
    """The string being parsed and the index of the next unconsumed character."""

    def __init__(self, data):
        self.data = data
        self.head = 0


def peek(state, pos=0):
    """The character ``pos`` places after the head, or None past the end."""
    index = state.head + pos
    if index >= len(state.data):
        return None
    return state.data[index]


def consume(state, amount=1):
    """Take ``amount`` characters from the head; None (consuming nothing) if too few remain."""
    end = state.head + amount
    if end > len(state.data):
        return None
    result = state.data[state.head : end]
    state.head = end
    return result


def consume_string(state, expected):
    """Consume ``expected`` if the data continues with it; report whether it did."""
    if not state.data.startswith(expected, state.head):
        return False
    state.head += len(expected)
    return True


def consume_lws(state):
    """Consume one LWS (``[CRLF] 1*(SP | HT)``); report whether one was there."""
    start = state.head
    consume_string(state, "\r\n")
    count = 0
    while peek(state, count) in (" ", "\t"):
        count += 1
    if count == 0:
        state.head = start
        return False
    state.head += count
    return True


def consume_lwses(state):
    """Consume any number of LWS."""
    while consume_lws(state):
        pass


def consume_token(state):
    """Consume a token and return it, or None when the head is not a token character."""
    count = 0
    while True:
        c = peek(state, count)
        if c is None or not _is_token_char(c):
            break
        count += 1
    if count == 0:
        return None
    return consume(state, count)


def consume_token_or_quoted_string(state):
    """Consume a token or a quoted-string; return the (unquoted) value or None."""
    start = state.head
    if not consume_string(state, '"'):
        return consume_token(state)
    chars = []
    escaped = False
    while True:
        if not escaped and consume_lws(state):
            # Folded whitespace inside quotes reads as one space.
            chars.append(" ")
            continue
        c = consume(state)
        if c is None:
            state.head = start
            return None
        if escaped:
            escaped = False
            if not _is_char(c):
                state.head = start
                return None
            chars.append(c)
        elif c == "\\":
            escaped = True
        elif c == '"':
            return "".join(chars)
        elif _is_ctl(c):
            state.head = start
            return None
        else:
            chars.append(c)


def quote_if_necessary(s):
    """``s`` as is when it is a token, else as a quoted-string (``""`` for empty)."""
    if s == "":
        return '""'
    needs_quotes = False
    out = []
    previous = ""
    for c in s:
        if c == '"' or not _is_token_char(c):
            needs_quotes = True
        # Beyond upstream, so that parsing gives `s` back (found by fuzz/extension_headers):
        # a backslash is escaped (else it starts a quoted-pair), and so is a space after a
        # space (else the run reads back as one LWS, i.e. one space).
        escape = c in '"\\' or _is_ctl(c) or (c == " " and previous == " ")
        out.append("\\" + c if escape else c)
        previous = c
    if needs_quotes:
        return '"' + "".join(out) + '"'
    return "".join(out)


def parse_uri(uri):
    """Split a request target into ``(host, port, resource)``.

    Anything that is not ws:// or wss:// is returned untouched as the resource with no host
    or port; an absolute URI without a host or with a bad port gives ``(None, None, None)``.
    """
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme not in ("ws", "wss"):
        return None, None, uri
    if parsed.hostname is None:
        return None, None, None
    try:
        port = parsed.port
    except ValueError:
        return None, None, None
    if port is None:
        port = 80 if parsed.scheme == "ws" else 443
    resource = parsed.path or "/"
    if parsed.query:
        resource += "?" + parsed.query
    if parsed.fragment:
        resource += "#" + parsed.fragment
    return parsed.hostname, port, resource
