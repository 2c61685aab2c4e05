//! Closing a finished connection's descriptor at once. The request and its Stream refer to
//! each other, so the Python objects holding a finished connection wait for the cycle
//! collector (with a large heap, for many thousands of connections); upstream closed the
//! socket when the handler returned, and so do we: every handle of the connection moves to
//! one shared socket that is shut down both ways, so late reads still see EOF and late
//! writes still fail with EPIPE, as on the real socket after `close`.

use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};

use super::ConnIo;

/// One per process; None when no loopback address works (descriptors then wait as before).
fn spent_socket() -> Option<Arc<TcpStream>> {
    static SPENT: OnceLock<Option<Arc<TcpStream>>> = OnceLock::new();
    SPENT
        .get_or_init(|| {
            let loopbacks = [
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
            ];
            loopbacks.iter().find_map(|addr| shut_pair_end(*addr).ok())
        })
        .clone()
}

/// A connected TCP socket with both directions shut: reads return 0, writes EPIPE.
fn shut_pair_end(addr: SocketAddr) -> std::io::Result<Arc<TcpStream>> {
    let listener = TcpListener::bind(addr)?;
    let end = TcpStream::connect(listener.local_addr()?)?;
    drop(listener.accept()?);
    end.shutdown(Shutdown::Both)?;
    Ok(Arc::new(end))
}

impl ConnIo {
    /// The socket shutdowns and readiness waits use (the spent one once released).
    pub(super) fn control_socket(&self) -> Arc<TcpStream> {
        let control = self
            .control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(&control)
    }

    /// Moves every handle to the spent socket, closing the descriptor (unless another
    /// thread still holds a lock: then the last drop closes it, as before). `finish` calls
    /// it on handler threads; the hub and the asyncio loop name the descriptor after
    /// `finish` (epoll, `remove_reader`), so they call it (`Connection._release`) once done.
    pub fn release_socket(&self) {
        let Some(spent) = spent_socket() else {
            return;
        };
        let (Ok(mut reader), Ok(mut out), Ok(mut control)) = (
            self.reader.try_lock(),
            self.writer.try_lock(),
            self.control.try_lock(),
        ) else {
            return;
        };
        reader.stream = Arc::clone(&spent);
        out.stream = Arc::clone(&spent);
        *control = spent;
    }
}
