//! Readability and style (being built).
