//! Benchmark baseline (`make bench`): a bare polars CSV → Parquet conversion
//! (schema inferred from the whole file, so dirty columns such as Portuguese
//! postal codes among French ones read as text instead of failing; zstd), no
//! cleaning, for the CSV silver sources.
//!
//! `cargo run --release --example bare_csv_to_parquet -- SEPARATOR OUT_DIR FILE…`
//! prints `{"files":…,"rows":…,"bytes_in":…,"seconds":…}`.

use std::time::Instant;

use polars::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [sep, out, files @ ..] = args.as_slice() else {
        return Err("usage: bare_csv_to_parquet SEPARATOR OUT_DIR FILE…".into());
    };
    let sep = *sep.as_bytes().first().ok_or("empty separator")?;
    std::fs::create_dir_all(out)?;
    let start = Instant::now();
    let (mut rows, mut bytes) = (0usize, 0u64);
    for (i, f) in files.iter().enumerate() {
        bytes += std::fs::metadata(f)?.len();
        let mut df = CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(None)
            .with_parse_options(CsvParseOptions::default().with_separator(sep))
            .try_into_reader_with_file_path(Some(f.into()))?
            .finish()?;
        rows += df.height();
        let file = std::fs::File::create(format!("{out}/part-{i}.parquet"))?;
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(&mut df)?;
    }
    println!(
        "{{\"files\":{},\"rows\":{rows},\"bytes_in\":{bytes},\"seconds\":{:.3}}}",
        files.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
