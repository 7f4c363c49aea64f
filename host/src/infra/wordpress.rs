//! A client of WordPress's REST API (being written).
