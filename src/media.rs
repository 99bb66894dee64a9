//! Uploaded pictures: checked, decoded and re-encoded as PNG, so that nothing a user
//! uploaded is ever served as it came (no scripts in SVG, no metadata, no oversized
//! files). Also the initials avatar shown when a user has no picture.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::error::{ImageError, LimitErrorKind};
use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};
use tokio::sync::Semaphore;

/// The most an upload may weigh.
pub const MAX_UPLOAD: usize = 5 * 1024 * 1024;
/// Decoding stops for pictures larger than this many pixels a side (decompression bombs):
/// 4096 is more than any camera photo needs to become a 256 px avatar or a 512 px logo.
pub const MAX_SIDE: u32 = 4096;
/// The most memory one decode may allocate: one 4096 × 4096 RGBA picture.
const MAX_DECODE_ALLOC: u64 = 64 * 1024 * 1024;
/// Pictures decoded at once. A decode holds a core and up to `MAX_DECODE_ALLOC` for
/// about a second, so two bound both while leaving the async workers free.
const DECODERS: usize = 2;
/// An upload that waited this long for a decoder is refused as busy, so that a queue of
/// uploads (each holding its body) cannot grow without end.
const DECODER_WAIT: Duration = Duration::from_secs(20);
/// Uploads one person may make in a burst, and how often one more is allowed after it.
const UPLOAD_BURST: u32 = 5;
const UPLOAD_REFILL: Duration = Duration::from_secs(12);
/// Beyond this many people tracked, those with a full allowance are forgotten.
const UPLOAD_TRACKED: usize = 10_000;
/// Profile pictures are squares of this many pixels.
pub const AVATAR_SIZE: u32 = 256;
/// Logos fit in a square of this many pixels, keeping their shape.
pub const LOGO_SIZE: u32 = 512;

/// Why an upload was refused; `Display` is the message shown next to the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("choose a picture to upload")]
    Empty,
    #[error("is larger than 5 MB")]
    TooLarge,
    #[error("is not a PNG, JPEG, WebP or SVG picture")]
    UnknownFormat,
    #[error("is larger than {MAX_SIDE} × {MAX_SIDE} pixels")]
    TooManyPixels,
    #[error("could not be read as a picture: {0}")]
    Broken(String),
    #[error("could not be processed now: the server is busy with other pictures")]
    Busy,
}

/// Decodes uploads away from the async workers, a few at a time, and counts each
/// person's uploads. One per server (in `AppState`).
pub struct Pictures {
    decoders: Arc<Semaphore>,
    uploads: Mutex<HashMap<String, Allowance>>,
}

/// A person's upload allowance: a token bucket of `UPLOAD_BURST`.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    tokens: f64,
    at: Instant,
}

/// Refused: too many uploads; the next one is allowed after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadsExhausted {
    pub retry_after: Duration,
}

impl Default for Pictures {
    fn default() -> Self {
        Pictures {
            decoders: Arc::new(Semaphore::new(DECODERS)),
            uploads: Mutex::new(HashMap::new()),
        }
    }
}

impl Pictures {
    /// Count one upload by `user_id`, or refuse it when their allowance is used up.
    pub fn allow_upload(&self, user_id: &str) -> Result<(), UploadsExhausted> {
        self.allow_upload_at(user_id, Instant::now())
    }

    fn allow_upload_at(&self, user_id: &str, now: Instant) -> Result<(), UploadsExhausted> {
        let mut uploads = self.uploads.lock().unwrap_or_else(|e| e.into_inner());
        let refill = |a: &Allowance| {
            let earned =
                now.saturating_duration_since(a.at).as_secs_f64() / UPLOAD_REFILL.as_secs_f64();
            (a.tokens + earned).min(f64::from(UPLOAD_BURST))
        };
        if uploads.len() >= UPLOAD_TRACKED {
            uploads.retain(|_, a| refill(a) < f64::from(UPLOAD_BURST));
        }
        let allowance = uploads.entry(user_id.to_string()).or_insert(Allowance {
            tokens: f64::from(UPLOAD_BURST),
            at: now,
        });
        let tokens = refill(allowance);
        if tokens < 1.0 {
            let wait = (1.0 - tokens) * UPLOAD_REFILL.as_secs_f64();
            return Err(UploadsExhausted {
                retry_after: Duration::from_secs_f64(wait.ceil().max(1.0)),
            });
        }
        *allowance = Allowance {
            tokens: tokens - 1.0,
            at: now,
        };
        Ok(())
    }

    /// `profile_picture`, decoded on a blocking thread behind the decoder limit.
    pub async fn profile_picture(&self, upload: Vec<u8>) -> Result<Png, MediaError> {
        self.off_the_async_workers(move || profile_picture(&upload))
            .await
    }

    /// `logo`, decoded on a blocking thread behind the decoder limit.
    pub async fn logo(&self, upload: Vec<u8>) -> Result<Png, MediaError> {
        self.off_the_async_workers(move || logo(&upload)).await
    }

