using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace Ingestion.Bench;

/// <summary>
/// The bench's transactions CSV (<see cref="CsvGenerator"/>) rewritten as Parquet, typed as a data engineer would write
/// it: UUID, INT64, TIMESTAMP(MICROS, UTC), DECIMAL(14,2) and strings, Snappy-compressed, in row groups of a given
/// number of rows (the worker's memory follows the row group's size, not the file's). Streamed: the CSV is read a row group's worth at a time and each group written before the
/// next is read, so the generator holds one row group, whatever the file's size. Read from the CSV rather than generated
/// again, so both files hold the same values and the load can be checked against psql's copy of the CSV.
/// </summary>
internal static class ParquetGenerator
{
    private static readonly ParquetSchema Schema = new(
        new DataField<Guid>("transaction_id"),
        new DataField<long>("account_id"),
        new DateTimeDataField("occurred_at", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Micros, isNullable: false),
        new DecimalDataField("amount", 14, 2, isNullable: false),
        new DataField<string>("currency", nullable: false),
        new DataField<string>("merchant", nullable: true),
        new DataField<string>("category", nullable: true),
        new DataField<string>("description", nullable: true));

    public static async Task<string> FromCsvAsync(string csvPath, int rowGroupRows)
    {
        var path = Path.ChangeExtension(csvPath, $".rg{rowGroupRows}.parquet");
        if (File.Exists(path))
        {
            return path;
        }

        Bench.Log($"writing {Path.GetFileName(path)} (row groups of {rowGroupRows:N0}, Snappy; not timed)");
        var partial = path + ".partial";
        var fields = Schema.GetDataFields();
        var ids = new Guid[rowGroupRows];
        var accounts = new long[rowGroupRows];
        var times = new DateTime[rowGroupRows];
        var amounts = new decimal[rowGroupRows];
        var texts = Enumerable.Range(0, 4).Select(_ => new string[rowGroupRows]).ToArray();
        await using (var file = File.Create(partial))
        await using (var writer = await ParquetWriter.CreateAsync(Schema, file,
                         new ParquetOptions { CompressionMethod = CompressionMethod.Snappy }))
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

                using var group = writer.CreateRowGroup();
                await group.WriteAsync<Guid>(fields[0], ids.AsMemory(0, rows));
                await group.WriteAsync<long>(fields[1], accounts.AsMemory(0, rows));
                await group.WriteAsync<DateTime>(fields[2], times.AsMemory(0, rows));
                await group.WriteAsync<decimal>(fields[3], amounts.AsMemory(0, rows));
                for (var t = 0; t < texts.Length; t++)
                {
                    await group.WriteAsync(fields[4 + t], new ArraySegment<string>(texts[t], 0, rows));
                }
            }
        }

        File.Move(partial, path);
        return path;
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
