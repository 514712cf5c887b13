//! Synthetic identity documents for `kvt kyc verify` (issue 10): a card or
//! passport page with a visual zone (DejaVu) and an ICAO 9303 machine-readable
//! zone (OCR-B, Debian `fonts-ocr-b`), with known birth and expiry dates, then
//! the degradations of real uploads (rotation, blur, JPEG artefacts, noise,
//! low contrast, low resolution, a photo on a coloured table).
//!
//! Every name and number here is invented; the fonts are read from the
//! system (`fonts-ocr-b`, `fonts-dejavu-core`), never shipped.

use ab_glyph::{FontVec, PxScale};
use chrono::{Datelike, NaiveDate};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_ellipse_mut, draw_filled_rect_mut, draw_text_mut};
use imageproc::rect::Rect;

use super::rng::Rng;
use crate::kyc::mrz::{check_digit, Layout};

/// Where the fonts are looked for (Debian paths first).
pub const OCRB_PATHS: &[&str] = &[
    "/usr/share/fonts/opentype/ocr-b/OCRB.otf",
    "/usr/share/fonts/truetype/ocr-b/OCRB.ttf",
];
pub const DEJAVU_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// The two fonts of a document.
pub struct Fonts {
    ocrb: FontVec,
    sans: FontVec,
}

impl Fonts {
    /// Loads OCR-B and DejaVu Sans from the system.
    pub fn load() -> anyhow::Result<Fonts> {
        fn first(paths: &[&str], package: &str) -> anyhow::Result<FontVec> {
            for p in paths {
                if let Ok(bytes) = std::fs::read(p) {
                    return FontVec::try_from_vec(bytes)
                        .map_err(|e| anyhow::anyhow!("{p}: not a font: {e}"));
                }
            }
            anyhow::bail!(
                "font not found in {} (install the Debian package {package})",
                paths.join(", ")
            )
        }
        Ok(Fonts {
            ocrb: first(OCRB_PATHS, "fonts-ocr-b")?,
            sans: first(DEJAVU_PATHS, "fonts-dejavu-core")?,
        })
    }
}

/// The kind of document: an MRZ layout, or none (a driving licence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Passport,
    IdCardTd1,
    ResidencePermitTd1,
    VisaTd2,
    FrenchId,
    DrivingLicence,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Passport,
        Kind::IdCardTd1,
        Kind::ResidencePermitTd1,
        Kind::VisaTd2,
        Kind::FrenchId,
        Kind::DrivingLicence,
    ];

    pub fn layout(self) -> Option<Layout> {
        match self {
            Kind::Passport => Some(Layout::Td3),
            Kind::IdCardTd1 | Kind::ResidencePermitTd1 => Some(Layout::Td1),
            Kind::VisaTd2 => Some(Layout::Td2),
            Kind::FrenchId => Some(Layout::FrenchId),
            Kind::DrivingLicence => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Passport => "passport",
            Kind::IdCardTd1 => "id-td1",
            Kind::ResidencePermitTd1 => "residence-td1",
            Kind::VisaTd2 => "id-td2",
            Kind::FrenchId => "id-fr",
            Kind::DrivingLicence => "licence",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Passport => "PASSEPORT / PASSPORT",
            Kind::IdCardTd1 => "CARTE D'IDENTITE / IDENTITY CARD",
            Kind::ResidencePermitTd1 => "TITRE DE SEJOUR / RESIDENCE PERMIT",
            Kind::VisaTd2 => "CARTE D'IDENTITE / IDENTITY CARD",
            Kind::FrenchId => "CARTE NATIONALE D'IDENTITE",
            Kind::DrivingLicence => "PERMIS DE CONDUIRE",
        }
    }

    /// Size in millimetres (ISO/IEC 7810 ID-1, ID-2, ID-3).
    fn size_mm(self) -> (f32, f32) {
        match self {
            Kind::Passport => (125.0, 88.0),
            Kind::IdCardTd1 | Kind::ResidencePermitTd1 | Kind::DrivingLicence => (85.6, 54.0),
            Kind::VisaTd2 | Kind::FrenchId => (105.0, 74.0),
        }
    }
}

