//! The HTML directory listing SimpleHTTPRequestHandler.list_directory produces.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::http_error::html_escape;

/// `urllib.parse.quote(name)`: everything but unreserved characters and '/' is %XX.
fn quote(name: &[u8]) -> String {
    let mut quoted = String::with_capacity(name.len());
    for &byte in name {
        if byte.is_ascii_alphanumeric() || b"_.-~/".contains(&byte) {
            quoted.push(char::from(byte));
        } else {
            quoted.push_str(&format!("%{byte:02X}"));
        }
    }
    quoted
}

/// `html.escape` for a file name's bytes; undecodable bytes pass through as they are
/// (Python writes them back with surrogateescape).
fn escape_name(name: &[u8], out: &mut Vec<u8>) {
    for &byte in name {
        match byte {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            other => out.push(other),
        }
    }
}

/// The listing page of `dir`, titled with the request target `display_path` (decoded).
pub fn render(dir: &Path, display_path: &str) -> io::Result<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().as_bytes().to_vec())
        .collect();
    names.sort_by_cached_key(|name| String::from_utf8_lossy(name).to_lowercase());
    let title = format!("Directory listing for {}", html_escape(display_path));
    let mut page = Vec::with_capacity(256 + names.len() * 64);
    page.extend_from_slice(
        format!(
            "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n<hr>\n<ul>\n"
        )
        .as_bytes(),
    );
    for name in names {
        let full = dir.join(std::ffi::OsStr::from_bytes(&name));
        let name_len = name.len();
        let mut display = name.clone();
        let mut link = name;
        // Directories get '/', symlinks '@' (a link to a directory shows '@', links with '/').
        if full.is_dir() {
            display.push(b'/');
            link.push(b'/');
        }
        if full.is_symlink() {
            display.truncate(name_len);
            display.push(b'@');
        }
        page.extend_from_slice(b"<li><a href=\"");
        page.extend_from_slice(quote(&link).as_bytes());
        page.extend_from_slice(b"\">");
        escape_name(&display, &mut page);
        page.extend_from_slice(b"</a></li>\n");
    }
    page.extend_from_slice(b"</ul>\n<hr>\n</body>\n</html>\n");
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_like_urllib() {
        assert_eq!(quote(b"a b&c/d~e.f_g-h"), "a%20b%26c/d~e.f_g-h");
        assert_eq!(quote("é".as_bytes()), "%C3%A9");
    }
}
