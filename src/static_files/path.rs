//! Request target to file path, as SimpleHTTPRequestHandler.translate_path does it:
//! query and fragment dropped, percent-decoded, `.`/`..` resolved so nothing leaves the root.

use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The request target without `?query` and `#fragment`.
pub fn path_part(target: &str) -> &str {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    &target[..end]
}

/// The percent-decoded bytes of a URL path (malformed escapes are kept as they are).
pub fn unquote(path: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(path).collect()
}

/// The path's components after resolving `.` and `..` against the root (like
/// posixpath.normpath then dropping what cannot be a file name).
pub fn normalized_words(decoded: &[u8]) -> Vec<&[u8]> {
    let mut words: Vec<&[u8]> = Vec::new();
    for word in decoded.split(|&b| b == b'/') {
        match word {
            b"" | b"." => {}
            b".." => {
                words.pop();
            }
            _ => words.push(word),
        }
    }
    words
}

/// The file system path for a request target under `root`; a trailing slash is kept
/// (so `file.txt/` does not open `file.txt`).
pub fn translate_path(target: &str, root: &Path) -> PathBuf {
    let path = path_part(target);
    let trailing_slash = path.trim_end().ends_with('/');
    let decoded = unquote(path);
    let mut translated = root.to_path_buf();
    for word in normalized_words(&decoded) {
        translated.push(OsStr::from_bytes(word));
    }
    if trailing_slash {
        let mut bytes = translated.into_os_string().into_vec();
        bytes.push(b'/');
        translated = PathBuf::from(std::ffi::OsString::from_vec(bytes));
    }
    translated
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Component;

    const ROOT: &str = "/srv/docroot";

    fn translated(target: &str) -> String {
        translate_path(target, Path::new(ROOT))
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn like_translate_path() {
        assert_eq!(translated("/"), "/srv/docroot/");
        assert_eq!(translated("/a/b.html?x=1#y"), "/srv/docroot/a/b.html");
        assert_eq!(translated("/a/../b"), "/srv/docroot/b");
        assert_eq!(translated("/../../etc/passwd"), "/srv/docroot/etc/passwd");
        assert_eq!(
            translated("/%2e%2e/%2E%2E/etc/passwd"),
            "/srv/docroot/etc/passwd"
        );
        assert_eq!(translated("/a/%2e/b/"), "/srv/docroot/a/b/");
        assert_eq!(translated("/a%20b"), "/srv/docroot/a b");
        assert_eq!(translated("/a%2fb"), "/srv/docroot/a/b");
        assert_eq!(translated("/..%2f..%2fetc"), "/srv/docroot/etc");
        assert_eq!(translated("//a///b"), "/srv/docroot/a/b");
        assert_eq!(translated("/dir/ "), "/srv/docroot/dir/ /");
        assert_eq!(translated("..\\..\\x"), "/srv/docroot/..\\..\\x");
        assert_eq!(translated("*"), "/srv/docroot/*");
        assert_eq!(translated(""), "/srv/docroot");
    }

    /// The same targets through CPython's SimpleHTTPRequestHandler.translate_path.
    fn python_translate(targets: &[String]) -> Vec<String> {
        use std::io::Write;
        let script = "import sys, http.server as s\n\
            h = object.__new__(s.SimpleHTTPRequestHandler)\n\
            h.directory = '/srv/docroot'\n\
            for line in sys.stdin.read().split('\\n')[:-1]:\n    \
                print(h.translate_path(line))\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut input = targets.join("\n");
        input.push('\n');
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write");
        drop(stdin);
        let output = child.wait_with_output().expect("python3 output");
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).expect("utf-8");
        text.split('\n')
            .take(targets.len())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn same_as_cpython_for_random_targets() {
        let alphabet: Vec<&str> = vec![
            "/", "/", "/", ".", "..", "a", "b", "%2e", "%2E", "%2f", "%2F", "%5c", "\\", "?", "#",
            " ", "%20", "%", "%4", "%41", "%00", "~", "+", "é", "%C3%A9", "//", "/./", "/../",
        ];
        // A fixed linear congruential sequence: reproducible without extra crates.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % bound
        };
        let targets: Vec<String> = (0..2000)
            .map(|_| {
                let pieces = next(12);
                (0..pieces)
                    .map(|_| alphabet[next(alphabet.len())])
                    .collect()
            })
            .collect();
        let expected = python_translate(&targets);
        assert_eq!(expected.len(), targets.len());
        for (target, theirs) in targets.iter().zip(expected) {
            assert_eq!(translated(target), theirs, "target {target:?}");
        }
    }

    proptest! {
        #[test]
        fn never_escapes_the_root(target in "[a-zA-Z0-9./%?#\\\\ -]{0,64}") {
            let path = translate_path(&target, Path::new(ROOT));
            prop_assert!(path.starts_with(ROOT));
            for component in path.components().skip(3) {
                prop_assert!(matches!(component, Component::Normal(_)), "{:?}", path);
            }
        }

        #[test]
        fn arbitrary_encoded_bytes_stay_inside(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
            let target: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
            let path = translate_path(&format!("/{target}"), Path::new(ROOT));
            prop_assert!(path.starts_with(ROOT));
            for component in path.components().skip(3) {
                prop_assert!(matches!(component, Component::Normal(_)), "{:?}", path);
            }
        }
    }
}
