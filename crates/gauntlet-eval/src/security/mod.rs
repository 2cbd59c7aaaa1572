//! Security scanning (being built).
