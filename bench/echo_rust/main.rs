//! The floor: a pure-Rust tokio-tungstenite echo server on a current-thread runtime.
//! Usage: echo_rust PORT   (listens on 127.0.0.1:PORT, echoes text and binary on any path)

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9001);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(port))
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        match listener.accept().await {
            Ok((tcp, _peer)) => {
                tokio::spawn(echo(tcp));
            }
            // Out of fds or similar: back off instead of spinning.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

async fn echo(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    // A 16 KiB read buffer (picows' default) instead of 128 KiB: idle connections stay small.
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .read_buffer_size(16 << 10);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    while let Some(Ok(first)) = ws.next().await {
        let mut message = Some(first);
        // Echo every message already received, then flush once: writes are batched.
        while let Some(current) = message.take() {
            if matches!(current, Message::Text(_) | Message::Binary(_))
                && ws.feed(current).await.is_err()
            {
                return;
            }
            message = match ws.next().now_or_never() {
                Some(Some(Ok(next))) => Some(next),
                Some(_) => {
                    let _ = ws.flush().await;
                    return;
                }
                None => None,
            };
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}
