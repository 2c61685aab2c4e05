//! Opening one client connection with TCP_NODELAY and a deadline.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::{client_async, tungstenite::client::IntoClientRequest, WebSocketStream};

pub type Ws = WebSocketStream<TcpStream>;

/// TCP connect plus the opening handshake, all within `deadline`.
pub async fn open(url: &str, deadline: Duration) -> Result<Ws, String> {
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
        let (ws, _response) = client_async(request, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        Ok(ws)
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err("open timed out".into()),
    }
}