/// One person's document, with its true dates.
#[derive(Debug, Clone)]
pub struct Document {
    pub kind: Kind,
    pub surname: String,
    pub given: String,
    pub birth: NaiveDate,
    pub expiry: NaiveDate,
    pub sex: char,
    pub country: String,
    pub number: String,
    /// Break this MRZ field's check digit (or the birth year, see [`Corrupt`]).
    pub corrupt: Option<Corrupt>,
}

/// A deliberate defect of the MRZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corrupt {
    /// The document number's check digit is wrong.
    DocumentCheck,
    /// A birth-year digit is changed, its check digit kept: the printed
    /// date would flip the decision, the check digit says it is wrong.
    BirthYear,
}

const SURNAMES: &[&str] = &[
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY",
    "MOREAU", "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX",
    "VINCENT", "FOURNIER", "MOREL", "GIRARD", "ANDRE", "MERCIER", "DUPONT", "LAMBERT",
];
const GIVEN: &[&str] = &[
    "MARIE", "JEAN", "PIERRE", "CAMILLE", "LEA", "LUCAS", "EMMA", "HUGO", "CHLOE", "LOUIS", "INES",
    "JULES", "MANON", "NATHAN", "SARAH", "ADAM", "ZOE", "RAPHAEL", "ALICE", "GABRIEL",
];
const COUNTRIES: &[&str] = &["FRA", "DEU", "ITA", "ESP", "BEL", "NLD", "PRT", "UTO"];

impl Document {
    /// A random document of `kind` for someone born on `birth`.
    pub fn random(r: &mut Rng, kind: Kind, birth: NaiveDate, expiry: NaiveDate) -> Document {
        let country = if kind == Kind::FrenchId {
            "FRA".to_string()
        } else {
            r.pick(COUNTRIES).to_string()
        };
        let alnum = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
        let len = if kind == Kind::FrenchId { 12 } else { 9 };
        let number: String = (0..len)
            .map(|i| {
                if kind == Kind::FrenchId || i >= 2 {
                    char::from(b'0' + r.below(10) as u8)
                } else {
                    char::from(alnum[r.below(alnum.len() as u64) as usize])
                }
            })
            .collect();
        let mut given = r.pick(GIVEN).to_string();
        if r.chance(0.4) {
            given.push(' ');
            given.push_str(r.pick(GIVEN));
        }
        Document {
            kind,
            surname: r.pick(SURNAMES).to_string(),
            given,
            birth,
            expiry,
            sex: if r.chance(0.5) { 'F' } else { 'M' },
            country,
            number,
            corrupt: None,
        }
    }

