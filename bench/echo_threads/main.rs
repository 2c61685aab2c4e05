//! The floor for the handler model: a pure-Rust echo with one blocking OS thread per
//! connection and one write per message, as a `web_socket_transfer_data` loop runs.
//! Usage: echo_threads PORT   (listens on 127.0.0.1:PORT, echoes text and binary on any path)

use std::net::{TcpListener, TcpStream};

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{accept_with_config, Message};

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9002);
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    loop {
        match listener.accept() {
            Ok((tcp, _peer)) => {
                // Small stacks, like a Python thread's C stack is small: 10,000 must fit.
                let _ = std::thread::Builder::new()
                    .stack_size(64 << 10)
                    .spawn(move || echo(tcp));
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

fn echo(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .read_buffer_size(16 << 10);
    let Ok(mut ws) = accept_with_config(tcp, Some(config)) else {
        return;
    };
    while let Ok(message) = ws.read() {
        if matches!(message, Message::Text(_) | Message::Binary(_)) && ws.send(message).is_err() {
            return;
        }
    }
}
