using System.Globalization;
using ParquetSharp;

namespace Ingestion.Bench;

/// <summary>
/// The bench's transactions CSV (<see cref="CsvGenerator"/>) rewritten as Parquet, typed as a data engineer would write
/// it: UUID, INT64, TIMESTAMP(MICROS, UTC), DECIMAL(14,2) and strings, Snappy-compressed, in row groups of a given
/// number of rows. Written with Apache Arrow's writer (ParquetSharp), as pyarrow, Spark and DuckDB files are: pages of
/// 1 MiB, dictionary-encoded where it pays. (Parquet.Net's writer, which wrote it before, makes each column chunk one
/// page, so a reader could hold no less than a whole row group's column at once.) Streamed: the CSV is read a row group's
/// worth at a time and each group written before the next is read, so the generator holds one row group, whatever the
/// file's size. Read from the CSV rather than generated again, so both files hold the same values and the load can be
/// checked against psql's copy of the CSV.
/// </summary>
internal static class ParquetGenerator
{
    private static Column[] Columns() =>
    [
        new Column<Guid>("transaction_id"),
        new Column<long>("account_id"),
        new Column<DateTime>("occurred_at", LogicalType.Timestamp(isAdjustedToUtc: true, TimeUnit.Micros)),
        new Column<decimal>("amount", LogicalType.Decimal(precision: 14, scale: 2)),
        new Column<string>("currency"),
        new Column<string>("merchant"),
        new Column<string>("category"),
        new Column<string>("description"),
    ];

    public static async Task<string> FromCsvAsync(string csvPath, int rowGroupRows)
    {
        // Named for the writer too: a file an earlier bench wrote with Parquet.Net's one-page chunks is not reused.
        var path = Path.ChangeExtension(csvPath, $".rg{rowGroupRows}.arrow.parquet");
        if (File.Exists(path))
        {
            return path;
        }

        Bench.Log($"writing {Path.GetFileName(path)} (row groups of {rowGroupRows:N0}, Snappy, Arrow's writer; not timed)");
        var partial = path + ".partial";
        var ids = new Guid[rowGroupRows];
        var accounts = new long[rowGroupRows];
        var times = new DateTime[rowGroupRows];
        var amounts = new decimal[rowGroupRows];
        var texts = Enumerable.Range(0, 4).Select(_ => new string[rowGroupRows]).ToArray();
        using (var properties = new WriterPropertiesBuilder().Compression(Compression.Snappy).Build())
        using (var writer = new ParquetFileWriter(partial, Columns(), properties))
        using (var csv = new StreamReader(csvPath))
        {
            await csv.ReadLineAsync(); // the header
            while (true)
            {
                var rows = 0;
                while (rows < rowGroupRows && await csv.ReadLineAsync() is { } line)
                {
                    Parse(line, rows, ids, accounts, times, amounts, texts);
                    rows++;
                }

                if (rows == 0)
                {
                    break;
                }

                using var group = writer.AppendRowGroup();
                Write(group, ids.AsSpan(0, rows));
                Write(group, accounts.AsSpan(0, rows));
                Write(group, times.AsSpan(0, rows));
                Write(group, amounts.AsSpan(0, rows));
                foreach (var text in texts)
                {
                    Write(group, text.AsSpan(0, rows));
                }
            }

            writer.Close();
        }

        File.Move(partial, path);
        return path;
    }

    private static void Write<T>(RowGroupWriter group, ReadOnlySpan<T> values)
    {
        using var column = group.NextColumn().LogicalWriter<T>();
        column.WriteBatch(values);
    }

    /// <summary>One line of the generated CSV: its only quoted field is the last (the description, which has a comma).</summary>
    private static void Parse(string line, int row, Guid[] ids, long[] accounts, DateTime[] times, decimal[] amounts, string[][] texts)
    {
        var quote = line.IndexOf('"', StringComparison.Ordinal);
        var fields = line[..(quote - 1)].Split(',');
        var inv = CultureInfo.InvariantCulture;
        ids[row] = Guid.Parse(fields[0]);
        accounts[row] = long.Parse(fields[1], inv);
        times[row] = DateTime.Parse(fields[2], inv, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
        amounts[row] = decimal.Parse(fields[3], inv);
        texts[0][row] = fields[4];
        texts[1][row] = fields[5];
        texts[2][row] = fields[6];
        texts[3][row] = line[(quote + 1)..^1];
    }
}
