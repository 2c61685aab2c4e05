//! script_for against a real directory; run() executing real shell scripts over a duplex.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const VERSION: &str = "SimpleHTTP/0.6 Python/3.11.7";

fn request(method: &str, target: &str, headers: &[(&str, &str)], leftover: &[u8]) -> HttpRequest {
    HttpRequest::for_test(method, target, headers, leftover)
}

fn write_script(path: &Path, body: &str, mode: u32) {
    std::fs::write(path, body).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A document root with cgi-bin/{env.sh (executable), plain.sh (not), sub/deep.sh}.
fn docroot() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let cgi = root.path().join("cgi-bin");
    std::fs::create_dir_all(cgi.join("sub")).expect("mkdir");
    let env_script = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
        echo \"method=$REQUEST_METHOD\"\necho \"script=$SCRIPT_NAME\"\n\
        echo \"query=$QUERY_STRING\"\necho \"argc=$#\"\necho \"arg1=$1\"\n\
        echo \"length=$CONTENT_LENGTH\"\necho \"cwd=$(pwd)\"\necho \"https=$HTTPS\"\n\
        echo 'a complaint' >&2\necho \"body=$(cat)\"\nexit 3\n";
    write_script(&cgi.join("env.sh"), env_script, 0o755);
    write_script(&cgi.join("plain.sh"), "#!/bin/sh\necho hi\n", 0o644);
    write_script(&cgi.join("sub/deep.sh"), "#!/bin/sh\necho deep\n", 0o755);
    let forever = "#!/bin/sh\nwhile :; do echo tick; sleep 0.01; done\n";
    write_script(&cgi.join("forever.sh"), forever, 0o755);
    write_script(&cgi.join("noshebang"), "\u{7f}ELF garbage", 0o755);
    root
}

fn context(https: bool) -> CgiContext {
    CgiContext {
        server_port: 8080,
        server_name: "localhost".into(),
        remote_addr: "127.0.0.1:40000".parse().expect("addr"),
        https,
        server_version: VERSION.into(),
    }
}

fn cgi_paths() -> Vec<String> {
    vec!["/cgi-bin".to_owned()]
}

#[test]
fn collapse_path_like_the_stdlib() {
    let cases = [
        ("/hi.py", Some("//hi.py")),
        ("/cgi-bin/hi.py", Some("/cgi-bin/hi.py")),
        ("/cgi-bin/", Some("/cgi-bin/")),
        ("/cgi-bin", Some("//cgi-bin")),
        ("/a/./b/../c.py", Some("/a/c.py")),
        ("//a//b", Some("/a/b")),
        ("/", Some("//")),
        ("/a/..", Some("//")),
        ("/..", None),
        ("/a/../../b", None),
    ];
    for (input, expected) in cases {
        assert_eq!(collapse_path(input).as_deref(), expected, "{input}");
    }
}

#[test]
fn only_executable_files_under_cgi_paths_are_scripts() {
    let root = docroot();
    let find =
        |target: &str| script_for(&request("GET", target, &[], b""), &cgi_paths(), root.path());
    let script = find("/cgi-bin/env.sh?a=1").expect("executable script");
    assert_eq!(script.script_path, root.path().join("cgi-bin/env.sh"));
    assert_eq!(script.script_name, "/cgi-bin/env.sh");
    assert_eq!(script.query, "a=1");
    assert_eq!(script.path_info, "");
    assert!(script.document_root.is_absolute());
    assert_eq!(
        find("/cgi-bin/sub/deep.sh")
            .map(|s| s.script_name)
            .as_deref(),
        Some("/cgi-bin/sub/deep.sh")
    );
    assert_eq!(
        find("/cgi-bin/%65nv.sh").map(|s| s.script_name).as_deref(),
        Some("/cgi-bin/env.sh")
    );
    assert!(
        find("/cgi-bin/plain.sh").is_none(),
        "not executable: static"
    );
    assert!(find("/cgi-bin/missing.sh").is_none());
    assert!(find("/cgi-bin/").is_none(), "a directory");
    assert!(find("/cgi-bin/sub").is_none(), "a directory");
    assert!(find("/cgi-bin/../cgi-bin/env.sh").is_none(), "'..' refused");
    assert!(
        find("/cgi-bin/env.sh?x=..").is_none(),
        "'..' refused anywhere"
    );
    assert!(
        find("/cgi-bin/env.sh/extra").is_none(),
        "path must name the file"
    );
    let other = |target: &str, paths: &[&str]| {
        let paths: Vec<String> = paths.iter().map(|p| (*p).to_owned()).collect();
        script_for(&request("GET", target, &[], b""), &paths, root.path())
    };
    assert!(
        other("/cgi-bin/env.sh", &["/cgi"]).is_none(),
        "prefix is a whole segment"
    );
    assert!(other("/cgi-bin/env.sh", &[]).is_none(), "no CGI without -x");
    assert!(other("/cgi-bin/sub/deep.sh", &["/cgi-bin/sub"]).is_some());
    assert!(other("/cgi-bin/env.sh", &["/x", "/cgi-bin"]).is_some());
}

