//! One error type for the native core, mapped once to the upstream-named Python exceptions.

use std::fmt;
use std::io;

use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::PyErr;

pyo3::import_exception!(
    pywebsocket3._stream_exceptions,
    ConnectionTerminatedException
);
pyo3::import_exception!(pywebsocket3._stream_exceptions, InvalidFrameException);
pyo3::import_exception!(pywebsocket3._stream_exceptions, BadOperationException);
pyo3::import_exception!(pywebsocket3._stream_exceptions, UnsupportedFrameException);
pyo3::import_exception!(pywebsocket3._stream_exceptions, InvalidUTF8Exception);
pyo3::import_exception!(pywebsocket3._stream_exceptions, ProtocolViolationException);
pyo3::import_exception!(pywebsocket3._stream_exceptions, MessageTooBigException);

#[derive(Debug)]
pub enum WsError {
    /// EOF or a socket error while receiving: the peer is gone.
    ConnectionTerminated(String),
    /// A frame that breaks RFC 6455 framing rules (close 1002).
    InvalidFrame(String),
    /// Reserved bits without an extension, or an unknown opcode (close 1002).
    ProtocolViolation(String),
    /// A text message that is not UTF-8 (close 1007).
    InvalidUtf8(String),
    /// A message over the size limit (close 1009).
    MessageTooBig(String),
    /// An operation not allowed in the current state.
    BadOperation(String),
    /// A socket error while sending: re-raised as the OS error, like upstream `_write`.
    Io(io::Error),
    Value(String),
    Type(String),
}

impl WsError {
    /// The close code RFC 6455 asks for when this error ends a connection.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            WsError::InvalidFrame(_) | WsError::ProtocolViolation(_) => Some(1002),
            WsError::InvalidUtf8(_) => Some(1007),
            WsError::MessageTooBig(_) => Some(1009),
            _ => None,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WsError::ConnectionTerminated(m)
            | WsError::InvalidFrame(m)
            | WsError::ProtocolViolation(m)
            | WsError::InvalidUtf8(m)
            | WsError::MessageTooBig(m)
            | WsError::BadOperation(m)
            | WsError::Value(m)
            | WsError::Type(m) => f.write_str(m),
            WsError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WsError {}

impl From<io::Error> for WsError {
    fn from(err: io::Error) -> Self {
        WsError::Io(err)
    }
}

impl From<WsError> for PyErr {
    fn from(err: WsError) -> PyErr {
        match err {
            WsError::ConnectionTerminated(m) => ConnectionTerminatedException::new_err(m),
            WsError::InvalidFrame(m) => InvalidFrameException::new_err(m),
            WsError::ProtocolViolation(m) => ProtocolViolationException::new_err(m),
            WsError::InvalidUtf8(m) => InvalidUTF8Exception::new_err(m),
            WsError::MessageTooBig(m) => MessageTooBigException::new_err(m),
            WsError::BadOperation(m) => BadOperationException::new_err(m),
            WsError::Io(e) => PyOSError::new_err(e.to_string()),
            WsError::Value(m) => PyValueError::new_err(m),
            WsError::Type(m) => PyTypeError::new_err(m),
        }
    }
}

pub type WsResult<T> = Result<T, WsError>;
