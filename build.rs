//! The Lua decisions are embedded in the binary and loaded into Redis. Their
//! comments stay in the source: every comment-only line is emptied here (the
//! line stays, so Lua's line numbers in a script error match the source).
//! The scripts read by `include_str!(concat!(env!("OUT_DIR"), "/…"))` are
//! these copies, under the same path below `src/`.

use std::path::Path;

fn main() {
    let src = Path::new("src");
    println!("cargo:rerun-if-changed=src");
    // The static binaries' linker and its list of the idle functions
    // (scripts/link/rust-lld): a new list is linked in at the next build.
    println!("cargo:rerun-if-changed=scripts/link");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    copy_lua(src, src, Path::new(&out));
}

fn copy_lua(root: &Path, dir: &Path, out: &Path) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            copy_lua(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "lua") {
            let text = std::fs::read_to_string(&path).expect("read a .lua file");
            let target = out.join(path.strip_prefix(root).expect("under src"));
            std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
            std::fs::write(target, without_comment_lines(&text)).expect("write");
        }
    }
}

/// Every line that is only a comment becomes empty; code is kept byte for byte.
fn without_comment_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        if body.starts_with("--") && !body.starts_with("--[") {
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    out
}
