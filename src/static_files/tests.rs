//! serve() against a real directory over an in-memory duplex stream.

use super::*;
use tokio::io::AsyncReadExt;

const VERSION: &str = "SimpleHTTP/0.6 Python/3.11.7";

fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> HttpRequest {
    HttpRequest::for_test(method, target, headers, b"")
}

/// Runs serve() and returns (status, head lines, body).
async fn exchange(root: &Path, req: HttpRequest) -> (u16, Vec<String>, Vec<u8>) {
    let (mut server, mut client) = tokio::io::duplex(8 * 1024);
    let root = root.to_path_buf();
    let task = tokio::spawn(async move {
        let status = serve(&mut server, &req, &root, VERSION).await;
        drop(server);
        status
    });
    let mut response = Vec::new();
    client.read_to_end(&mut response).await.expect("read");
    let status = task.await.expect("join").expect("serve");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8(response[..split].to_vec()).expect("ascii head");
    let lines = head.split("\r\n").map(str::to_owned).collect();
    (status, lines, response[split + 4..].to_vec())
}

fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|line| {
        let (n, v) = line.split_once(": ")?;
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

fn docroot() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hello.txt"), b"hello world\n").expect("write");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub/a&b.js"), b"x=1").expect("write");
    std::fs::create_dir(dir.path().join("site")).expect("mkdir");
    std::fs::write(dir.path().join("site/index.html"), b"<p>index</p>").expect("write");
    std::os::unix::fs::symlink("hello.txt", dir.path().join("link")).expect("symlink");
    dir
}

