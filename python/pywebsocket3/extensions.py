"""Extension processors: permessage-deflate (RFC 7692), the only extension.

A processor validates the client's offer and builds the response during the opening
handshake. Compression itself runs in the native engine: the framer records the negotiated
settings on the StreamOptions, and Stream hands them to the engine.
"""

from pywebsocket3 import common, util

_available_processors = {}


class ExtensionProcessorInterface:
    """Base of extension processors: the offer, an active flag and the response hook."""

    def __init__(self, request):
        self._logger = util.get_class_logger(self)
        self._request = request
        self._active = True

    def request(self):
        """The client's offer (an ExtensionParameter)."""
        return self._request

    def name(self):
        return None

    def check_consistency_with_other_processors(self, processors):
        pass

    def set_active(self, active):
        self._active = active

    def is_active(self):
        return self._active

    def _get_extension_response_internal(self):
        return None

    def get_extension_response(self):
        """The accepted ExtensionParameter, or None (the processor then deactivates)."""
        if not self._active:
            self._logger.debug("Extension %s is deactivated", self.name())
            return None
        response = self._get_extension_response_internal()
        if response is None:
            self._active = False
        return response

    def _setup_stream_options_internal(self, stream_options):
        pass

    def setup_stream_options(self, stream_options):
        if self._active:
            self._setup_stream_options_internal(stream_options)


def _parse_window_bits(bits):
    """An integer 8..15 written canonically ("08", " 8", "8.0" are refused); else ValueError."""
    if bits is None:
        raise ValueError("Value is required")
    value = int(bits)
    if bits != str(value) or value < 8 or value > 15:
        raise ValueError("Invalid value: %r" % bits)
    return value


def is_compression_extension(extension_name):
    """Old mod_pywebsocket API: whether a processor name is a compression extension."""
    return extension_name in (
        "deflate",
        common.PERMESSAGE_DEFLATE_EXTENSION,
        common.DEFLATE_FRAME_EXTENSION,
        common.X_WEBKIT_DEFLATE_FRAME_EXTENSION,
    )


