//! The report file of `kairos import leads --report`: one line per row, written as the
//! rows are decided, so a file of any size is reported without holding its outcomes.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use kairos_app::lead_import::RowOutcome;

const HEADER: &str = "row,outcome,lead_id,field,problem";

pub struct ReportFile {
    path: PathBuf,
    out: BufWriter<File>,
    /// The first write error; later rows are not written, and `finish` reports it.
    failed: Option<std::io::Error>,
}

impl ReportFile {
    pub fn create(path: &Path) -> std::io::Result<ReportFile> {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(out, "{HEADER}")?;
        Ok(ReportFile { path: path.to_path_buf(), out, failed: None })
    }

    pub fn row(&mut self, o: &RowOutcome) {
        if self.failed.is_none() {
            if let Err(e) = write_row(&mut self.out, o) {
                self.failed = Some(e);
            }
        }
    }

    /// Flushes the file. When the import committed nothing (all or nothing), the rows it
    /// listed as created or merged are rewritten as `not_imported`, without their ids.
    pub fn finish(mut self, committed: bool) -> std::io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.out.flush()?;
        drop(self.out);
        if committed {
            return Ok(());
        }
        let rewritten = self.path.with_extension("rewriting");
        {
            let mut out = BufWriter::new(File::create(&rewritten)?);
            for line in BufReader::new(File::open(&self.path)?).lines() {
                let line = line?;
                let mut cells = line.splitn(4, ',');
                match (cells.next(), cells.next(), cells.next(), cells.next()) {
                    (Some(row), Some("created" | "merged"), Some(_id), Some(rest)) => writeln!(out, "{row},not_imported,,{rest}")?,
                    _ => writeln!(out, "{line}")?,
                }
            }
            out.flush()?;
        }
        std::fs::rename(&rewritten, &self.path)
    }
}

fn write_row(out: &mut impl Write, o: &RowOutcome) -> std::io::Result<()> {
    let (row, outcome, id) = (o.row, o.outcome, o.lead_id.as_deref().unwrap_or(""));
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    if o.problems.is_empty() {
        writeln!(out, "{row},{outcome},{id},,")?;
    }
    for p in &o.problems {
        writeln!(out, "{row},{outcome},{id},{},{}", quote(&p.field), quote(&p.problem))?;
    }
    Ok(())
}
