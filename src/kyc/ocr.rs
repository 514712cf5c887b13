//! Tesseract through `leptess`, in memory: one pair of engines per worker
//! thread (MRZ: English model, OCR-B alphabet only; visual zone: the
//! European languages installed), created once and reused for every image.

use std::cell::RefCell;
use std::ffi::CString;

use image::GrayImage;
use leptess::tesseract::TessApi;

/// The MRZ alphabet (ICAO 9303).
pub const MRZ_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";

/// Where and how Tesseract is loaded.
#[derive(Debug, Clone)]
pub struct OcrSettings {
    /// `tessdata` directory (default: Tesseract's own).
    pub tessdata: Option<String>,
    /// Languages of the visual zone, Tesseract style (`fra+eng`).
    pub languages: String,
}

impl Default for OcrSettings {
    fn default() -> Self {
        OcrSettings {
            tessdata: None,
            languages: "fra+eng".into(),
        }
    }
}

/// Text and Tesseract's mean word confidence (0–1).
#[derive(Debug, Clone, Default)]
pub struct Text {
    pub text: String,
    pub confidence: f64,
}

/// Page segmentation modes used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Psm {
    /// A single uniform block of text (the MRZ band).
    Block = 6,
    /// Sparse text in no particular order (a whole card).
    Sparse = 11,
    /// Automatic page segmentation (the visual zone).
    Auto = 3,
}

/// A worker's engines.
pub struct Engines {
    mrz: TessApi,
    visual: Option<TessApi>,
    settings: OcrSettings,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engines").finish_non_exhaustive()
    }
}

fn init(settings: &OcrSettings, lang: &str) -> anyhow::Result<TessApi> {
    TessApi::new(settings.tessdata.as_deref(), lang).map_err(|_| {
        anyhow::anyhow!(
            "Tesseract could not load the language data '{lang}' (tessdata {}); install tesseract-ocr-{}",
            settings.tessdata.as_deref().unwrap_or("default"),
            lang.split('+').next().unwrap_or(lang)
        )
    })
}

/// Tesseract's diagnostics ("Detected 74 diacritics"…) go nowhere: they
/// are noise in kvt's logs.
fn quiet(api: &mut TessApi) {
    set(api, "debug_file", "/dev/null");
}

fn set(api: &mut TessApi, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (CString::new(name), CString::new(value)) {
        let _ = api.raw.set_variable(&n, &v);
    }
}

impl Engines {
    pub fn new(settings: &OcrSettings) -> anyhow::Result<Engines> {
        let mut mrz = init(settings, "eng")?;
        quiet(&mut mrz);
        set(&mut mrz, "tessedit_char_whitelist", MRZ_ALPHABET);
        set(&mut mrz, "load_system_dawg", "0");
        set(&mut mrz, "load_freq_dawg", "0");
        Ok(Engines {
            mrz,
            visual: None,
            settings: settings.clone(),
        })
    }

    /// Reads an MRZ band (or a whole image) with the MRZ alphabet.
    pub fn read_mrz(&mut self, img: &GrayImage, psm: Psm) -> anyhow::Result<Text> {
        recognise(&mut self.mrz, img, psm)
    }

    /// Reads the visual zone in the configured languages.
    pub fn read_visual(&mut self, img: &GrayImage) -> anyhow::Result<Text> {
        if self.visual.is_none() {
            let mut api = init(&self.settings, &self.settings.languages)?;
            quiet(&mut api);
            self.visual = Some(api);
        }
        let api = self
            .visual
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no engine"))?;
        recognise(api, img, Psm::Auto)
    }
}

fn recognise(api: &mut TessApi, img: &GrayImage, psm: Psm) -> anyhow::Result<Text> {
    let (w, h) = img.dimensions();
    if w < 8 || h < 8 {
        return Ok(Text::default());
    }
    set(api, "tessedit_pageseg_mode", &(psm as i32).to_string());
    api.raw
        .set_image(img.as_raw(), w as i32, h as i32, 1, w as i32)
        .map_err(|e| anyhow::anyhow!("Tesseract refused the image: {e:?}"))?;
    api.set_source_resolution(300);
    if api.raw.recognize().is_err() {
        anyhow::bail!("Tesseract failed to recognise the image");
    }
    let text = api
        .get_utf8_text()
        .map_err(|_| anyhow::anyhow!("Tesseract returned invalid UTF-8"))?;
    let confidence = f64::from(api.mean_text_conf().clamp(0, 100)) / 100.0;
    Ok(Text { text, confidence })
}

thread_local! {
    static ENGINES: RefCell<Option<Engines>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's engines, created on first use.
pub fn with_engines<R>(
    settings: &OcrSettings,
    f: impl FnOnce(&mut Engines) -> R,
) -> anyhow::Result<R> {
    ENGINES.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Engines::new(settings)?);
        }
        let engines = slot.as_mut().ok_or_else(|| anyhow::anyhow!("no engine"))?;
        Ok(f(engines))
    })
}
