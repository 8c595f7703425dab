//! How every list route reads the page it is asked for (`?limit=&cursor=`);
//! the cursor itself and the paging rules are `db/page.rs`'s.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::ApiQuery;
use crate::db::page::{Cursor, DEFAULT_LIMIT, KeyKind, clamp_limit};

/// The paging parameters every list route takes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The page a list route was asked for. An extractor that reads only
/// `limit` and `cursor` from the query string, so a route's filters are an
/// extractor of their own and every list pages the same way.
#[derive(Debug)]
pub struct Paging(PageQuery);

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(query) = ApiQuery::<PageQuery>::from_request_parts(parts, state).await?;
        Ok(Paging(query))
    }
}

impl Paging {
    /// The page size: 20 when none was asked for, clamped to 1–100.
    pub fn limit(&self) -> i64 {
        clamp_limit(self.0.limit, DEFAULT_LIMIT)
    }

    /// Where the page starts: `None` for the first page; 400
    /// `invalid_cursor` for a cursor this listing (`scope`, keyed by
    /// `kind`) did not hand out.
    pub fn after(&self, scope: &str, kind: KeyKind) -> ApiResult<Option<Cursor>> {
        match &self.0.cursor {
            Some(c) => Cursor::decode(c, scope)
                .filter(|c| c.key.kind() == kind)
                .map(Some)
                .ok_or_else(invalid_cursor),
            None => Ok(None),
        }
    }
}

/// 400 `invalid_cursor`: a cursor this listing did not hand out.
pub fn invalid_cursor() -> ApiError {
    ApiError::bad_request("invalid_cursor", "cursor is not one this listing handed out")
}

/// The `next_cursor` of a page.
pub fn next_cursor(next: Option<Cursor>) -> Option<String> {
    next.map(|c| c.encode())
}