    /// The MRZ lines (none for a driving licence).
    pub fn mrz(&self) -> Vec<String> {
        let Some(layout) = self.kind.layout() else {
            return Vec::new();
        };
        let yymmdd = |d: NaiveDate| {
            format!(
                "{:02}{:02}{:02}",
                d.year().rem_euclid(100),
                d.month(),
                d.day()
            )
        };
        let cd = |s: &str| char::from(check_digit(s.as_bytes()).unwrap_or(b'0'));
        let pad = |s: &str, n: usize| {
            let mut s: String = s.chars().take(n).collect();
            while s.len() < n {
                s.push('<');
            }
            s
        };
        let names = |n: usize| {
            pad(
                &format!(
                    "{}<<{}",
                    self.surname.replace(' ', "<"),
                    self.given.replace(' ', "<")
                ),
                n,
            )
        };
        let birth = yymmdd(self.birth);
        let birth_cd = cd(&birth);
        let mut birth_text = birth.clone();
        if self.corrupt == Some(Corrupt::BirthYear) {
            // The year's last digit one lower (a year older), the check
            // digit of the true date kept: one changed digit always
            // changes the check digit (weight 3).
            let b = birth.as_bytes();
            let lower = b'0' + (b[1] - b'0' + 9) % 10;
            birth_text = format!("{}{}{}", char::from(b[0]), char::from(lower), &birth[2..]);
        }
        let expiry = yymmdd(self.expiry);
        let number = pad(
            &self.number,
            if layout == Layout::FrenchId { 12 } else { 9 },
        );
        let mut number_cd = cd(&number);
        if self.corrupt == Some(Corrupt::DocumentCheck) {
            number_cd = char::from(b'0' + ((number_cd as u8 - b'0' + 3) % 10));
        }
        let sex = self.sex;
        let nat = &self.country;
        match layout {
            Layout::Td3 => {
                let l1 = format!("P<{nat}{}", names(39));
                let optional = pad("", 14);
                let head = format!("{number}{number_cd}{nat}{birth_text}{birth_cd}{sex}");
                let tail = format!("{expiry}{}{optional}{}", cd(&expiry), cd(&optional));
                let composite = format!(
                    "{number}{number_cd}{birth_text}{birth_cd}{expiry}{}{optional}{}",
                    cd(&expiry),
                    cd(&optional)
                );
                vec![l1, format!("{head}{tail}{}", cd(&composite))]
            }
            Layout::Td2 => {
                let l1 = format!("I<{nat}{}", names(31));
                let optional = pad("", 7);
                let composite = format!(
                    "{number}{number_cd}{birth_text}{birth_cd}{expiry}{}{optional}",
                    cd(&expiry)
                );
                let l2 = format!(
                    "{number}{number_cd}{nat}{birth_text}{birth_cd}{sex}{expiry}{}{optional}{}",
                    cd(&expiry),
                    cd(&composite)
                );
                vec![l1, l2]
            }
            Layout::Td1 => {
                let code = if self.kind == Kind::ResidencePermitTd1 {
                    "IR"
                } else {
                    "I<"
                };
                let opt1 = pad("", 15);
                let l1 = format!("{code}{nat}{number}{number_cd}{opt1}");
                let opt2 = pad("", 11);
                let composite = format!(
                    "{number}{number_cd}{opt1}{birth_text}{birth_cd}{expiry}{}{opt2}",
                    cd(&expiry)
                );
                let l2 = format!(
                    "{birth_text}{birth_cd}{sex}{expiry}{}{nat}{opt2}{}",
                    cd(&expiry),
                    cd(&composite)
                );
                vec![l1, l2, names(30)]
            }
            Layout::FrenchId => {
                let l1 = format!("IDFRA{}{}", pad(&self.surname, 25), "750123");
                let given = pad(&self.given.replace(' ', "<<"), 14);
                let body = format!("{number}{number_cd}{given}{birth_text}{birth_cd}{sex}");
                let composite = format!("{l1}{body}");
                vec![l1.clone(), format!("{body}{}", cd(&composite))]
            }
        }
    }
}

/// How an image is spoiled after rendering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Degradation {
    Clean,
    /// Degrees, positive = counter-clockwise.
    Rotate(f32),
    /// Gaussian sigma in pixels.
    Blur(f32),
    /// JPEG quality 1–100.
    Jpeg(u8),
    /// Gaussian noise standard deviation (0–255 scale).
    Noise(f32),
    /// Contrast kept (0–1) around mid-grey.
    LowContrast(f32),
    /// Scale factor (0.4 = 40 % of the resolution).
    LowRes(f32),
    /// The card photographed on a coloured table, slightly turned.
    Background,
}

impl Degradation {
    /// The set the tests and benchmarks use (issue 10).
    pub const SET: [Degradation; 9] = [
        Degradation::Clean,
        Degradation::Rotate(8.0),
        Degradation::Rotate(-4.0),
        Degradation::Blur(1.6),
        Degradation::Jpeg(15),
        Degradation::Noise(22.0),
        Degradation::LowContrast(0.3),
        Degradation::LowRes(0.4),
        Degradation::Background,
    ];

    pub fn name(self) -> String {
        match self {
            Degradation::Clean => "clean".into(),
            Degradation::Rotate(d) => format!("rotate{d:+}"),
            Degradation::Blur(s) => format!("blur{s}"),
            Degradation::Jpeg(q) => format!("jpeg{q}"),
            Degradation::Noise(s) => format!("noise{s}"),
            Degradation::LowContrast(c) => format!("contrast{c}"),
            Degradation::LowRes(f) => format!("res{}", (f * 100.0).round()),
            Degradation::Background => "background".into(),
        }
    }
}

