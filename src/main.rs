//! The `gsec` binary: everything lives in the library; see `gsec::cli`.
fn main() -> std::process::ExitCode {
    gsec::cli::main()
}