#[tokio::test]
async fn serves_a_file_with_stdlib_headers() {
    let root = docroot();
    let (status, lines, body) = exchange(root.path(), request("GET", "/hello.txt?x#y", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(lines[0], "HTTP/1.0 200 OK");
    assert_eq!(lines[1], format!("Server: {VERSION}"));
    assert!(lines[2].starts_with("Date: "));
    assert_eq!(lines[3], "Content-type: text/plain");
    assert_eq!(lines[4], "Content-Length: 12");
    assert!(lines[5].starts_with("Last-Modified: ") && lines[5].ends_with(" GMT"));
    assert_eq!(body, b"hello world\n");
}

#[tokio::test]
async fn head_sends_headers_only() {
    let root = docroot();
    let (status, lines, body) = exchange(root.path(), request("HEAD", "/hello.txt", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(header(&lines, "Content-Length"), Some("12"));
    assert!(body.is_empty());
}

#[tokio::test]
async fn large_file_is_streamed_whole() {
    let root = docroot();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.path().join("big.bin"), &data).expect("write");
    let (status, lines, body) = exchange(root.path(), request("GET", "/big.bin", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&lines, "Content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(body, data);
}

#[tokio::test]
async fn if_modified_since_gives_304() {
    let root = docroot();
    let (_, lines, _) = exchange(root.path(), request("GET", "/hello.txt", &[])).await;
    let modified = header(&lines, "Last-Modified")
        .expect("last-modified")
        .to_owned();
    let req = request("GET", "/hello.txt", &[("If-Modified-Since", &modified)]);
    let (status, lines, body) = exchange(root.path(), req).await;
    assert_eq!(status, 304);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "HTTP/1.0 304 Not Modified");
    assert!(body.is_empty());
    let old = "Thu, 01 Jan 1970 00:00:00 GMT";
    let req = request("GET", "/hello.txt", &[("If-Modified-Since", old)]);
    assert_eq!(exchange(root.path(), req).await.0, 200);
    let with_etag = [
        ("If-Modified-Since", modified.as_str()),
        ("If-None-Match", "x"),
    ];
    let req = request("GET", "/hello.txt", &with_etag);
    assert_eq!(exchange(root.path(), req).await.0, 200);
}

#[tokio::test]
async fn missing_file_is_the_stdlib_404() {
    let root = docroot();
    let (status, lines, body) = exchange(root.path(), request("GET", "/nope.html", &[])).await;
    assert_eq!(status, 404);
    assert_eq!(lines[0], "HTTP/1.0 404 File not found");
    assert_eq!(header(&lines, "Connection"), Some("close"));
    assert_eq!(
        header(&lines, "Content-Type"),
        Some("text/html;charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&body).contains("<p>Message: File not found.</p>"));
    // A file asked for as a directory is a miss too (Issue17324).
    let (status, _, _) = exchange(root.path(), request("GET", "/hello.txt/", &[])).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn directory_without_slash_redirects() {
    let root = docroot();
    let (status, lines, body) = exchange(root.path(), request("GET", "/sub?q=1#f", &[])).await;
    assert_eq!(status, 301);
    assert_eq!(lines[0], "HTTP/1.0 301 Moved Permanently");
    assert_eq!(header(&lines, "Location"), Some("/sub/?q=1#f"));
    assert_eq!(header(&lines, "Content-Length"), Some("0"));
    assert!(body.is_empty());
    let (_, lines, _) = exchange(root.path(), request("GET", "//sub", &[])).await;
    assert_eq!(header(&lines, "Location"), Some("/sub/"));
}

#[tokio::test]
async fn directory_with_index_serves_it() {
    let root = docroot();
    let (status, lines, body) = exchange(root.path(), request("GET", "/site/", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(header(&lines, "Content-type"), Some("text/html"));
    assert_eq!(body, b"<p>index</p>");
}

#[tokio::test]
async fn directory_listing_like_list_directory() {
    let root = docroot();
    let (status, lines, body) = exchange(root.path(), request("GET", "/", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&lines, "Content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = String::from_utf8(body).expect("utf-8");
    let expected = "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
        <title>Directory listing for /</title>\n</head>\n<body>\n\
        <h1>Directory listing for /</h1>\n<hr>\n<ul>\n\
        <li><a href=\"hello.txt\">hello.txt</a></li>\n\
        <li><a href=\"link\">link@</a></li>\n\
        <li><a href=\"site/\">site/</a></li>\n\
        <li><a href=\"sub/\">sub/</a></li>\n\
        </ul>\n<hr>\n</body>\n</html>\n";
    assert_eq!(page, expected);
    let (_, _, body) = exchange(root.path(), request("GET", "/sub/?<x>", &[])).await;
    let page = String::from_utf8(body).expect("utf-8");
    assert!(page.contains("<title>Directory listing for /sub/?&lt;x&gt;</title>"));
    assert!(page.contains("<li><a href=\"a%26b.js\">a&amp;b.js</a></li>"));
}

#[tokio::test]
async fn traversal_stays_in_the_root() {
    let outer = tempfile::tempdir().expect("tempdir");
    std::fs::write(outer.path().join("secret.txt"), b"secret").expect("write");
    let root = outer.path().join("root");
    std::fs::create_dir(&root).expect("mkdir");
    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/a/../../secret.txt",
    ] {
        let (status, _, body) = exchange(&root, request("GET", target, &[])).await;
        assert_eq!(status, 404, "{target}");
        assert!(!body.windows(6).any(|w| w == b"secret"), "{target}");
    }
}

#[tokio::test]
async fn other_methods_get_501() {
    let root = docroot();
    let (status, lines, body) = exchange(root.path(), request("POST", "/hello.txt", &[])).await;
    assert_eq!(status, 501);
    assert_eq!(lines[0], "HTTP/1.0 501 Can only POST to CGI scripts");
    assert!(String::from_utf8_lossy(&body).contains("Message: Can only POST to CGI scripts."));
    let (status, lines, _) = exchange(root.path(), request("PUT", "/", &[])).await;
    assert_eq!(status, 501);
    assert_eq!(lines[0], "HTTP/1.0 501 Unsupported method ('PUT')");
}
