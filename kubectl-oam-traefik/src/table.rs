//! kubectl-style tables: upper-case headers, columns three spaces apart, no borders;
//! colour only on a terminal and never with `NO_COLOR`.

use std::io::IsTerminal;

use comfy_table::{Cell, CellAlignment, Color, ContentArrangement, Table};

/// Whether to colour what goes to stdout.
pub fn colour_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// A cell, coloured when `colour` is set.
pub fn cell(text: impl Into<String>, colour: Option<Color>) -> Cell {
    let cell = Cell::new(text.into()).set_alignment(CellAlignment::Left);
    match colour {
        Some(c) => cell.fg(c),
        None => cell,
    }
}

/// Render rows under `headers` (left out with `no_headers`).
pub fn render(headers: &[&str], rows: Vec<Vec<Cell>>, no_headers: bool, colour: bool) -> String {
    let mut table = Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if colour {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    if !no_headers {
        table.set_header(headers.iter().map(|h| Cell::new(*h)));
    }
    for row in rows {
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 3));
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
