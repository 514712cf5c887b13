//! `kvt kyc verify` (issue 10, SPEC §3.13, CONTRACTS C1/C9).
//!
//! Pure parts: `input` (accepted formats by their bytes, size limit), `prep`
//! (decoding with limits, deskew, equalisation, adaptive threshold, MRZ band),
//! `mrz` (ICAO 9303 with every check digit, repair accepted only when the
//! check digits pass), `visual` (dates and document type of the visual zone)
//! and `decide` (KYC-7). `ocr` wraps Tesseract (one engine pair per worker
//! thread) and `read` chains them from bytes to evidence.

pub mod decide;
pub mod input;
pub mod mrz;
pub mod ocr;
pub mod prep;
pub mod read;
pub mod visual;