class PerMessageDeflateExtensionProcessor(ExtensionProcessorInterface):
    """permessage-deflate: offer validation, response parameters, and handler settings.

    Beyond upstream (which declined them) offers with ``client_no_context_takeover`` or
    ``client_max_window_bits=N`` are accepted as RFC 7692 allows.
    """

    _SERVER_MAX_WINDOW_BITS_PARAM = "server_max_window_bits"
    _SERVER_NO_CONTEXT_TAKEOVER_PARAM = "server_no_context_takeover"
    _CLIENT_MAX_WINDOW_BITS_PARAM = "client_max_window_bits"
    _CLIENT_NO_CONTEXT_TAKEOVER_PARAM = "client_no_context_takeover"

    _KNOWN_PARAMS = (
        _SERVER_MAX_WINDOW_BITS_PARAM,
        _SERVER_NO_CONTEXT_TAKEOVER_PARAM,
        _CLIENT_MAX_WINDOW_BITS_PARAM,
        _CLIENT_NO_CONTEXT_TAKEOVER_PARAM,
    )

    def __init__(self, request):
        super().__init__(request)
        self._preferred_client_max_window_bits = None
        self._client_no_context_takeover = False
        # Settings a handler may make before the response exists; the framer gets them.
        self._bfinal = False
        self._compress_outgoing = True
        self._framer = None

    def name(self):
        # "deflate", not "permessage-deflate": handlers compare against this.
        return "deflate"

    def _decline(self, message, *args):
        self._logger.debug(message, *args)
        return None

    def _get_extension_response_internal(self):
        offer = self._request
        names = offer.get_parameter_names()
        for name in names:
            if name not in self._KNOWN_PARAMS:
                return self._decline("Unknown parameter: %r", name)
        if len(set(names)) != len(names):
            return self._decline("Duplicate parameters in %r", names)

        server_max_window_bits = None
        if offer.has_parameter(self._SERVER_MAX_WINDOW_BITS_PARAM):
            try:
                server_max_window_bits = _parse_window_bits(
                    offer.get_parameter_value(self._SERVER_MAX_WINDOW_BITS_PARAM)
                )
            except ValueError as e:
                return self._decline("Bad server_max_window_bits parameter: %r", e)

        server_no_context_takeover = offer.has_parameter(self._SERVER_NO_CONTEXT_TAKEOVER_PARAM)
        if offer.get_parameter_value(self._SERVER_NO_CONTEXT_TAKEOVER_PARAM) is not None:
            return self._decline("server_no_context_takeover must not have a value")

        # Offered without a value: the client accepts a limit from us. With a value
        # (RFC 7692 7.1.2.2): the client limits itself and our limit may only be lower.
        client_offers_window_bits = offer.has_parameter(self._CLIENT_MAX_WINDOW_BITS_PARAM)
        offered_client_window_bits = None
        raw_value = offer.get_parameter_value(self._CLIENT_MAX_WINDOW_BITS_PARAM)
        if raw_value is not None:
            try:
                offered_client_window_bits = _parse_window_bits(raw_value)
            except ValueError as e:
                return self._decline("Bad client_max_window_bits parameter: %r", e)

        if offer.get_parameter_value(self._CLIENT_NO_CONTEXT_TAKEOVER_PARAM) is not None:
            return self._decline("client_no_context_takeover must not have a value")

        response = common.ExtensionParameter(offer.name())
        if server_max_window_bits is not None:
            response.add_parameter(self._SERVER_MAX_WINDOW_BITS_PARAM, str(server_max_window_bits))
        if server_no_context_takeover:
            response.add_parameter(self._SERVER_NO_CONTEXT_TAKEOVER_PARAM, None)

        # The client compresses with up to 15 bits unless the response limits it.
        incoming_window_bits = 15
        if self._preferred_client_max_window_bits is not None:
            if not client_offers_window_bits:
                return self._decline("client_max_window_bits set but the client cannot accept it")
            client_window_bits = self._preferred_client_max_window_bits
            if offered_client_window_bits is not None:
                client_window_bits = min(client_window_bits, offered_client_window_bits)
            response.add_parameter(self._CLIENT_MAX_WINDOW_BITS_PARAM, str(client_window_bits))
            incoming_window_bits = client_window_bits
        if self._client_no_context_takeover:
            response.add_parameter(self._CLIENT_NO_CONTEXT_TAKEOVER_PARAM, None)

        # Kept for code that inspects them (upstream's unit tests do).
        self._rfc1979_deflater = util._RFC1979Deflater(
            server_max_window_bits, server_no_context_takeover
        )
        self._rfc1979_inflater = util._RFC1979Inflater()

        framer = _PerMessageDeflateFramer(server_max_window_bits, server_no_context_takeover)
        framer._incoming_window_bits = incoming_window_bits
        # An offered client_no_context_takeover is only a hint (RFC 7692 7.1.1.1): the inflater
        # may reset per message only when our response made it binding.
        framer._incoming_no_context_takeover = bool(self._client_no_context_takeover)
        framer.set_bfinal(self._bfinal)
        framer.set_compress_outgoing_enabled(self._compress_outgoing)
        self._framer = framer

        self._logger.debug(
            "Enable %s extension (server_max_window_bits=%s, server_no_context_takeover=%r, "
            "client_max_window_bits=%s, client_no_context_takeover=%r)",
            offer.name(),
            server_max_window_bits,
            server_no_context_takeover,
            self._preferred_client_max_window_bits,
            self._client_no_context_takeover,
        )
        return response

    def _setup_stream_options_internal(self, stream_options):
        self._framer.setup_stream_options(stream_options)

    def set_client_max_window_bits(self, value):
        """Ask the client (who must have offered client_max_window_bits) to use at most
        ``value`` window bits; our inflater then uses that window."""
        self._preferred_client_max_window_bits = value

    def set_client_no_context_takeover(self, value):
        """Ask the client not to carry context between messages (the inflater then resets
        after every message)."""
        self._client_no_context_takeover = value

    def set_bfinal(self, value):
        """End every outgoing message with a final block (Z_FINISH) and a fresh compressor."""
        self._bfinal = value
        if self._framer is not None:
            self._framer.set_bfinal(value)

    def enable_outgoing_compression(self):
        self._compress_outgoing = True
        if self._framer is not None:
            self._framer.set_compress_outgoing_enabled(True)

    def disable_outgoing_compression(self):
        self._compress_outgoing = False
        if self._framer is not None:
            self._framer.set_compress_outgoing_enabled(False)


