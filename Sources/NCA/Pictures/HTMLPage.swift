/// The shell shared by the toolkit's self-contained HTML reports: one style sheet, no scripts,
/// no network access (pictures are inline SVG or PNG data URIs).
enum HTMLPage {
    static func document(title: String, body: String, footer: String) -> String {
        let e = SVGPlot.escape
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(e(title))</title>
            <style>
            body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1200px; }
            table { border-collapse: collapse; margin: 8px 0 16px; }
            th, td { text-align: left; padding: 3px 12px 3px 0; vertical-align: top; }
            th { font-weight: 600; color: #444; }
            .snapshots td { padding: 2px 6px 2px 0; text-align: center; font-size: 12px; }
            .snapshots img { image-rendering: pixelated; width: 128px; }
            .snapshots img.wide { width: 200px; }
            .numbers td { font-variant-numeric: tabular-nums; }
            .findings li { margin: 4px 0; }
            .caption { color: #555; font-size: 14px; }
            </style></head><body>
            \(body)
            <p class="caption">\(e(footer))</p>
            </body></html>

            """
    }
}
