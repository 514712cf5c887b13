//! `kvt kyc verify` (issue 10, SPEC §3.13, CONTRACTS C1/C9): the pure
//! parts first — `input` (accepted formats by their bytes, size limit),
//! `mrz` (ICAO 9303 machine-readable zones with every check digit,
//! OCR-confusion repair accepted only when the check digits pass) and
//! `decide` (the age decision of KYC-7, two-digit years, whole-year ages).
//! OCR, preprocessing and the command build on them.

pub mod decide;
pub mod input;
pub mod mrz;