/// Pixels per millimetre of a clean rendering (~300 dpi).
const PX_PER_MM: f32 = 11.8;

/// Renders the document, clean.
pub fn render(doc: &Document, fonts: &Fonts) -> RgbImage {
    let (w_mm, h_mm) = doc.kind.size_mm();
    let (w, h) = ((w_mm * PX_PER_MM) as u32, (h_mm * PX_PER_MM) as u32);
    let mm = |v: f32| (v * PX_PER_MM) as i32;
    let paper = match doc.kind {
        Kind::Passport => Rgb([236, 232, 240]),
        Kind::DrivingLicence => Rgb([240, 226, 232]),
        _ => Rgb([226, 236, 242]),
    };
    let mut img = RgbImage::from_pixel(w, h, paper);
    let ink = Rgb([20, 22, 30]);
    let blue = Rgb([30, 50, 120]);
    // A faint security pattern.
    for y in (0..h).step_by(9) {
        for x in 0..w {
            let wave = ((x as f32 / 23.0).sin() * 3.0) as i32;
            let yy = y as i32 + wave;
            if yy >= 0 && (yy as u32) < h {
                img.put_pixel(
                    x,
                    yy as u32,
                    Rgb([paper[0] - 12, paper[1] - 8, paper[2] - 4]),
                );
            }
        }
    }
    let title = PxScale::from(mm(3.6) as f32);
    draw_text_mut(
        &mut img,
        blue,
        mm(4.0),
        mm(3.0),
        title,
        &fonts.sans,
        doc.kind.title(),
    );
    // Photo, above the MRZ.
    let mrz_top = h as i32 - mm(2.5) - mm(4.3) * doc.mrz().len() as i32 - mm(1.5);
    let (px, py, pw) = (mm(4.0), mm(10.0), mm(22.0));
    let ph = mm(28.0).min(mrz_top - py);
    draw_filled_rect_mut(
        &mut img,
        Rect::at(px, py).of_size(pw as u32, ph as u32),
        Rgb([150, 160, 170]),
    );
    draw_filled_ellipse_mut(
        &mut img,
        (px + pw / 2, py + ph * 2 / 5),
        pw / 4,
        ph / 4,
        Rgb([205, 180, 160]),
    );
    // Shoulders: the top of an ellipse, clipped to the photo.
    let shoulders = (px + pw / 2, py + ph + ph / 6);
    for y in (py + ph * 2 / 3).max(0)..py + ph {
        for x in px..px + pw {
            let (dx, dy) = (
                (x - shoulders.0) as f32 / (pw / 2) as f32,
                (y - shoulders.1) as f32 / (ph / 2) as f32,
            );
            if dx * dx + dy * dy <= 1.0 && x >= 0 && y >= 0 {
                img.put_pixel(x as u32, y as u32, Rgb([60, 70, 90]));
            }
        }
    }
    // Visual zone: label, then value.
    let label = PxScale::from(mm(2.2) as f32);
    let value = PxScale::from(mm(3.2) as f32);
    let x = px + pw + mm(4.0);
    let date = |d: NaiveDate| d.format("%d.%m.%Y").to_string();
    let expiry_label = if doc.kind == Kind::FrenchId {
        "Valable jusqu'au / Valid until"
    } else {
        "Date d'expiration / Date of expiry"
    };
    let fields = [
        ("Nom / Surname", doc.surname.clone()),
        ("Prénoms / Given names", doc.given.clone()),
        ("Date de naissance / Date of birth", date(doc.birth)),
        (expiry_label, date(doc.expiry)),
    ];
    let rows_bottom = if doc.kind.layout().is_some() {
        // Leave room for the MRZ.
        h as i32 - mm(4.0) - mm(5.0) * doc.mrz().len() as i32
    } else {
        h as i32 - mm(4.0)
    };
    let step = ((rows_bottom - mm(10.0)) / fields.len() as i32).min(mm(8.5));
    for (i, (l, v)) in fields.iter().enumerate() {
        let y = mm(10.0) + step * i as i32;
        draw_text_mut(&mut img, blue, x, y, label, &fonts.sans, l);
        draw_text_mut(&mut img, ink, x, y + mm(2.6), value, &fonts.sans, v);
    }
    // MRZ: OCR-B, 2.54 mm pitch, lines 4.2 mm apart, 2 mm from the bottom.
    let lines = doc.mrz();
    let pitch = 2.54 * PX_PER_MM;
    let size = PxScale::from(4.1 * PX_PER_MM);
    let n = lines.len() as i32;
    for (i, line) in lines.iter().enumerate() {
        let y = h as i32 - mm(2.5) - (n - i as i32) * mm(4.3);
        let left = (w as f32 - pitch * line.len() as f32) / 2.0;
        for (j, c) in line.chars().enumerate() {
            let mut buf = [0u8; 4];
            let cx = (left + pitch * j as f32) as i32;
            draw_text_mut(
                &mut img,
                ink,
                cx,
                y,
                size,
                &fonts.ocrb,
                c.encode_utf8(&mut buf),
            );
        }
    }
    img
}

