#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
use super::*;
use std::net::TcpListener;

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (server, client)
}

#[test]
fn leftover_comes_before_socket_bytes() {
    let (server, mut client) = pair();
    let io = ConnIo::new(server, b"abc".to_vec()).unwrap();
    client.write_all(b"defgh").unwrap();
    let mut first = [0u8; 4];
    io.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"abcd");
    drop(client);
    assert_eq!(io.read_up_to(100).unwrap(), b"efgh");
    assert_eq!(io.read_up_to(100).unwrap(), b"");
    let mut more = [0u8; 1];
    assert_eq!(
        io.read_exact(&mut more).unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
}

#[test]
fn a_blocked_reader_does_not_block_a_writer() {
    let (server, mut client) = pair();
    let io = Arc::new(ConnIo::new(server, Vec::new()).unwrap());
    let reader_io = Arc::clone(&io);
    let reader = std::thread::spawn(move || reader_io.read_up_to(3));
    std::thread::sleep(Duration::from_millis(50));
    let response = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
    io.write_all(response).unwrap();
    assert!(io.websocket_open());
    let mut got = [0u8; 36];
    assert_eq!(got.len(), response.len());
    client.read_exact(&mut got).unwrap();
    client.write_all(b"xyz").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"xyz");
}

#[test]
fn shutdown_wakes_a_blocked_reader_and_control_frames_go_out() {
    let (server, mut client) = pair();
    let io = Arc::new(ConnIo::new(server, Vec::new()).unwrap());
    assert!(io.send_control(&[0x89, 0x00], Duration::from_millis(100)));
    let mut ping = [0u8; 2];
    client.read_exact(&mut ping).unwrap();
    assert_eq!(ping, [0x89, 0x00]);
    let reader_io = Arc::clone(&io);
    let reader = std::thread::spawn(move || reader_io.read_up_to(10));
    std::thread::sleep(Duration::from_millis(50));
    io.shutdown();
    assert_eq!(reader.join().unwrap().unwrap(), b"");
}

#[test]
fn control_frames_give_up_when_the_writer_is_busy() {
    let (server, _client) = pair();
    let io = ConnIo::new(server, Vec::new()).unwrap();
    let _busy = io.writer.lock().unwrap();
    let started = Instant::now();
    assert!(!io.send_control(&[0x89, 0x00], Duration::from_millis(30)));
    assert!(started.elapsed() < Duration::from_secs(1));
}