    async fn off_the_async_workers(
        &self,
        work: impl FnOnce() -> Result<Png, MediaError> + Send + 'static,
    ) -> Result<Png, MediaError> {
        let permit = tokio::time::timeout(DECODER_WAIT, self.decoders.clone().acquire_owned())
            .await
            .map_err(|_| MediaError::Busy)?
            .map_err(|_| MediaError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| MediaError::Broken(format!("the decoder failed: {e}")))?
    }
}

/// A picture ready to store: PNG bytes.
pub struct Png(pub Vec<u8>);

/// A square profile picture: the middle of the upload, `AVATAR_SIZE` a side.
/// Blocks for up to a second: async code calls it through `Pictures`.
pub fn profile_picture(upload: &[u8]) -> Result<Png, MediaError> {
    let image = decode(upload, AVATAR_SIZE)?.into_rgba8();
    let side = image.width().min(image.height());
    let x = (image.width() - side) / 2;
    let y = (image.height() - side) / 2;
    // A view of the middle square, resized without copying it first.
    let square = image::imageops::crop_imm(&image, x, y, side, side);
    let avatar = image::imageops::resize(&*square, AVATAR_SIZE, AVATAR_SIZE, FilterType::Lanczos3);
    encode(&DynamicImage::ImageRgba8(avatar))
}

/// A logo that fits in `LOGO_SIZE` a side, keeping its shape (never enlarged).
/// Blocks for up to a second: async code calls it through `Pictures`.
pub fn logo(upload: &[u8]) -> Result<Png, MediaError> {
    let image = decode(upload, LOGO_SIZE)?;
    if image.width() <= LOGO_SIZE && image.height() <= LOGO_SIZE {
        return encode(&image);
    }
    encode(&image.resize(LOGO_SIZE, LOGO_SIZE, FilterType::Lanczos3))
}

fn decode(upload: &[u8], svg_size: u32) -> Result<DynamicImage, MediaError> {
    if upload.is_empty() {
        return Err(MediaError::Empty);
    }
    if upload.len() > MAX_UPLOAD {
        return Err(MediaError::TooLarge);
    }
    if looks_like_svg(upload) {
        return rasterize_svg(upload, svg_size);
    }
    let format = image::guess_format(upload).map_err(|_| MediaError::UnknownFormat)?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP
    ) {
        return Err(MediaError::UnknownFormat);
    }
    let mut reader = ImageReader::with_format(std::io::Cursor::new(upload), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        ImageError::Limits(l)
            if matches!(
                l.kind(),
                LimitErrorKind::DimensionError | LimitErrorKind::InsufficientMemory
            ) =>
        {
            MediaError::TooManyPixels
        }
        e => MediaError::Broken(e.to_string()),
    })
}

fn looks_like_svg(upload: &[u8]) -> bool {
    let head = &upload[..upload.len().min(1024)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let text = text.trim_start_matches('\u{feff}').trim_start();
    (text.starts_with("<?xml") || text.starts_with("<svg") || text.starts_with("<!--"))
        && text.contains("<svg")
}

/// Draw an SVG into pixels, `size` on its longer side. External files are never read.
fn rasterize_svg(upload: &[u8], size: u32) -> Result<DynamicImage, MediaError> {
    let mut options = resvg::usvg::Options::default();
    options.image_href_resolver.resolve_string = Box::new(|_, _| None);
    let tree = resvg::usvg::Tree::from_data(upload, &options)
        .map_err(|e| MediaError::Broken(e.to_string()))?;
    let natural = tree.size();
    let scale = size as f32 / natural.width().max(natural.height());
    let width = ((natural.width() * scale).round() as u32).clamp(1, size);
    let height = ((natural.height() * scale).round() as u32).clamp(1, size);
    let mut pixmap = resvg::tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| MediaError::Broken("the picture has no size".into()))?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    // tiny-skia keeps premultiplied alpha; the image crate wants it straight.
    let mut rgba = Vec::with_capacity((width * height * 4) as usize);
    for p in pixmap.pixels() {
        let c = p.demultiply();
        rgba.extend_from_slice(&[c.red(), c.green(), c.blue(), c.alpha()]);
    }
    image::RgbaImage::from_raw(width, height, rgba)
        .map(DynamicImage::ImageRgba8)
        .ok_or_else(|| MediaError::Broken("the picture could not be drawn".into()))
}

fn encode(image: &DynamicImage) -> Result<Png, MediaError> {
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|e| MediaError::Broken(e.to_string()))?;
    Ok(Png(out.into_inner()))
}

/// A stored picture (PNG) as JPEG, for LDAP's `jpegPhoto`; `None` when it cannot be read.
/// Stored pictures are at most 256 pixels square, so this is quick; it is still CPU
/// work, for a blocking thread.
pub fn to_jpeg(png: &[u8]) -> Option<Vec<u8>> {
    let image = image::load_from_memory_with_format(png, ImageFormat::Png).ok()?;
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image.to_rgb8())
        .write_to(&mut out, ImageFormat::Jpeg)
        .ok()?;
    Some(out.into_inner())
}

