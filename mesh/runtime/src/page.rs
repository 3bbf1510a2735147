//! Pagination shared by every listing: how a page size is read from a request and what a page
//! of results is. Each listing keeps its own cursor (a key, a position, a time and an id) in
//! an opaque token.

use crate::ServiceError;

/// What a listing does with a requested size above its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverMax {
    /// `INVALID_ARGUMENT`: "page_size must be between 1 and MAX".
    Refuse,
    /// The maximum is served.
    Cap,
}

/// A listing's page sizes: 0 (the protobuf default) asks for `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    pub default: i64,
    pub max: i64,
    pub over_max: OverMax,
}

impl PageSize {
    /// The size to serve for `requested`; a negative size is always refused.
    pub fn parse(&self, requested: i32) -> Result<i64, ServiceError> {
        match i64::from(requested) {
            0 => Ok(self.default),
            n if (1..=self.max).contains(&n) => Ok(n),
            n if n > self.max && self.over_max == OverMax::Cap => Ok(self.max),
            n if self.over_max == OverMax::Cap => {
                Err(ServiceError::invalid(format!("page_size must not be negative, got {n}")))
            }
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
    fn sizes_default_fit_and_are_refused_or_capped_past_the_maximum() {
        let refuse = PageSize { default: 50, max: 100, over_max: OverMax::Refuse };
        let cap = PageSize { over_max: OverMax::Cap, ..refuse };
        for policy in [refuse, cap] {
            assert_eq!(policy.parse(0).unwrap(), 50);
            assert_eq!(policy.parse(1).unwrap(), 1);
            assert_eq!(policy.parse(100).unwrap(), 100);
        }
        assert_eq!(refuse.parse(101).unwrap_err().to_string(), "page_size must be between 1 and 100, got 101");
        assert_eq!(refuse.parse(-1).unwrap_err().to_string(), "page_size must be between 1 and 100, got -1");
        assert_eq!(cap.parse(101).unwrap(), 100);
        assert_eq!(cap.parse(-1).unwrap_err().to_string(), "page_size must not be negative, got -1");
    }
}