/// Applies one degradation. Deterministic for a seed.
pub fn degrade(img: &RgbImage, d: Degradation, seed: u64) -> RgbImage {
    use imageproc::geometric_transformations::{rotate_about_center, Interpolation};
    match d {
        Degradation::Clean | Degradation::Jpeg(_) => img.clone(),
        Degradation::Rotate(deg) => {
            // Enlarge the canvas so the corners stay in the picture.
            let pad = (img.width().max(img.height()) as f32 * 0.12) as u32;
            let big = framed(img, pad, Rgb([245, 245, 245]));
            rotate_about_center(
                &big,
                -deg.to_radians(),
                Interpolation::Bilinear,
                Rgb([245, 245, 245]),
            )
        }
        Degradation::Blur(sigma) => imageproc::filter::gaussian_blur_f32(img, sigma),
        Degradation::Noise(sd) => imageproc::noise::gaussian_noise(img, 0.0, f64::from(sd), seed),
        Degradation::LowContrast(k) => {
            let mut out = img.clone();
            for p in out.pixels_mut() {
                for c in p.0.iter_mut() {
                    *c = (150.0 + (f32::from(*c) - 150.0) * k).clamp(0.0, 255.0) as u8;
                }
            }
            out
        }
        Degradation::LowRes(f) => {
            let (w, h) = (
                ((img.width() as f32 * f) as u32).max(1),
                ((img.height() as f32 * f) as u32).max(1),
            );
            image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle)
        }
        Degradation::Background => {
            let mut r = Rng::new(seed);
            let table = Rgb([
                90 + r.below(60) as u8,
                60 + r.below(40) as u8,
                30 + r.below(40) as u8,
            ]);
            let pad = (img.width() as f32 * 0.25) as u32;
            let big = framed(img, pad, table);
            let deg = (r.f64() * 6.0 - 3.0) as f32;
            let mut out =
                rotate_about_center(&big, deg.to_radians(), Interpolation::Bilinear, table);
            // Uneven light: darker towards one corner.
            let (w, h) = (out.width() as f32, out.height() as f32);
            for (x, y, p) in out.enumerate_pixels_mut() {
                let shade = 1.0 - 0.35 * (x as f32 / w + y as f32 / h) / 2.0;
                for c in p.0.iter_mut() {
                    *c = (f32::from(*c) * shade) as u8;
                }
            }
            out
        }
    }
}

fn framed(img: &RgbImage, pad: u32, colour: Rgb<u8>) -> RgbImage {
    let mut big = RgbImage::from_pixel(img.width() + 2 * pad, img.height() + 2 * pad, colour);
    image::imageops::overlay(&mut big, img, i64::from(pad), i64::from(pad));
    big
}

