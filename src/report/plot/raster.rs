//! The PNG backend: plotters' bitmap backend with text drawn glyph by
//! glyph from the embedded font's own metrics.
//!
//! plotters 0.3.7 draws `ab_glyph` text by placing each glyph's bitmap at
//! the pen position, ignoring the glyph's side bearing, so small text comes
//! out unevenly spaced ("ok" reads "ck"). [`Raster`] forwards every drawing
//! call to the backend it wraps except text, which it lays out like a
//! browser lays out the same plot's SVG: the same em size (plotters' font
//! size / 1.24), the same baseline for each vertical anchor, kerning, and
//! sub-pixel glyph positions with anti-aliased coverage.

use super::{PlotError, DEJAVU_SANS};
use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};
use std::sync::OnceLock;

/// The embedded font, parsed once.
fn dejavu() -> Result<&'static FontRef<'static>, PlotError> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
        .ok_or_else(|| PlotError("embedded font DejaVuSans.ttf: not a valid font".into()))
}

/// A backend whose text is drawn by [`Raster::draw_text`]; everything else
/// is `B`'s.
pub(super) struct Raster<B> {
    inner: B,
    font: &'static FontRef<'static>,
}

impl<B: DrawingBackend> Raster<B> {
    /// Wraps `inner`.
    pub fn new(inner: B) -> Result<Raster<B>, PlotError> {
        Ok(Raster {
            inner,
            font: dejavu()?,
        })
    }
}

/// SVG's vertical anchors (plotters' SVG backend: `dy` of 0.76em for the
/// top, 0.5ex for the centre, −0.5ex for the bottom), as baseline offsets
/// in ems; DejaVu Sans's x-height is 0.55em.
fn baseline_em(v: VPos) -> f32 {
    const EX: f32 = 0.55;
    match v {
        VPos::Top => 0.76,
        VPos::Center => 0.5 * EX,
        VPos::Bottom => -0.5 * EX,
    }
}

impl<B: DrawingBackend> DrawingBackend for Raster<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    /// `text` in the embedded font (whatever family `style` names: it is
    /// the only font the plots ship), anchored and rotated as `style` says.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let font = self.font;
        let em = (style.size() / 1.24) as f32;
        // ab_glyph scales to ascent − descent; the em is a part of that.
        let upm = font.units_per_em().unwrap_or(2048.0);
        let scale = PxScale::from(em * font.height_unscaled() / upm);
        let scaled = font.as_scaled(scale);
        let mut pen = 0f32;
        let mut prev: Option<GlyphId> = None;
        let mut placed = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                pen += scaled.kern(p, id);
            }
            placed.push((id, pen));
            pen += scaled.h_advance(id);
            prev = Some(id);
        }
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -pen / 2.0,
            HPos::Right => -pen,
        };
        let base = baseline_em(anchor.v_pos) * em;
        let trans = style.transform();
        let (w, h) = self.get_size();
        let mut pixels: Vec<(i32, i32, f32)> = Vec::new();
        for (id, x) in placed {
            let glyph = id.with_scale_and_position(scale, point(x + dx, base));
            if let Some(outline) = font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                let (x0, y0) = (b.min.x as i32, b.min.y as i32);
                outline.draw(|gx, gy, cov| pixels.push((x0 + gx as i32, y0 + gy as i32, cov)));
            }
        }
        for (x, y, cov) in pixels {
            if cov <= 0.0 {
                continue;
            }
            let (x, y) = trans.transform(x, y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                let alpha = color.alpha * f64::from(cov.min(1.0));
                self.inner.draw_pixel(
                    (x, y),
                    BackendColor {
                        alpha,
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}
