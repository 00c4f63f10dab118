//! The `nudge` binary: parse arguments and hand over to the library.

fn main() -> std::process::ExitCode {
    nudge::cli::main()
}