/// Encodes as JPEG (the degradation's quality, else 90) or PNG.
pub fn encode(img: &RgbImage, d: Degradation, png: bool) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    match (d, png) {
        (Degradation::Jpeg(q), _) => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q).encode_image(img)?
        }
        (_, true) => img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?,
        (_, false) => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(img)?
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kyc::mrz;

    fn doc(kind: Kind) -> Document {
        let mut r = Rng::new(7);
        Document::random(
            &mut r,
            kind,
            NaiveDate::from_ymd_opt(1990, 2, 14).unwrap(),
            NaiveDate::from_ymd_opt(2031, 6, 30).unwrap(),
        )
    }

    #[test]
    fn every_generated_mrz_parses_with_every_check_digit() {
        for kind in Kind::ALL {
            let d = doc(kind);
            let lines = d.mrz();
            if kind.layout().is_none() {
                assert!(lines.is_empty());
                continue;
            }
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let m = mrz::find(&refs).unwrap_or_else(|| panic!("{kind:?}: {lines:?}"));
            assert_eq!(Some(m.layout), kind.layout());
            assert!(m.checks.all(), "{kind:?} {:?} {lines:?}", m.checks);
            assert_eq!(m.repairs, 0);
            let b = m.birth.unwrap();
            assert_eq!((b.yy, b.mm, b.dd), (90, 2, 14), "{kind:?}");
            assert_eq!(m.document_number.expose().trim_end_matches('<'), d.number);
        }
    }

    #[test]
    fn corrupted_mrz_fail_their_check_digits() {
        for kind in Kind::ALL.into_iter().filter(|k| k.layout().is_some()) {
            for c in [Corrupt::DocumentCheck, Corrupt::BirthYear] {
                let mut d = doc(kind);
                d.corrupt = Some(c);
                let lines = d.mrz();
                let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                let ok = mrz::find(&refs).is_some_and(|m| m.checks.all());
                assert!(!ok, "{kind:?} {c:?} {lines:?}");
            }
        }
    }
}

/// Who the document belongs to, for the expected decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    Adult,
    /// 18 in a few days.
    AlmostAdult,
    /// 18 for a few days.
    JustAdult,
    Child,
    Expired,
    ExpiringToday,
    CorruptDocument,
    /// A minor whose MRZ birth year is one year earlier (adult if believed).
    CorruptBirthYear,
}

impl Persona {
    pub const ALL: [Persona; 8] = [
        Persona::Adult,
        Persona::AlmostAdult,
        Persona::JustAdult,
        Persona::Child,
        Persona::Expired,
        Persona::ExpiringToday,
        Persona::CorruptDocument,
        Persona::CorruptBirthYear,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Persona::Adult => "adult",
            Persona::AlmostAdult => "almost-18",
            Persona::JustAdult => "just-18",
            Persona::Child => "child",
            Persona::Expired => "expired",
            Persona::ExpiringToday => "expiring-today",
            Persona::CorruptDocument => "bad-check-digit",
            Persona::CorruptBirthYear => "bad-birth-year",
        }
    }
}

/// One generated test document and the decisions acceptable for it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Case {
    pub file: String,
    pub kind: &'static str,
    pub persona: &'static str,
    pub degradation: String,
    pub birth: NaiveDate,
    pub expiry: NaiveDate,
    pub minor: bool,
    /// The decision a perfect reader gives.
    pub ideal: &'static str,
    /// Decisions that are acceptable (never `majeur` for a minor).
    pub acceptable: Vec<&'static str>,
    /// What must never be written anywhere (privacy tests): the invented
    /// surname, given names and document number.
    pub secrets: Vec<String>,
    #[serde(skip)]
    pub document: Document,
    #[serde(skip)]
    pub degradation_value: Degradation,
}

fn years_before(d: NaiveDate, years: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year() - years, d.month(), d.day().min(28)).unwrap_or(d)
}

/// Which documents [`cases`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// A major, a minor, an expired document, a blurred one.
    Demo,
    /// Every kind × persona clean, and each degradation on two kinds (an
    /// adult and someone 18 in a few days).
    Test,
    /// Every kind × persona clean, and every kind × degradation.
    Full,
}

