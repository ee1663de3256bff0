//! Links the cdylib with `-z nodelete` and a versioned SONAME, and generates
//! `include/cosocket.h` with cbindgen (committed; CI checks it is current).

use std::path::PathBuf;

fn main() {
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let minor = env!("CARGO_PKG_VERSION_MINOR");
    // LuaJIT dlclose()s libraries when their namespace is collected; our
    // runtime threads would then run unmapped code. nodelete keeps us mapped.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcosocket.so.{major}.{minor}");
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    if std::env::var_os("COSOCKET_SKIP_HEADER").is_some() {
        return;
    }
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    match cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(dir.join("include/cosocket.h"));
        }
        Err(e) => println!("cargo:warning=cosocket.h not regenerated: {e}"),
    }
}
