"""The PDF renderer: the report's small markup and its tables and figures, laid out with ReportLab."""

from __future__ import annotations

from pathlib import Path

from ... import atomic
from .tables import Table


def build_pdf(markup: str, tables: dict[str, Table], figures: dict, blocks: dict, dest: Path) -> None:
    """Lay out ``markup`` (headings, paragraphs, bullets, ``::table``/``::figure``/``::pre`` lines)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (CondPageBreak, Image, KeepTogether, PageBreak, Paragraph, Preformatted,
                                    SimpleDocTemplate, Spacer, TableStyle)
    from reportlab.platypus import Table as Grid

    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=7.5, leading=9)
    caption = ParagraphStyle("caption", parent=styles["BodyText"], fontSize=8, leading=10,
                             textColor=colors.HexColor("#333333"))
    width = A4[0] - 4 * cm
    story = []

    def table(spec: Table):
        data = [[Paragraph(f"<b>{h}</b>", small) for h in spec.header]]
        data += [[Paragraph(str(cell), small) for cell in row] for row in spec.rows] or \
                [[Paragraph("no rows", small)] + [""] * (len(spec.header) - 1)]
        # Every column fits its longest word (about 4.2 pt a character at 7.5 pt, plus
        # padding); what is left goes to the columns with the most text, capped so prose wraps.
        lengths, minimums = [], []
        for i in range(len(spec.header)):
            cells = [str(row[i]) for row in [spec.header, *spec.rows]]
            word = max((len(w) for cell in cells for w in cell.split()), default=1)
            minimums.append((word + 1) * 4.2 + 12)
            lengths.append(min(40, max(map(len, cells))))
        spare = width - sum(minimums)
        widths = ([m + spare * n / sum(lengths) for m, n in zip(minimums, lengths)] if spare > 0
                  else [width * m / sum(minimums) for m in minimums])
        grid = Grid(data, repeatRows=1, colWidths=widths)
        grid.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                                  ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                                  ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        parts = [Paragraph(f"<b>{spec.title}</b>", caption), grid]
        if spec.note:
            parts.append(Paragraph(spec.note, caption))
        if len(spec.rows) <= 15:
            return [KeepTogether(parts + [Spacer(1, 8)])]
        # A long table starts where it is and splits across pages, its title with its first rows.
        return [CondPageBreak(3 * cm), *parts, Spacer(1, 8)]

    def figure(spec):
        from PIL import Image as Pillow

        with Pillow.open(spec["png"]) as image:
            w, h = image.size
        scale = min(width / w, 11 * cm / h)
        sources = spec["sources"]
        listed = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
        return KeepTogether([Image(str(spec["png"]), w * scale, h * scale),
                             Paragraph(f"<b>{spec['name']}.</b> {spec['caption']} Raw exports: {listed or 'none'}.",
                                       caption), Spacer(1, 10)])

    paragraph: list[str] = []

    def flush():
        if paragraph:
            story.append(Paragraph(" ".join(paragraph), styles["BodyText"]))
            paragraph.clear()

    for line in markup.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif stripped.startswith("::"):
            flush()
            kind, _, name = stripped[2:].partition(" ")
            if kind == "table":
                story.extend(table(tables[name]))
            elif kind == "figure":
                story.append(figure(figures[name]) if name in figures else
                             Paragraph(f"Figure {name} was not drawn.", caption))
            elif kind == "pre":
                # 7-point Courier is 4.2 pt a character: 110 fill the text width; longer lines wrap.
                story.append(Preformatted(blocks[name], ParagraphStyle("pre", fontName="Courier", fontSize=7,
                                                                       leading=8.5),
                                          maxLineLength=110, splitChars=" ", newLineChars="    "))
            elif kind == "pagebreak":
                story.append(PageBreak())
        elif stripped.startswith("#"):
            flush()
            level = len(stripped) - len(stripped.lstrip("#"))
            story.append(CondPageBreak(4 * cm))  # a heading never sits alone at the foot of a page
            story.append(Paragraph(stripped[level:].strip(), styles[{1: "Title", 2: "Heading1"}.get(level, "Heading2")]))
        elif stripped.startswith("- "):
            flush()
            story.append(Paragraph(stripped[2:], styles["BodyText"], bulletText="\u2022"))
        else:
            paragraph.append(stripped)
    flush()
    with atomic.atomic_path(dest) as tmp:
        SimpleDocTemplate(str(tmp), pagesize=A4, leftMargin=2 * cm, rightMargin=2 * cm, topMargin=2 * cm,
                          bottomMargin=2 * cm, title="mlopsbench report").build(story)
