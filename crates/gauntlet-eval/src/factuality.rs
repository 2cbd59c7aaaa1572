//! Claims checked against facts (being built).
