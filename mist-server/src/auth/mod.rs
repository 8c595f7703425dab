//! Who is asking: password hashing and bearer tokens. (The extractor that
//! turns an `Authorization: Bearer` header into a known user is
//! `http::caller`'s.)

pub mod password;
pub mod token;
