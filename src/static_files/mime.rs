//! Content types by file extension, as SimpleHTTPRequestHandler.guess_type answers them.

/// CPython 3.11's built-in mimetypes table (system mime.types not consulted), with the
/// modern `text/javascript` for scripts and `image/webp` added. Sorted for binary search.
const TYPES: &[(&str, &str)] = &[
    ("3g2", "audio/3gpp2"),
    ("3gp", "audio/3gpp"),
    ("3gpp", "audio/3gpp"),
    ("3gpp2", "audio/3gpp2"),
    ("a", "application/octet-stream"),
    ("aac", "audio/aac"),
    ("adts", "audio/aac"),
    ("ai", "application/postscript"),
    ("aif", "audio/x-aiff"),
    ("aifc", "audio/x-aiff"),
    ("aiff", "audio/x-aiff"),
    ("ass", "audio/aac"),
    ("au", "audio/basic"),
    ("avi", "video/x-msvideo"),
    ("avif", "image/avif"),
    ("bat", "text/plain"),
    ("bcpio", "application/x-bcpio"),
    ("bin", "application/octet-stream"),
    ("bmp", "image/bmp"),
    ("c", "text/plain"),
    ("cdf", "application/x-netcdf"),
    ("cpio", "application/x-cpio"),
    ("csh", "application/x-csh"),
    ("css", "text/css"),
    ("csv", "text/csv"),
    ("dll", "application/octet-stream"),
    ("doc", "application/msword"),
    ("dot", "application/msword"),
    ("dvi", "application/x-dvi"),
    ("eml", "message/rfc822"),
    ("eps", "application/postscript"),
    ("etx", "text/x-setext"),
    ("exe", "application/octet-stream"),
    ("gif", "image/gif"),
    ("gtar", "application/x-gtar"),
    ("h", "text/plain"),
    ("h5", "application/x-hdf5"),
    ("hdf", "application/x-hdf"),
    ("heic", "image/heic"),
    ("heif", "image/heif"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("ico", "image/vnd.microsoft.icon"),
    ("ief", "image/ief"),
    ("jpe", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "text/javascript"),
    ("json", "application/json"),
    ("ksh", "text/plain"),
    ("latex", "application/x-latex"),
    ("loas", "audio/aac"),
    ("m1v", "video/mpeg"),
    ("m3u", "application/vnd.apple.mpegurl"),
    ("m3u8", "application/vnd.apple.mpegurl"),
    ("man", "application/x-troff-man"),
    ("me", "application/x-troff-me"),
    ("mht", "message/rfc822"),
    ("mhtml", "message/rfc822"),
    ("mif", "application/x-mif"),
    ("mjs", "text/javascript"),
    ("mov", "video/quicktime"),
    ("movie", "video/x-sgi-movie"),
    ("mp2", "audio/mpeg"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("mpa", "video/mpeg"),
    ("mpe", "video/mpeg"),
    ("mpeg", "video/mpeg"),
    ("mpg", "video/mpeg"),
    ("ms", "application/x-troff-ms"),
    ("n3", "text/n3"),
    ("nc", "application/x-netcdf"),
    ("nq", "application/n-quads"),
    ("nt", "application/n-triples"),
    ("nws", "message/rfc822"),
    ("o", "application/octet-stream"),
    ("obj", "application/octet-stream"),
    ("oda", "application/oda"),
    ("opus", "audio/opus"),
    ("p12", "application/x-pkcs12"),
    ("p7c", "application/pkcs7-mime"),
    ("pbm", "image/x-portable-bitmap"),
    ("pdf", "application/pdf"),
    ("pfx", "application/x-pkcs12"),
    ("pgm", "image/x-portable-graymap"),
    ("pl", "text/plain"),
    ("png", "image/png"),
    ("pnm", "image/x-portable-anymap"),
    ("pot", "application/vnd.ms-powerpoint"),
    ("ppa", "application/vnd.ms-powerpoint"),
    ("ppm", "image/x-portable-pixmap"),
    ("pps", "application/vnd.ms-powerpoint"),
    ("ppt", "application/vnd.ms-powerpoint"),
    ("ps", "application/postscript"),
    ("pwz", "application/vnd.ms-powerpoint"),
    ("py", "text/x-python"),
    ("pyc", "application/x-python-code"),
    ("pyo", "application/x-python-code"),
    ("qt", "video/quicktime"),
    ("ra", "audio/x-pn-realaudio"),
    ("ram", "application/x-pn-realaudio"),
    ("ras", "image/x-cmu-raster"),
    ("rdf", "application/xml"),
    ("rgb", "image/x-rgb"),
    ("roff", "application/x-troff"),
    ("rtx", "text/richtext"),
    ("sgm", "text/x-sgml"),
    ("sgml", "text/x-sgml"),
    ("sh", "application/x-sh"),
    ("shar", "application/x-shar"),
    ("snd", "audio/basic"),
    ("so", "application/octet-stream"),
    ("src", "application/x-wais-source"),
    ("srt", "text/plain"),
    ("sv4cpio", "application/x-sv4cpio"),
    ("sv4crc", "application/x-sv4crc"),
    ("svg", "image/svg+xml"),
    ("swf", "application/x-shockwave-flash"),
    ("t", "application/x-troff"),
    ("tar", "application/x-tar"),
    ("tcl", "application/x-tcl"),
    ("tex", "application/x-tex"),
    ("texi", "application/x-texinfo"),
    ("texinfo", "application/x-texinfo"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("tr", "application/x-troff"),
    ("trig", "application/trig"),
    ("tsv", "text/tab-separated-values"),
    ("txt", "text/plain"),
    ("ustar", "application/x-ustar"),
    ("vcf", "text/x-vcard"),
    ("vtt", "text/vtt"),
    ("wasm", "application/wasm"),
    ("wav", "audio/x-wav"),
    ("webm", "video/webm"),
    ("webmanifest", "application/manifest+json"),
    ("webp", "image/webp"),
    ("wiz", "application/msword"),
    ("wsdl", "application/xml"),
    ("xbm", "image/x-xbitmap"),
    ("xlb", "application/vnd.ms-excel"),
    ("xls", "application/vnd.ms-excel"),
    ("xml", "text/xml"),
    ("xpdl", "application/xml"),
    ("xpm", "image/x-xpixmap"),
    ("xsl", "application/xml"),
    ("xwd", "image/x-xwindowdump"),
    ("zip", "application/zip"),
];

/// Extensions SimpleHTTPRequestHandler maps itself before asking mimetypes.
const HANDLER_OVERRIDES: &[(&str, &str)] = &[
    ("gz", "application/gzip"),
    ("Z", "application/octet-stream"),
    ("bz2", "application/x-bzip2"),
    ("xz", "application/x-xz"),
];

/// Compound suffixes mimetypes expands before the lookup (`.tgz` is `.tar.gz`).
const SUFFIXES: &[(&str, &str)] = &[
    ("svgz", "image/svg+xml"),
    ("tgz", "application/x-tar"),
    ("taz", "application/x-tar"),
    ("tz", "application/x-tar"),
    ("tbz2", "application/x-tar"),
    ("txz", "application/x-tar"),
];

const DEFAULT_TYPE: &str = "application/octet-stream";

/// The extension of the last path component without the dot, as posixpath.splitext sees it.
fn extension(file_name: &[u8]) -> Option<&[u8]> {
    let base = match memchr::memrchr(b'/', file_name) {
        Some(slash) => &file_name[slash + 1..],
        None => file_name,
    };
    // Leading dots belong to the name (".bashrc" has no extension).
    let first_non_dot = base.iter().position(|&b| b != b'.')?;
    let dot = memchr::memrchr(b'.', base)?;
    if dot < first_non_dot {
        return None;
    }
    Some(&base[dot + 1..])
}

fn lookup(table: &[(&str, &'static str)], ext: &[u8]) -> Option<&'static str> {
    table
        .binary_search_by(|(key, _)| key.as_bytes().cmp(ext))
        .ok()
        .map(|i| table[i].1)
}

/// The Content-type for a file path (bytes of the file name or whole path).
pub fn guess_type(path: &[u8]) -> &'static str {
    let Some(ext) = extension(path) else {
        return DEFAULT_TYPE;
    };
    let lower = ext.to_ascii_lowercase();
    for candidate in [ext, lower.as_slice()] {
        if let Some(found) = HANDLER_OVERRIDES
            .iter()
            .find(|(key, _)| key.as_bytes() == candidate)
        {
            return found.1;
        }
    }
    if let Some(found) = lookup(TYPES, &lower) {
        return found;
    }
    if let Some(found) = SUFFIXES.iter().find(|(key, _)| key.as_bytes() == lower) {
        return found.1;
    }
    // A trailing ".br" is a content encoding: the type is that of the name before it.
    if lower == b"br" {
        let stem = &path[..path.len() - ext.len() - 1];
        return guess_type(stem);
    }
    DEFAULT_TYPE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(TYPES.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn common_types() {
        let cases: &[(&str, &str)] = &[
            ("index.html", "text/html"),
            ("a.htm", "text/html"),
            ("app.js", "text/javascript"),
            ("mod.mjs", "text/javascript"),
            ("style.css", "text/css"),
            ("data.json", "application/json"),
            ("img.png", "image/png"),
            ("notes.txt", "text/plain"),
            ("hi.py", "text/x-python"),
            ("m.wasm", "application/wasm"),
            ("logo.svg", "image/svg+xml"),
            ("favicon.ico", "image/vnd.microsoft.icon"),
            ("UPPER.HTML", "text/html"),
            ("x.tar.gz", "application/gzip"),
            ("x.Z", "application/octet-stream"),
            ("x.tgz", "application/x-tar"),
            ("page.html.br", "text/html"),
            ("noext", "application/octet-stream"),
            (".bashrc", "application/octet-stream"),
            ("dir.d/noext", "application/octet-stream"),
            ("weird.unknownext", "application/octet-stream"),
            ("/abs/path/to/a.webp", "image/webp"),
        ];
        for (name, expected) in cases {
            assert_eq!(guess_type(name.as_bytes()), *expected, "{name}");
        }
    }
}
