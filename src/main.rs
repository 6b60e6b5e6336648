//! The `perseus` command: parse the arguments, run the command, turn the outcome into an exit code
//! (0 success, 1 a run failed or an expectation did not hold, 2 bad input).

mod cli;

fn main() {
    std::process::exit(cli::main());
}
