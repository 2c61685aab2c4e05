#![no_main]
//! Static-file path resolution: whatever the request target, the path stays under the root
//! and has no `.`/`..` component after it.

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use pywebsocket::static_files::path::translate_path;

const ROOT: &str = "/srv/docroot";

fuzz_target!(|target: &str| {
    let path = translate_path(target, Path::new(ROOT));
    assert!(path.starts_with(ROOT), "{target:?} -> {path:?}");
    for component in path.components().skip(3) {
        assert!(
            matches!(component, Component::Normal(_)),
            "{target:?} -> {path:?}"
        );
    }
});
