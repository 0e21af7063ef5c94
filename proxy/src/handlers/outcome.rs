//! A modify outcome where the route answers all or nothing: create's body, the v3 add and the
//! v3 remove answer with the list ID when every item succeeded, and with the first error
//! otherwise.

use manifold_composer::service::ModifyOutcome;
use manifold_composer::Error;

/// The list ID when `outcome` has no errors, else its first error.
pub(super) fn all_or_first_error(outcome: ModifyOutcome) -> Result<String, Error> {
    match outcome.errors.into_iter().next() {
        None => Ok(outcome.id),
        Some(first) => Err(first),
    }
}