class _MarkerFilter:
    """Stands in the StreamOptions filter lists where upstream put its deflate filters.

    The native engine compresses and inflates; ``filter`` passes data through unchanged.
    """

    def __init__(self, parent):
        self._parent = parent

    def filter(self, data, *unused_args, **unused_kwargs):
        return data


class _PerMessageDeflateFramer:
    """The negotiated permessage-deflate settings of one stream, in either direction.

    Server side: built by the processor. Client side (echo_client): built from the server's
    response with the client_* parameters. ``setup_stream_options`` records it on the
    StreamOptions; Stream then switches the engine on and keeps this framer informed.
    """

    def __init__(self, deflate_max_window_bits, deflate_no_context_takeover):
        self._logger = util.get_class_logger(self)
        self._window_bits = 15 if deflate_max_window_bits is None else deflate_max_window_bits
        self._no_context_takeover = bool(deflate_no_context_takeover)
        self._rfc1979_deflater = util._RFC1979Deflater(
            deflate_max_window_bits, deflate_no_context_takeover
        )
        self._rfc1979_inflater = util._RFC1979Inflater()
        self._incoming_window_bits = 15
        self._incoming_no_context_takeover = False
        self._bfinal = False
        self._compress_outgoing_enabled = False
        self._engine = None

    def set_bfinal(self, value):
        self._bfinal = bool(value)
        if self._engine is not None:
            set_bfinal = getattr(self._engine, "set_bfinal", None)
            if set_bfinal is not None:
                set_bfinal(self._bfinal)
            else:
                # Re-enabling restarts both directions: only safe before any message.
                self._engine.enable_deflate(**self._engine_settings())

    def set_compress_outgoing_enabled(self, value):
        self._compress_outgoing_enabled = bool(value)
        if self._engine is not None:
            self._engine.set_outgoing_compression(self._compress_outgoing_enabled)

    def _engine_settings(self):
        return {
            "outgoing": self._compress_outgoing_enabled,
            "incoming": True,
            "outgoing_window_bits": max(self._window_bits, 9),
            "outgoing_no_context_takeover": self._no_context_takeover,
            "bfinal": self._bfinal,
            # Raw inflate cannot use an 8-bit window; 9 reads any 8-bit stream.
            "incoming_window_bits": max(self._incoming_window_bits, 9),
            "incoming_no_context_takeover": self._incoming_no_context_takeover,
        }

    def _attach_engine(self, engine):
        """Called by Stream.__init__: switch deflate on in the engine with these settings."""
        self._engine = engine
        engine.enable_deflate(**self._engine_settings())

    def setup_stream_options(self, stream_options):
        """Record this framer on ``stream_options`` (and marker filters in upstream's lists)."""
        self._outgoing_message_filter = _MarkerFilter(self)
        self._incoming_message_filter = _MarkerFilter(self)
        self._outgoing_frame_filter = _MarkerFilter(self)
        self._incoming_frame_filter = _MarkerFilter(self)
        stream_options.outgoing_message_filters.append(self._outgoing_message_filter)
        stream_options.incoming_message_filters.append(self._incoming_message_filter)
        stream_options.outgoing_frame_filters.append(self._outgoing_frame_filter)
        stream_options.incoming_frame_filters.append(self._incoming_frame_filter)
        stream_options.encode_text_message_to_utf8 = False
        stream_options._deflate = self


_available_processors[common.PERMESSAGE_DEFLATE_EXTENSION] = PerMessageDeflateExtensionProcessor


def get_extension_processor(extension_request):
    """A processor for the offered extension, or None when it is unknown."""
    processor_class = _available_processors.get(extension_request.name())
    if processor_class is None:
        return None
    return processor_class(extension_request)
