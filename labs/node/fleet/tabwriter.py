"""Go's text/tabwriter as fleetctl configures it: minwidth 0, tabwidth 8,
padding 1, padchar '\\t', no flags (`out.Init(os.Stdout, 0, 8, 1, '\\t', 0)`).

Cells are tab-terminated; the text after a line's last tab is not part of a
column. A column is a run of consecutive lines that all have a cell at that
position; its width is the widest cell + padding, rounded up to a multiple of
the tab width, and every cell is padded with tabs to that width. This is what
makes `UNIT\\t\\tMACHINE\\t\\t\\t\\tACTIVE\\tSUB` (docs/fleet.md §4.5).
"""

MIN_WIDTH = 0
TAB_WIDTH = 8
PADDING = 1


def format_table(text):
    """Align tab-separated lines exactly as fleetctl's tabwriter would."""
    lines = [line.split("\t") for line in text.split("\n")]
    # A trailing newline leaves an empty last "line" that Go never prints.
    ends_with_newline = text.endswith("\n")
    if ends_with_newline:
        lines.pop()
    out = []
    _format(lines, 0, len(lines), [], out)
    result = "\n".join(out)
    return result + "\n" if ends_with_newline else result


def _format(lines, first, last, widths, out):
    """Go's recursive column-block formatting over lines[first:last]."""
    column = len(widths)
    line_index = first
    while line_index < last:
        if column >= len(lines[line_index]) - 1:
            line_index += 1
            continue
        # lines[line_index] starts a block of lines that have this column.
        _write_lines(lines, first, line_index, widths, out)
        first = line_index
        width = MIN_WIDTH
        while line_index < last and column < len(lines[line_index]) - 1:
            width = max(width, len(lines[line_index][column]) + PADDING)
            line_index += 1
        _format(lines, first, line_index, widths + [width], out)
        first = line_index
    _write_lines(lines, first, last, widths, out)


def _write_lines(lines, first, last, widths, out):
    for cells in lines[first:last]:
        text = []
        for column, cell in enumerate(cells):
            text.append(cell)
            if column < len(widths):
                text.append(_tab_padding(len(cell), widths[column]))
        out.append("".join(text))


def _tab_padding(text_width, cell_width):
    """Tabs that take text_width up to cell_width rounded to a tab stop."""
    cell_width = (cell_width + TAB_WIDTH - 1) // TAB_WIDTH * TAB_WIDTH
    return "\t" * ((cell_width - text_width + TAB_WIDTH - 1) // TAB_WIDTH)
