#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
use super::*;
use std::net::TcpListener;
use std::time::Duration;

/// A connected (server, client) pair of sockets on 127.0.0.1.
pub(super) fn pair() -> (TcpStream, TcpStream) {
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
fn read_up_to_returns_after_one_receive() {
    let (server, mut client) = pair();
    let io = ConnIo::new(server, b"abcdef".to_vec()).unwrap();
    // Buffered bytes come back at once, never topped up from the socket.
    assert_eq!(io.read_up_to(4).unwrap(), b"abcd");
    client.write_all(b"xyz").unwrap();
    assert_eq!(io.read_up_to(100).unwrap(), b"ef");
    // Nothing buffered: one socket read, short of the length while the peer stays open.
    assert_eq!(io.read_up_to(100).unwrap(), b"xyz");
    assert_eq!(io.read_up_to(0).unwrap(), b"");
    client.write_all(b"tail").unwrap();
    drop(client);
    assert_eq!(io.read_to_eof().unwrap(), b"tail");
    assert_eq!(io.read_up_to(100).unwrap(), b"");
}

#[test]
fn read_append_takes_leftover_and_many_socket_reads_then_reports_eof() {
    let (server, mut client) = pair();
    let io = ConnIo::new(server, b"head".to_vec()).unwrap();
    // More than one read chunk, written from another thread while the reader appends.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let sent = body.clone();
    let writer = std::thread::spawn(move || {
        for piece in sent.chunks(7_000) {
            client.write_all(piece).unwrap();
        }
        client
    });
    let mut out = b"kept".to_vec();
    io.read_append(4 + body.len(), &mut out).unwrap();
    assert_eq!(&out[..8], b"kepthead");
    assert!(out[8..] == body[..]);
    drop(writer.join().unwrap());
    let err = io.read_append(1, &mut out).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(out.len(), 8 + body.len());
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

#[test]
fn read_sizes_adapt() {
    assert_eq!(next_chunk(MIN_CHUNK, MIN_CHUNK, READ_CHUNK), 2 * MIN_CHUNK);
    assert_eq!(next_chunk(READ_CHUNK, READ_CHUNK, READ_CHUNK), READ_CHUNK);
    assert_eq!(next_chunk(READ_CHUNK, 10, READ_CHUNK), READ_CHUNK / 2);
    assert_eq!(next_chunk(MIN_CHUNK, 1, READ_CHUNK), MIN_CHUNK);
    let mut buf = vec![0u8; READ_CHUNK];
    resize_for_read(&mut buf, MIN_CHUNK);
    assert_eq!(buf.len(), MIN_CHUNK);
    assert!(buf.capacity() < READ_CHUNK);
}

#[test]
fn large_transfers_arrive_intact() {
    let (server, mut client) = pair();
    let io = ConnIo::new(server, Vec::new()).unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let writer = std::thread::spawn(move || client.write_all(&sent).unwrap());
    let mut got = vec![0u8; data.len()];
    io.read_exact(&mut got).unwrap();
    writer.join().unwrap();
    assert!(got == data);
}

#[test]
fn buffered_reads_never_wait() {
    let (server, mut client) = pair();
    let io = ConnIo::new(server, b"ab".to_vec()).unwrap();
    let mut three = [0u8; 3];
    assert!(!io.try_read_buffered(&mut three));
    let mut one = [0u8; 1];
    assert!(io.try_read_buffered(&mut one));
    assert_eq!(one, *b"a");
    client.write_all(b"cd").unwrap();
    io.read_exact(&mut three).unwrap();
    assert_eq!(&three, b"bcd");
}

#[test]
fn a_quiet_connection_reads_small_then_grows_its_buffer() {
    let (server, mut client) = pair();
    let io = ConnIo::new(server, Vec::new()).unwrap();
    let sent: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    client.write_all(&sent).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut first = vec![0u8; 10];
    io.read_exact(&mut first).unwrap();
    // The first read waited on the stack landing: no more than it holds came in.
    assert_eq!(lock(&io.reader).unwrap().buf.len(), LANDING);
    let mut rest = vec![0u8; sent.len() - 10];
    io.read_exact(&mut rest).unwrap();
    assert_eq!([first, rest].concat(), sent);
    assert!(lock(&io.reader).unwrap().chunk > MIN_CHUNK);
}

/// What descriptor `fd` names now (`socket:[inode]`), if it is open.
fn fd_target(fd: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

#[test]
fn finish_closes_the_descriptor_while_the_connection_lives_on() {
    let (server, mut client) = pair();
    let io = Arc::new(ConnIo::new(server, Vec::new()).unwrap());
    io.write_all(b"bye").unwrap();
    let fd = io.fd();
    let socket = fd_target(fd).unwrap();
    io.finish();
    // Closed (another test may have reused the number, for another socket).
    assert_ne!(fd_target(fd), Some(socket));
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
    // A handler that kept its connection sees what a shut socket gives: EOF, then EPIPE.
    assert_eq!(io.read_up_to(10).unwrap(), b"");
    assert!(io.write_all(b"late").is_err());
    io.shutdown();
    assert_eq!(io.read_up_to(10).unwrap(), b"");
}
