//! Who is asking: password hashing, bearer tokens, and the extractor that
//! turns an `Authorization: Bearer` header into a known user.

pub mod extract;
pub mod password;
pub mod token;

pub use extract::{AdminUser, AuthToken, AuthUser};
