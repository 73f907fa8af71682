//! The docker side: which engine this machine has ([`engine`]), and the only writers of
//! `docker build`/`buildx build` argv ([`build`]) and of compose argv ([`compose`]), the engine matrix of tests and bench ([`matrix`]), and cosign signing of pushed images ([`sign`]).

pub mod build;
pub mod compose;
pub mod engine;
pub mod matrix;
pub mod sign;