/// A round avatar with the person's initials, as SVG, in a colour picked from `seed`.
pub fn initials_avatar(name: &str, seed: &str) -> String {
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    let initials = if initials.is_empty() {
        "?".to_string()
    } else {
        initials
    };
    let hue = seed
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"256\" height=\"256\" viewBox=\"0 0 256 256\">\
         <rect width=\"256\" height=\"256\" rx=\"128\" fill=\"hsl({hue},45%,42%)\"/>\
         <text x=\"128\" y=\"128\" dy=\".35em\" text-anchor=\"middle\" font-family=\"system-ui,sans-serif\" \
         font-size=\"104\" font-weight=\"600\" fill=\"#fff\">{}</text></svg>",
        xml_escape(&initials)
    )
}

fn xml_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            width,
            height,
            image::Rgb([200, 10, 10]),
        ));
        encode(&img).unwrap().0
    }

    fn dimensions(bytes: &[u8]) -> (u32, u32) {
        let img = image::load_from_memory_with_format(bytes, ImageFormat::Png).unwrap();
        (img.width(), img.height())
    }

    #[test]
    fn profile_pictures_become_256_pixel_squares() {
        let out = profile_picture(&png(600, 300)).unwrap();
        assert_eq!(dimensions(&out.0), (256, 256));
    }

    #[test]
    fn logos_keep_their_shape_and_are_never_enlarged() {
        assert_eq!(dimensions(&logo(&png(1024, 512)).unwrap().0), (512, 256));
        assert_eq!(dimensions(&logo(&png(40, 20)).unwrap().0), (40, 20));
    }

    #[test]
    fn svg_is_drawn_into_pixels_without_its_script() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><script>alert(1)</script><rect width="20" height="10" fill="red"/></svg>"#;
        let out = logo(svg).unwrap();
        assert_eq!(dimensions(&out.0), (512, 256));
        assert!(!String::from_utf8_lossy(&out.0).contains("alert"));
    }

    #[test]
    fn other_uploads_are_refused_with_a_reason() {
        assert_eq!(logo(b"").err(), Some(MediaError::Empty));
        assert_eq!(logo(b"GIF89a....").err(), Some(MediaError::UnknownFormat));
        assert_eq!(
            logo(&vec![0u8; MAX_UPLOAD + 1]).err(),
            Some(MediaError::TooLarge)
        );
        let mut broken = png(10, 10);
        broken.truncate(40);
        assert!(matches!(logo(&broken), Err(MediaError::Broken(_))));
    }

    #[test]
    fn pictures_wider_than_the_limit_are_refused_before_decoding() {
        assert_eq!(
            logo(&png(MAX_SIDE + 1, 1)).err(),
            Some(MediaError::TooManyPixels)
        );
        assert_eq!(dimensions(&logo(&png(MAX_SIDE, 1)).unwrap().0), (512, 1));
    }

    #[test]
    fn each_person_gets_a_burst_of_uploads_then_one_every_twelve_seconds() {
        let pictures = Pictures::default();
        let start = Instant::now();
        for _ in 0..UPLOAD_BURST {
            pictures.allow_upload_at("ada", start).unwrap();
        }
        let refused = pictures.allow_upload_at("ada", start).unwrap_err();
        assert_eq!(refused.retry_after, UPLOAD_REFILL);
        // Someone else is not affected.
        pictures.allow_upload_at("bob", start).unwrap();
        pictures
            .allow_upload_at("ada", start + UPLOAD_REFILL)
            .unwrap();
        assert!(
            pictures
                .allow_upload_at("ada", start + UPLOAD_REFILL)
                .is_err()
        );
    }

    /// On a one-thread runtime, other tasks run while a picture decodes: were it decoded
    /// on the async thread, the decode would finish before anything else got a turn.
    #[tokio::test(flavor = "current_thread")]
    async fn decoding_leaves_the_async_thread_to_other_requests() {
        let pictures = Pictures::default();
        let order = Mutex::new(Vec::new());
        let decode = async {
            let out = pictures.profile_picture(png(2000, 1500)).await;
            order.lock().unwrap().push("decoded");
            out
        };
        let other_request = async {
            order.lock().unwrap().push("other request");
        };
        let (out, ()) = tokio::join!(decode, other_request);
        assert_eq!(dimensions(&out.unwrap().0), (256, 256));
        assert_eq!(*order.lock().unwrap(), ["other request", "decoded"]);
        assert!(matches!(
            pictures.logo(b"broken".to_vec()).await,
            Err(MediaError::UnknownFormat)
        ));
    }

    #[test]
    fn the_initials_avatar_escapes_names() {
        let svg = initials_avatar("<Ada> Lovelace", "u1");
        assert!(svg.contains(">AL</text>"));
        assert!(!svg.contains("<Ada>"));
        assert!(initials_avatar("", "u1").contains(">?</text>"));
    }
}
