//! A lessor-model path as a `leasesim replay` trace file: the model's configuration as the
//! `config` line, then one command per action. Bugs are not part of the file: they are switched
//! on at replay with `--bug NAME`, as the header comment says.
//!
//! Owns only the file's text; the CLI writes it.

use stateright::Path;

use crate::lessor::{LessorAction, LessorModel, LessorState};

/// The trace text that replays `path` of `model`; `title` goes in the header comment.
pub fn replay_trace(model: &LessorModel, path: &Path<LessorState, LessorAction>, title: &str) -> String {
    let bugs = model.config.lessor.bugs;
    let bug_args: String = bugs.iter().map(|b| format!(" --bug {b}")).collect();
    let mut text = format!(
        "# {title}\n# found by `leasesim check lessor`; reproduce with: leasesim replay{bug_args} FILE\n{}\n",
        model.config.to_line()
    );
    for action in path.clone().into_actions() {
        text.push_str(&model.command(action).to_string());
        text.push('\n');
    }
    text
}
