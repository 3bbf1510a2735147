//! Amounts: integer minor units with an ISO 4217 currency code.

use fleuve_proto::common::v1::Money;

use super::DomainError;

/// A currency code is three uppercase ASCII letters.
pub fn valid_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// The currency code, checked.
pub fn currency(code: &str) -> Result<String, DomainError> {
    let code = code.trim();
    if valid_currency(code) {
        Ok(code.to_owned())
    } else {
        Err(DomainError::Invalid(format!("currency {code:?} is not an ISO 4217 code")))
    }
}

/// A positive amount in `expected` currency, in minor units.
pub fn positive_in(amount: Option<&Money>, expected: &str) -> Result<i64, DomainError> {
    let amount = amount.ok_or_else(|| DomainError::Invalid("amount is missing".into()))?;
    if amount.amount <= 0 {
        return Err(DomainError::Invalid("amount must be positive".into()));
    }
    if amount.currency != expected {
        return Err(DomainError::Invalid(format!("amount is in {}, the account is in {expected}", amount.currency)));
    }
    Ok(amount.amount)
}

pub fn money(currency: &str, amount: i64) -> Money {
    Money { currency: currency.to_owned(), amount }
}