/// The cases of a set.
pub fn cases(today: NaiveDate, seed: u64, set: Set) -> Vec<Case> {
    let mut r = Rng::stream(seed, "idcard", 0, 0);
    let mut plan: Vec<(Kind, Persona, Degradation)> = Vec::new();
    if set == Set::Test {
        for kind in Kind::ALL {
            for p in Persona::ALL {
                if kind.layout().is_some()
                    || !matches!(p, Persona::CorruptDocument | Persona::CorruptBirthYear)
                {
                    plan.push((kind, p, Degradation::Clean));
                }
            }
        }
        let kinds = [
            Kind::Passport,
            Kind::IdCardTd1,
            Kind::VisaTd2,
            Kind::FrenchId,
            Kind::ResidencePermitTd1,
        ];
        for (i, d) in Degradation::SET.into_iter().skip(1).enumerate() {
            plan.push((kinds[i % kinds.len()], Persona::Adult, d));
            plan.push((kinds[(i + 2) % kinds.len()], Persona::AlmostAdult, d));
        }
    } else if set == Set::Full {
        for kind in Kind::ALL {
            for p in Persona::ALL {
                if kind.layout().is_none()
                    && matches!(p, Persona::CorruptDocument | Persona::CorruptBirthYear)
                {
                    continue;
                }
                plan.push((kind, p, Degradation::Clean));
            }
            for d in Degradation::SET.into_iter().skip(1) {
                plan.push((kind, Persona::Adult, d));
                plan.push((kind, Persona::AlmostAdult, d));
            }
        }
    } else {
        plan = vec![
            (Kind::Passport, Persona::Adult, Degradation::Clean),
            (Kind::Passport, Persona::AlmostAdult, Degradation::Clean),
            (Kind::FrenchId, Persona::Expired, Degradation::Clean),
            (Kind::Passport, Persona::Adult, Degradation::Blur(1.6)),
        ];
    }
    let mut out = Vec::new();
    for (i, (kind, persona, deg)) in plan.into_iter().enumerate() {
        let days = |n: i64| chrono::Duration::days(n);
        let adult_birth = years_before(today, 20 + r.below(40) as i32) - days(r.below(300) as i64);
        let birth18 = years_before(today, 18);
        let (birth, expiry) = match persona {
            Persona::Adult | Persona::CorruptDocument => {
                (adult_birth, today + days(200 + r.below(2000) as i64))
            }
            Persona::AlmostAdult | Persona::CorruptBirthYear => {
                (birth18 + days(1 + r.below(10) as i64), today + days(400))
            }
            Persona::JustAdult => (birth18 - days(r.below(10) as i64), today + days(900)),
            Persona::Child => (years_before(today, 9), today + days(700)),
            Persona::Expired => (adult_birth, today - days(1 + r.below(400) as i64)),
            Persona::ExpiringToday => (adult_birth, today),
        };
        let mut document = Document::random(&mut r, kind, birth, expiry);
        document.corrupt = match persona {
            Persona::CorruptDocument => Some(Corrupt::DocumentCheck),
            Persona::CorruptBirthYear => Some(Corrupt::BirthYear),
            _ => None,
        };
        let minor = crate::kyc::decide::age(birth, today).is_none_or(|a| a < 18);
        let ideal = if kind.layout().is_none() || document.corrupt.is_some() || expiry < today {
            "en_attente"
        } else if minor {
            "mineur"
        } else {
            "majeur"
        };
        let acceptable = if ideal == "en_attente" {
            vec!["en_attente"]
        } else {
            vec![ideal, "en_attente"]
        };
        let ext = if matches!(deg, Degradation::Jpeg(_)) || i % 3 == 1 {
            "jpg"
        } else {
            "png"
        };
        out.push(Case {
            file: format!(
                "{i:03}-{}-{}-{}.{ext}",
                kind.name(),
                persona.name(),
                deg.name()
            ),
            kind: kind.name(),
            persona: persona.name(),
            degradation: deg.name(),
            birth,
            expiry,
            minor,
            ideal,
            acceptable,
            secrets: vec![
                document.surname.clone(),
                document.given.clone(),
                document.number.clone(),
            ],
            document,
            degradation_value: deg,
        });
    }
    out
}

/// Renders a case to file bytes (PNG, or JPEG per its name).
pub fn render_case(c: &Case, fonts: &Fonts, seed: u64) -> anyhow::Result<Vec<u8>> {
    let img = degrade(&render(&c.document, fonts), c.degradation_value, seed);
    encode(&img, c.degradation_value, c.file.ends_with(".png"))
}