/// Runs the script; the client side sends `more_body` and then reads everything.
async fn exchange(
    req: HttpRequest,
    script: CgiScript,
    https: bool,
    more_body: &[u8],
) -> (io::Result<u16>, String) {
    let (mut server, mut client) = tokio::io::duplex(4096);
    let task = tokio::spawn(async move {
        let result = run(&mut server, &req, script, &context(https)).await;
        drop(server);
        result
    });
    client.write_all(more_body).await.expect("send body");
    let mut response = Vec::new();
    client.read_to_end(&mut response).await.expect("read");
    let result = task.await.expect("join");
    (result, String::from_utf8_lossy(&response).into_owned())
}

#[tokio::test]
async fn runs_the_script_with_body_env_and_cwd() {
    let root = docroot();
    let headers = [("Content-Length", "11")];
    let req = request("POST", "/cgi-bin/env.sh?a=1+2", &headers, b"hello");
    let script = script_for(&req, &cgi_paths(), root.path()).expect("script");
    let (result, response) = exchange(req, script, true, b" world!!extra").await;
    assert_eq!(result.expect("run"), 200);
    let (head, output) = response.split_once("\r\n\r\n").expect("headers");
    let head_lines: Vec<&str> = head.split("\r\n").collect();
    assert_eq!(head_lines[0], "HTTP/1.0 200 Script output follows");
    assert_eq!(head_lines[1], format!("Server: {VERSION}"));
    assert!(head_lines[2].starts_with("Date: "));
    assert_eq!(head_lines[3], "Content-Type: text/plain");
    let cwd = std::fs::canonicalize(root.path().join("cgi-bin")).expect("canonical");
    let expected = format!(
        "method=POST\nscript=/cgi-bin/env.sh\nquery=a=1+2\nargc=0\narg1=\nlength=11\n\
         cwd={}\nhttps=on\nbody=hello world\n",
        cwd.display()
    );
    assert_eq!(output, expected);
}

#[tokio::test]
async fn query_without_equals_is_the_argument() {
    let root = docroot();
    let req = request("GET", "/cgi-bin/env.sh?one+two", &[], b"");
    let script = script_for(&req, &cgi_paths(), root.path()).expect("script");
    let (result, response) = exchange(req, script, false, b"").await;
    assert_eq!(result.expect("run"), 200);
    assert!(response.contains("argc=1\narg1=one two\n"), "{response}");
    assert!(response.contains("https=\n"), "{response}");
    assert!(response.contains("body=\n"), "{response}");
}

#[tokio::test]
async fn client_that_goes_away_gets_the_script_killed() {
    let root = docroot();
    let req = request("GET", "/cgi-bin/forever.sh", &[], b"");
    let script = script_for(&req, &cgi_paths(), root.path()).expect("script");
    let (mut server, mut client) = tokio::io::duplex(1024);
    let task = tokio::spawn(async move { run(&mut server, &req, script, &context(false)).await });
    let mut first = [0u8; 64];
    let read = client.read(&mut first).await.expect("read");
    assert!(read > 0);
    drop(client);
    let finished = tokio::time::timeout(Duration::from_secs(10), task).await;
    let result = finished
        .expect("run returns once the client is gone")
        .expect("join");
    assert!(result.is_err());
}

#[tokio::test]
async fn script_that_cannot_start_gets_500() {
    let root = docroot();
    let req = request("GET", "/cgi-bin/noshebang", &[], b"");
    let script = script_for(&req, &cgi_paths(), root.path()).expect("script");
    let (result, response) = exchange(req, script, false, b"").await;
    assert_eq!(result.expect("run"), 500);
    assert!(
        response.starts_with("HTTP/1.0 500 Internal Server Error\r\n"),
        "{response}"
    );
}

#[tokio::test]
async fn large_body_and_output_stream_through_small_buffers() {
    let root = docroot();
    let script = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
        echo \"got $(wc -c)\"\nhead -c 3000000 /dev/zero\n";
    write_script(&root.path().join("cgi-bin/big.sh"), script, 0o755);
    let body = vec![b'x'; 2_000_000];
    let req = request(
        "POST",
        "/cgi-bin/big.sh",
        &[("Content-Length", "2000000")],
        &body[..1000],
    );
    let script = script_for(&req, &cgi_paths(), root.path()).expect("script");
    let (result, response) = exchange(req, script, false, &body[1000..]).await;
    assert_eq!(result.expect("run"), 200);
    let (_, output) = response.split_once("\r\n\r\n").expect("headers");
    let (first, rest) = output.split_once('\n').expect("first line");
    assert_eq!(first.trim(), "got 2000000");
    assert_eq!(rest.len(), 3_000_000);
}

#[tokio::test]
async fn tcp_client_that_disconnects_gets_the_script_killed() {
    let root = docroot();
    let req = request("GET", "/cgi-bin/forever.sh", &[], b"");
    let script = script_for(&req, &cgi_paths(), root.path()).expect("script");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        run(&mut socket, &req, script, &context(false)).await
    });
    let mut client = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let mut first = [0u8; 64];
    assert!(client.read(&mut first).await.expect("read") > 0);
    assert!(first.starts_with(b"HTTP/1.0 200 Script output follows\r\n"));
    drop(client);
    let finished = tokio::time::timeout(Duration::from_secs(10), server).await;
    let result = finished
        .expect("run returns once the client is gone")
        .expect("join");
    assert!(result.is_err());
}
