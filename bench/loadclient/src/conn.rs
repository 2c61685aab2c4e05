//! Opening one client connection with TCP_NODELAY and a deadline.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{client_async_with_config, WebSocketStream};

pub type Ws = WebSocketStream<TcpStream>;

/// tungstenite zero-fills its whole read buffer before every read (128 KiB by default), which
/// made this client, not the server, the bottleneck at 100 connections: 16 KiB for small
/// messages (the floor server's size), 128 KiB only where messages are that large.
fn config_for(message_size: usize) -> WebSocketConfig {
    let read_buffer = if message_size >= 64 << 10 {
        128 << 10
    } else {
        16 << 10
    };
    WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .read_buffer_size(read_buffer)
}

/// TCP connect plus the opening handshake, all within `deadline`.
/// `message_size`: the largest message this connection will receive (sizes its read buffer).
pub async fn open(url: &str, deadline: Duration, message_size: usize) -> Result<Ws, String> {
    let request = url
        .into_client_request()
        .map_err(|e| format!("bad url {url}: {e}"))?;
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or_else(|| format!("no host in {url}"))?;
    let work = async {
        let tcp = TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let (ws, _response) =
            client_async_with_config(request, tcp, Some(config_for(message_size)))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        Ok(ws)
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err("open timed out".into()),
    }
}
