//! JUnit XML from run records, for CI: a test suite per scenario.

use super::record::{Outcome, RunRecord};

/// One scenario's result for JUnit: its record, or the error that stopped it before a record.
#[derive(Debug)]
pub enum Ran {
    /// The run produced a record (passed, failed, error or interrupted).
    Record(Box<RunRecord>),
    /// It could not start (lab up failed, ...).
    NotRun {
        /// The scenario's name.
        name: String,
        /// Why.
        error: String,
    },
}

/// A JUnit XML document: one test suite per scenario, with a `run` test case (an error when the
/// run did not complete) and one test case per expectation (a failure when it did not hold).
pub fn junit(results: &[Ran]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("perseus");
    for r in results {
        match r {
            Ran::NotRun { name, error } => {
                let mut suite = TestSuite::new(name.as_str());
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(error.as_str());
                suite.add_test_case(TestCase::new("run", status));
                report.add_test_suite(suite);
            }
            Ran::Record(rec) => {
                let mut suite = TestSuite::new(rec.scenario.name.as_str());
                let run_status = match rec.outcome {
                    Outcome::Passed | Outcome::Failed => TestCaseStatus::success(),
                    Outcome::Error | Outcome::Interrupted => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                        s.set_message(format!(
                            "{}: {}",
                            rec.outcome.word(),
                            rec.error.clone().unwrap_or_default()
                        ));
                        s
                    }
                };
                let mut run = TestCase::new("run", run_status);
                if let Some(l) = &rec.load {
                    run.set_time(std::time::Duration::from_secs_f64(l.duration_s));
                }
                run.set_system_out(format!("run folder: {}", rec.run));
                suite.add_test_case(run);
                for v in &rec.verdicts {
                    let status = if v.passed {
                        TestCaseStatus::success()
                    } else {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(format!("measured {}", v.measured));
                        s
                    };
                    let mut case = TestCase::new(v.expectation.as_str(), status);
                    case.set_system_out(v.measured.as_str());
                    suite.add_test_case(case);
                }
                report.add_test_suite(suite);
            }
        }
    }
    // quick-junit fails only on a writer error, and this one writes to memory.
    report
        .to_string()
        .expect("a JUnit report serialises to a string")
}

#[cfg(test)]
mod tests {
    use super::super::record::fixture::record;
    use super::*;

    #[test]
    fn junit_has_a_case_per_expectation_and_marks_failures_and_errors() {
        let xml = junit(&[
            Ran::Record(Box::new(record(Outcome::Failed))),
            Ran::NotRun {
                name: "other".into(),
                error: "image x is not available".into(),
            },
        ]);
        assert!(xml.contains("<testsuite name=\"t\" tests=\"3\""), "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(
            xml.contains(
                "<testcase name=\"cluster unavailability window after crash is at most 1s\""
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"measured cluster: 1.32 s"),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"other\" tests=\"1\" disabled=\"0\" errors=\"1\""),
            "{xml}"
        );
    }
}
