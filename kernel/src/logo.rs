//! The kernel's logo, drawn at install time (an SVG rendered with the
//! bundled font, so no image file is shipped).

use rankbook::plot::render_svg_png;

/// The logo as PNG bytes, `size` pixels square.
pub fn png(size: u32) -> anyhow::Result<Vec<u8>> {
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#1f77b4"/><text x="32" y="44" font-family="sans-serif" font-size="34" font-weight="bold" fill="#ffffff" text-anchor="middle">rb</text></svg>"##
    );
    Ok(render_svg_png(&svg, (size, size))?)
}
