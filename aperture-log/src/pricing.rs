//! The bundled price table and cost computation (being written).
