//! Sequence diagrams of simulated runs (`leasesim show`): a run's JSON-lines event trace drawn as
//! a standalone SVG, with members and clients as lifelines, messages as arrows, true time on the
//! vertical axis, lease deadlines and the violation marked.
//!
//! Owns the path from trace text to SVG text: `parse` reads the trace, `layout` picks the window
//! and the geometry, `svg` writes the picture. It reads no files (the CLI does) and never runs a
//! simulation: it draws what a trace says.

pub mod layout;
pub mod parse;
pub mod svg;

use std::fmt;

pub use layout::{Request, Window};
pub use parse::{ParseError, Trace};

/// A finished picture.
#[derive(Clone, Debug)]
pub struct Picture {
    pub svg: String,
    pub title: String,
    pub window: Window,
    /// Messages drawn (delivered and dropped).
    pub messages: usize,
    /// Lifelines drawn.
    pub lifelines: usize,
}

/// Why a trace cannot be drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShowError {
    Parse(ParseError),
    Window(String),
}

impl fmt::Display for ShowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShowError::Parse(e) => write!(f, "{e}"),
            ShowError::Window(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ShowError {}

/// Draws the trace `text` in the window `request` asks for.
pub fn render(text: &str, request: &Request) -> Result<Picture, ShowError> {
    let trace = parse::parse(text).map_err(ShowError::Parse)?;
    let window = layout::choose(&trace, request).map_err(ShowError::Window)?;
    let svg = svg::render(&trace, &window);
    Ok(Picture {
        title: svg::title(&trace, &window),
        messages: trace.messages.iter().filter(|m| window.shows(m)).count(),
        lifelines: trace.nodes.len(),
        window,
        svg,
    })
}
