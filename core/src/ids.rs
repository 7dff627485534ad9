//! Sandbox ids: assigned by the core, unique across processes and sortable by
//! creation time (a lowercase ULID, which fits `[a-z0-9][a-z0-9-]{0,62}`).

/// A new sandbox id.
pub fn new_sandbox_id() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandboxer_ext_protocol::names::validate_sandbox_id;

    #[test]
    fn ids_are_valid_and_distinct() {
        let a = new_sandbox_id();
        let b = new_sandbox_id();
        assert_ne!(a, b);
        validate_sandbox_id(&a).unwrap();
        assert_eq!(a.len(), 26);
    }
}
