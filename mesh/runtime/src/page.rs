//! Pagination shared by every listing: how a page size is read from a request and what a page
//! of results is. Each listing keeps its own cursor (a key, a position, a time and an id) in
//! an opaque token.

use crate::ServiceError;

/// A listing's page sizes: 0 (the protobuf default) asks for `default`; 1 to `max` is served;
/// anything else is `INVALID_ARGUMENT` ("page_size must be between 1 and MAX, got N"). Every
/// listing follows this one rule: a client asking for more than a listing serves learns it at
/// once instead of receiving a shorter page it might take for the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    pub default: i64,
    pub max: i64,
}

impl PageSize {
    /// The size to serve for `requested`; a negative size is always refused.
    pub fn parse(&self, requested: i32) -> Result<i64, ServiceError> {
        match i64::from(requested) {
            0 => Ok(self.default),
            n if (1..=self.max).contains(&n) => Ok(n),
            n => Err(ServiceError::invalid(format!("page_size must be between 1 and {}, got {n}", self.max))),
        }
    }
}

/// One page of a listing; `next_token` is empty on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_fit_and_are_refused_past_the_maximum() {
        let policy = PageSize { default: 50, max: 100 };
        assert_eq!(policy.parse(0).unwrap(), 50);
        assert_eq!(policy.parse(1).unwrap(), 1);
        assert_eq!(policy.parse(100).unwrap(), 100);
        assert_eq!(policy.parse(101).unwrap_err().to_string(), "page_size must be between 1 and 100, got 101");
        assert_eq!(policy.parse(-1).unwrap_err().to_string(), "page_size must be between 1 and 100, got -1");
        assert_eq!(policy.parse(i32::MAX).unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
