//! Hand-written inline SVG charts: no scripts, no fonts or styles fetched, so the report works
//! offline and in any browser.

use std::fmt::Write as _;

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One stacked series: a name, a colour and one value per bin.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// CSS colour.
    pub color: &'a str,
    /// Value per bin.
    pub values: Vec<u64>,
}

/// A shaded interval over the time axis (a campaign's window).
pub struct Band {
    /// Label drawn at the top.
    pub label: String,
    /// First bin (fractional).
    pub from: f64,
    /// Last bin (fractional).
    pub to: f64,
}

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 24.0;

/// A stacked bar chart over time bins; `labels` are x tick labels at the given bins.
pub fn stacked_timeline(
    title: &str,
    series: &[Series<'_>],
    bands: &[Band],
    ticks: &[(usize, String)],
    height: f64,
) -> String {
    let bins = series.iter().map(|s| s.values.len()).max().unwrap_or(0).max(1);
    let totals: Vec<u64> =
        (0..bins).map(|i| series.iter().map(|s| s.values.get(i).copied().unwrap_or(0)).sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let band_rows = bands.len().min(12);
    let top = 24.0 + 12.0 * band_rows as f64;
    let bottom = 34.0;
    let plot_h = height - top - bottom;
    let plot_w = WIDTH - LEFT - RIGHT;
    let bar_w = plot_w / bins as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{t}"><title>{t}</title>"##,
        t = escape(title)
    );
    let _ = write!(s, r##"<text x="{LEFT}" y="14" class="ct">{}</text>"##, escape(title));
    for (row, band) in bands.iter().take(12).enumerate() {
        let x0 = LEFT + band.from.max(0.0) * bar_w;
        let x1 = LEFT + band.to.min(bins as f64) * bar_w;
        let y = 24.0 + 12.0 * row as f64;
        let _ = write!(
            s,
            r##"<rect class="band" x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="#6a5acd" fill-opacity="0.035"/><line x1="{x0:.1}" x2="{x1:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="#6a5acd" stroke-width="2"/><text x="{x0:.1}" y="{ty:.1}" class="bl">{}</text>"##,
            escape(&band.label),
            w = (x1 - x0).max(1.0),
            h = height - bottom - y,
            ly = y + 10.0,
            ty = y + 8.0,
        );
    }
    // Axis and grid.
    for k in 0..=4 {
        let v = max as f64 * k as f64 / 4.0;
        let y = top + plot_h - plot_h * k as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" class="ax" text-anchor="end">{v:.0}</text>"##,
            x2 = WIDTH - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 4.0
        );
    }
    for (i, _) in totals.iter().enumerate() {
        let mut y = top + plot_h;
        for series in series {
            let v = series.values.get(i).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let h = plot_h * v as f64 / max as f64;
            y -= h;
            let _ = write!(
                s,
                r##"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{c}"><title>{n}: {v}</title></rect>"##,
                x = LEFT + i as f64 * bar_w,
                w = (bar_w - 0.2).max(0.5),
                c = series.color,
                n = escape(series.name)
            );
        }
    }
    for (bin, label) in ticks {
        let x = LEFT + *bin as f64 * bar_w;
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{y0:.1}" y2="{y1:.1}" stroke="#999"/><text x="{x:.1}" y="{ty:.1}" class="ax" text-anchor="middle">{}</text>"##,
            escape(label),
            y0 = top + plot_h,
            y1 = top + plot_h + 4.0,
            ty = top + plot_h + 16.0
        );
    }
    let mut lx = LEFT;
    for series in series {
        let _ = write!(
            s,
            r##"<rect x="{lx:.1}" y="{ly:.1}" width="10" height="10" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" class="ax">{n}</text>"##,
            c = series.color,
            n = escape(series.name),
            ly = height - 12.0,
            tx = lx + 14.0,
            ty = height - 3.0
        );
        lx += 24.0 + 7.0 * series.name.len() as f64;
    }
    s.push_str("</svg>");
    s
}

/// Horizontal bars, each split into coloured parts: `rows` are (label, values per part).
pub fn split_bars(title: &str, parts: &[(&str, &str)], rows: &[(String, Vec<u64>)]) -> String {
    let row_h = 20.0;
    let label_w = 260.0;
    let height = 40.0 + row_h * rows.len() as f64 + 20.0;
    let max = rows.iter().map(|(_, v)| v.iter().sum::<u64>()).max().unwrap_or(0).max(1);
    let plot_w = WIDTH - label_w - 80.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-label="{t}"><title>{t}</title><text x="4" y="14" class="ct">{t}</text>"##,
        t = escape(title)
    );
    for (i, (label, values)) in rows.iter().enumerate() {
        let y = 28.0 + row_h * i as f64;
        let _ = write!(
            s,
            r##"<text x="{lx}" y="{ty:.1}" class="ax" text-anchor="end">{}</text>"##,
            escape(label),
            lx = label_w - 6.0,
            ty = y + 13.0
        );
        let mut x = label_w;
        for ((name, color), v) in parts.iter().zip(values) {
            if *v == 0 {
                continue;
            }
            let w = plot_w * *v as f64 / max as f64;
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{color}"><title>{n}: {v}</title></rect>"##,
                h = row_h - 4.0,
                n = escape(name)
            );
            x += w;
        }
        let _ = write!(
            s,
            r##"<text x="{tx:.1}" y="{ty:.1}" class="ax">{}</text>"##,
            values.iter().sum::<u64>(),
            tx = x + 4.0,
            ty = y + 13.0
        );
    }
    let mut lx = label_w;
    for (name, color) in parts {
        let _ = write!(
            s,
            r##"<rect x="{lx:.1}" y="{ly:.1}" width="10" height="10" fill="{color}"/><text x="{tx:.1}" y="{ty:.1}" class="ax">{n}</text>"##,
            n = escape(name),
            ly = height - 14.0,
            tx = lx + 14.0,
            ty = height - 5.0
        );
        lx += 24.0 + 7.0 * name.len() as f64;
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_and_escape_labels() {
        let series = [Series { name: "a<b", color: "#000", values: vec![1, 2, 3] }];
        let bands = [Band { label: "c&d".into(), from: 0.5, to: 2.0 }];
        let svg = stacked_timeline("t", &series, &bands, &[(0, "12:00".into())], 200.0);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a&lt;b") && svg.contains("c&amp;d"));
        let bars = split_bars("r", &[("x", "#111"), ("y", "#222")], &[("rule".into(), vec![3, 4])]);
        assert!(bars.contains(">7<"));
    }
}
