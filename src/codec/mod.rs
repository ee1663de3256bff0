//! The byte helpers behind the `ngx.*` compatibility table: digests (SHA-1,
//! MD5, HMAC-SHA1), base64, CRC32, nginx's URI escaping and unescaping, and
//! SQL string quoting. Pure functions over byte slices; no I/O, no C.
//!
//! Digests, base64 and CRC32 come from well-kept crates (RustCrypto `sha1`,
//! `md-5`, `hmac`; `base64`; `crc32fast`); the URI and SQL helpers follow
//! lua-nginx-module's tables and rules byte for byte, since no crate has them.

mod base64;
mod digest;
mod sql;
mod uri;

pub use self::base64::{base64_decode, base64_decoded_capacity, base64_encode, base64_encoded_len};
pub use self::digest::{crc32, hex_lower, hmac_sha1, md5, sha1};
pub use self::sql::{quote_sql_str, quote_sql_str_len};
pub use self::uri::{EscapeType, escape_uri, unescape_uri, uri_escaped_len};
