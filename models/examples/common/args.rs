//! The profiling examples' positional arguments: whole numbers with defaults.
//!
//! Owns how an example reads `[N] [ROUNDS]`-style arguments and what it says when one is malformed.

/// The command line's positional arguments, read in order.
pub struct CountArgs {
    example: &'static str,
    usage: &'static str,
    args: std::iter::Skip<std::env::Args>,
}

impl CountArgs {
    /// The arguments of `example`, whose usage line is `usage`.
    pub fn new(example: &'static str, usage: &'static str) -> CountArgs {
        CountArgs { example, usage, args: std::env::args().skip(1) }
    }

    /// The next argument, called `name`, or `default` when absent; a malformed one ends the run
    /// with a message and exit status 2.
    pub fn next<T: std::str::FromStr>(&mut self, name: &str, default: T) -> T {
        let Some(arg) = self.args.next() else { return default };
        arg.parse().unwrap_or_else(|_| {
            eprintln!("{}: {name} must be a whole number, got {arg:?} (usage: {})", self.example, self.usage);
            std::process::exit(2)
        })
    }
}
