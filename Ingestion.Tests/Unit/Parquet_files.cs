using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Workers.Parquet;
using System.Reflection;
using Parquet;
using Parquet.Meta;
using Parquet.Schema;
using ParquetSharp;
using ParquetReader = Parquet.ParquetReader;
using FileMetaData = Parquet.Meta.FileMetaData;

namespace Ingestion.Tests.Unit;

/// <summary>
/// Parquet files read into a dataset's typed columns (<see cref="ParquetRecords"/>): columns matched by name, types
/// converted or refused naming both, rows named by row group and row, and a position in the file that a checkpoint's row
/// count maps back to. The files are written here with Parquet.Net's writer.
/// </summary>
public sealed class Parquet_files
{
    private static readonly DatasetDefinition Orders = new("orders",
    [
        new DatasetColumn("order_id", ColumnType.Uuid, Required: true),
        new DatasetColumn("quantity", ColumnType.Integer, Required: true),
        new DatasetColumn("total", ColumnType.Numeric(12, 2), Required: false),
        new DatasetColumn("booked_on", ColumnType.Date, Required: false, Source: "Booking Date"),
        new DatasetColumn("at", ColumnType.TimestampTz, Required: false),
        new DatasetColumn("note", new ColumnType(ColumnKind.Varchar, Length: 5), Required: false),
    ], ["order_id"]);

    private static readonly Guid First = Guid.Parse("00000000-0000-4000-8000-000000000001");

    [Test]
    public async Task Should_read_typed_values_and_nulls_across_row_groups_by_name_in_any_case()
    {
        await using var file = await WriteAsync(groups: 2, rowsPerGroup: 3, new DataField<Guid>("ORDER_ID"), new DataField<int>("quantity"),
            new DecimalDataField("Total", 12, 2, isNullable: true), new DataField<DateOnly?>("booking date"),
            new DateTimeDataField("at", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Millis, isNullable: true));
        var (records, problem) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);
        Assert.That(problem, Is.Null);
        await using var _ = records;

        var rows = new List<(long, string, Guid, long, decimal?, DateOnly?, DateTime?)>();
        while (records!.Read())
        {
            Assert.That(records.Check(), Is.Null);
            var v = records.Values;
            rows.Add((records.RowNumber, records.Where, v.Guids[0], v.Integers[1], v.Nulls[2] ? null : v.Decimals[2],
                v.Nulls[3] ? null : v.Dates[3], v.Nulls[4] ? null : v.Timestamps[4]));
        }

        Assert.That(records.Map.Columns.Select(c => c.Column.Name), Is.EqualTo(new[] { "order_id", "quantity", "total", "booked_on", "at" }));
        Assert.That(rows, Has.Count.EqualTo(6));
        Assert.That(rows[0], Is.EqualTo((1L, "row group 1, row 1", First, 1L, (decimal?)1.25m, (DateOnly?)new DateOnly(2026, 1, 1),
            (DateTime?)new DateTime(2026, 1, 1, 0, 0, 1, DateTimeKind.Utc))));
        Assert.That(rows[4], Is.EqualTo((5L, "row group 2, row 2", Id(5), 5L, (decimal?)null, (DateOnly?)null, (DateTime?)null)));
    }

    [Test]
    public async Task Should_collect_the_managed_heap_whole_and_compacted_when_a_file_closes()
    {
        // What a chunk leaves on the managed heap goes when its file closes, rather than wait in the oldest generation for
        // a background collection (which is not a full blocking one). The collections are spaced process-wide: wait out
        // any an earlier test's file started.
        await using var file = await WriteAsync(groups: 2, rowsPerGroup: 3, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var (records, problem) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);
        Assert.That(problem, Is.Null);
        var rows = 0;
        while (records!.Read())
        {
            rows++;
        }

        // The row groups' first batches collected too: the close's own collection is told apart by waiting them out.
        await CollectionsSpacedOutAsync();
        var before = GC.GetGCMemoryInfo(GCKind.FullBlocking).Index;
        await records.DisposeAsync();
        var collection = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        Assert.That(rows, Is.EqualTo(6));
        Assert.That(collection.Index, Is.GreaterThan(before), "a full blocking collection ran when the file closed");
        Assert.That(collection.Generation, Is.EqualTo(GC.MaxGeneration));
        Assert.That(collection.Compacted, Is.True);
    }

    [Test]
    public async Task Should_collect_a_closing_files_heap_later_when_another_collection_just_ran()
    {
        // Read at once after a wait: the first row group's first batch collects; the file's close, a moment later, comes
        // too soon for its own collection, which runs once the spacing allows.
        await using var file = await WriteAsync(groups: 2, rowsPerGroup: 3, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var (records, problem) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);
        Assert.That(problem, Is.Null);
        await CollectionsSpacedOutAsync();
        while (records!.Read())
        {
        }

        await records.DisposeAsync();
        var closed = GC.GetGCMemoryInfo(GCKind.FullBlocking).Index;
        await Task.Delay(TimeSpan.FromMilliseconds(NativeParquetFile.CollectEveryMilliseconds + 500));

        Assert.That(GC.GetGCMemoryInfo(GCKind.FullBlocking).Index, Is.GreaterThan(closed), "the close's collection ran later");
    }

    [Test]
    public async Task Should_collect_the_managed_heap_after_a_row_groups_first_batch()
    {
        // A row group's first batch reads every mapped column's first pages at once, and the garbage of those reads goes
        // then, while the group is read, rather than at the chunk's end.
        await using var file = await WriteAsync(groups: 2, rowsPerGroup: 3, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var (records, problem) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);
        Assert.That(problem, Is.Null);
        await using var _ = records;
        await CollectionsSpacedOutAsync();
        var before = GC.GetGCMemoryInfo(GCKind.FullBlocking).Index;

        Assert.That(records!.Read(), Is.True);

        var collection = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        Assert.That(collection.Index, Is.GreaterThan(before), "a full blocking collection ran after the first batch");
        Assert.That(collection.Compacted, Is.True);
    }

    /// <summary>
    /// Waits out the spacing of the collections an earlier test's file started, and a closing collection it owed, which
    /// runs one spacing after that file closed.
    /// </summary>
    private static Task CollectionsSpacedOutAsync() => Task.Delay(TimeSpan.FromMilliseconds(2 * NativeParquetFile.CollectEveryMilliseconds + 200));

    [Test]
    public async Task Should_resume_at_the_position_a_row_count_names()
    {
        await using var file = await WriteAsync(groups: 3, rowsPerGroup: 4, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var (records, _) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);
        await using var _1 = records;

        Assert.That(records!.PositionAfter(0), Is.EqualTo(new ParquetPosition(0, 0)));
        Assert.That(records.PositionAfter(4), Is.EqualTo(new ParquetPosition(1, 0)));
        Assert.That(records.PositionAfter(6), Is.EqualTo(new ParquetPosition(1, 2)));
        Assert.That(records.PositionAfter(12), Is.EqualTo(new ParquetPosition(3, 0)));

        records.Seek(records.PositionAfter(6));
        var seen = new List<long>();
        while (records.Read())
        {
            records.Check();
            seen.Add(records.Values.Integers[1]);
            Assert.That(records.RowsBefore(records.Next), Is.EqualTo(records.RowNumber));
        }

        Assert.That(seen, Is.EqualTo(new long[] { 7, 8, 9, 10, 11, 12 }));
    }

    [Test]
    public async Task Should_cut_chunks_at_row_group_starts_by_the_mapped_columns_decompressed_bytes()
    {
        await using var file = await WriteAsync(groups: 5, rowsPerGroup: 4, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var (records, _) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);
        await using var _1 = records;
        var group = records!.Work / 5; // the five groups are alike: 4 uuids and 4 integers each

        Assert.That(records.CutAfter(0, new ChunkSizing(1, 1)), Is.EqualTo(4), "at least one whole row group per chunk");

        // Two groups' work a chunk: three chunks, cut at the row-group starts nearest a third and two thirds of the work.
        var thirds = new ChunkSizing(group * 2, 1);
        Assert.That(records.CutAfter(0, thirds), Is.EqualTo(8));
        Assert.That(records.CutAfter(8, thirds), Is.EqualTo(12), "groups 2, 1, 2: not 2, 2 and a last chunk of 1");
        Assert.That(records.CutAfter(12, thirds), Is.Null, "the chunk that reaches the last row group runs to the end");
        Assert.That(records.CutAfter(0, new ChunkSizing(group * 2 + 1, 1)), Is.EqualTo(8), "a chunk ends only where a row group starts");
        Assert.That(records.CutAfter(5, thirds), Is.EqualTo(8), "a scan resumed anywhere cuts where the first one did");

        // Two in flight: the three chunks become four, so that the last two load side by side.
        var pairs = new ChunkSizing(group * 2, 2);
        var cuts = new List<long>();
        for (long? at = 0; at is { } from && records.CutAfter(from, pairs) is { } cut; at = cut)
        {
            cuts.Add(cut);
        }

        Assert.That(cuts, Is.EqualTo(new long[] { 4, 8, 16 }), "groups 1, 1, 2, 1: the starts nearest each quarter of the work");
        Assert.That(records.CutAfter(0, new ChunkSizing(records.Work, 2)), Is.Null, "a file within one chunk's work is one chunk");
    }

    [Test]
    public async Task Should_not_cut_a_last_chunk_of_only_empty_row_groups()
    {
        await using var file = await WriteAsync(groups: 2, rowsPerGroup: 4, emptyGroups: 2, new DataField<Guid>("order_id"),
            new DataField<int>("quantity"));
        var (records, _) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);
        await using var _1 = records;

        Assert.That(records!.RowGroupCount, Is.EqualTo(4));
        Assert.That(records.CutAfter(0, new ChunkSizing(1, 1)), Is.EqualTo(4), "the second group starts a chunk");
        Assert.That(records.CutAfter(4, new ChunkSizing(1, 1)), Is.Null, "after the second group only empty ones: no chunk of no rows");
    }

    [Test]
    public async Task Should_cut_around_empty_row_groups_between_others_and_read_each_chunk_s_rows_once()
    {
        // Groups of 4, 0, 4, 0 and 4 rows: rows 1-4, 5-8 and 9-12.
        await using var file = await WriteAsync(groups: 5, rowsPerGroup: 4, empty: g => g % 2 == 1, new DataField<Guid>("order_id"),
            new DataField<int>("quantity"));
        var (records, _) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);
        await using var _1 = records;

        Assert.That(records!.RowGroupCount, Is.EqualTo(5));
        var everyGroup = new ChunkSizing(1, 1);
        Assert.That(records.CutAfter(0, everyGroup), Is.EqualTo(4));
        Assert.That(records.CutAfter(4, everyGroup), Is.EqualTo(8), "the empty group is no chunk of its own");
        Assert.That(records.CutAfter(8, everyGroup), Is.Null, "the chunk that reaches the last row group runs to the end");

        // Each chunk starts after the rows before it, across the empty group, at its first row.
        var seen = new List<(long Row, long Id)>();
        foreach (var start in new long[] { 0, 4, 8 })
        {
            records.Seek(records.PositionAfter(start));
            for (var i = 0; i < 4 && records.Read(); i++)
            {
                Assert.That(records.Check(), Is.Null);
                seen.Add((records.RowNumber, records.Values.Integers[1]));
            }
        }

        Assert.That(seen.Select(r => r.Row), Is.EqualTo(Enumerable.Range(1, 12).Select(n => (long)n)), "every row once, in order");
        Assert.That(seen.Select(r => r.Id), Is.EqualTo(seen.Select(r => r.Row)), "row n holds the n-th row written");
    }

    [Test]
    public async Task Should_reject_a_null_in_a_required_column_and_a_value_that_does_not_fit_naming_the_row()
    {
        await using var file = await WriteAsync(groups: 2, rowsPerGroup: 3, new DataField<Guid>("order_id"), new DataField<long?>("quantity"),
            new DecimalDataField("total", 12, 3, isNullable: true), new DataField<string>("note"));
        var (records, _) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);
        await using var _1 = records;

        var problems = new List<(long, RowProblem?)>();
        while (records!.Read())
        {
            problems.Add((records.RowNumber, records.Check()));
        }

        Assert.That(problems, Is.EqualTo(new (long, RowProblem?)[]
        {
            (1, null),
            (2, new RowProblem("total", "has more than 2 decimal places: 2.125 (row group 1, row 2)")),
            (3, new RowProblem("note", "is 6 characters long; varchar(5) holds at most 5 (row group 1, row 3)")),
            (4, null),
            (5, new RowProblem("quantity", "is required but null (row group 2, row 2)")),
            (6, new RowProblem("quantity", "is out of range for integer: 3000000000 (row group 2, row 3)")),
        }));
    }

    [Test]
    public async Task Should_reject_a_decimal_with_more_places_or_more_whole_digits_than_its_numeric_column_takes()
    {
        // numeric(3,2) holds less than 10 in magnitude; the file's DECIMAL(12,3) values are n + 0.25 (row 2: 2.125), every fifth null.
        var dataset = new DatasetDefinition("small", [
            new DatasetColumn("order_id", ColumnType.Uuid, Required: true),
            new DatasetColumn("total", ColumnType.Numeric(3, 2), Required: false),
        ], []);
        await using var file = await WriteAsync(groups: 2, rowsPerGroup: 6, new DataField<Guid>("order_id"), new DecimalDataField("total", 12, 3, isNullable: true));
        var (records, _) = await ParquetRecords.OpenAsync(file, dataset, CsvDialect.Default, CancellationToken.None);
        await using var _1 = records;

        var problems = new List<(long, RowProblem?)>();
        while (records!.Read())
        {
            problems.Add((records.RowNumber, records.Check()));
        }

        Assert.That(problems.Where(p => p.Item2 is not null), Is.EqualTo(new (long, RowProblem?)[]
        {
            (2, new RowProblem("total", "has more than 2 decimal places: 2.125 (row group 1, row 2)")),
            (11, new RowProblem("total", "is too large for numeric(3,2): 11.250 (row group 2, row 5)")),
            (12, new RowProblem("total", "is too large for numeric(3,2): 12.250 (row group 2, row 6)")),
        }));
        Assert.That(problems, Has.Count.EqualTo(12), "the other nine rows, 9.250 and the nulls among them, fit");
    }

    [Test]
    public async Task Should_reject_a_physical_value_its_parquet_type_does_not_hold_naming_the_row_and_load_the_others()
    {
        // Raw physical values, as a writer other than Arrow's may leave them: an INT_8 of 200 (was wrapped to -56), a DATE
        // in year 10000, a DECIMAL(38,18) past the 28 digits it is read with and a TIMESTAMP in year 11476 (each failed the
        // whole file as corrupt). PostgreSQL would hold the date, the decimal and the timestamp; the loader reads them into
        // .NET types, which do not, so such rows are rejected, named.
        var dataset = new DatasetDefinition("odd", [
            new DatasetColumn("small", ColumnType.Integer, Required: true),
            new DatasetColumn("day", ColumnType.Date, Required: true),
            new DatasetColumn("amount", ColumnType.Numeric(38, 18), Required: true),
            new DatasetColumn("at", ColumnType.TimestampTz, Required: true),
        ], []);
        var big = new byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteInt128BigEndian(big, Int128.Parse("10000000000000000000000000000000000000")); // 10^37 unscaled: 10^19
        var one = new byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteInt128BigEndian(one, 1_500_000_000_000_000_000); // 1.5
        var path = Path.Combine(Path.GetTempPath(), $"parquet-files-{Guid.NewGuid():N}.parquet");
        MemoryStream file;
        try
        {
            var native = System.Runtime.InteropServices.Marshal.AllocHGlobal(32);
            try
            {
                System.Runtime.InteropServices.Marshal.Copy(one, 0, native, 16);
                System.Runtime.InteropServices.Marshal.Copy(big, 0, native + 16, 16);
                using var writer = new ParquetFileWriter(path,
                    [new Column<sbyte>("small"), new Column<Date>("day"), new Column<decimal>("amount", ParquetSharp.LogicalType.Decimal(38, 18)),
                        new Column<DateTime>("at", ParquetSharp.LogicalType.Timestamp(true, ParquetSharp.TimeUnit.Micros))]);
                using var group = writer.AppendRowGroup();
                using (var small = (ColumnWriter<int>)group.NextColumn())
                {
                    small.WriteBatch([1, 200, 3, 4, 5]);
                }

                using (var day = (ColumnWriter<int>)group.NextColumn())
                {
                    day.WriteBatch([0, 1, 3_000_000, 3, 4]);
                }

                using (var amount = (ColumnWriter<FixedLenByteArray>)group.NextColumn())
                {
                    amount.WriteBatch([new FixedLenByteArray(native), new FixedLenByteArray(native), new FixedLenByteArray(native),
                        new FixedLenByteArray(native + 16), new FixedLenByteArray(native)]);
                }

                using (var at = (ColumnWriter<long>)group.NextColumn())
                {
                    at.WriteBatch([0, 1, 2, 3, 300_000_000_000_000_000]); // microseconds: year 11476
                }

                writer.Close();
            }
            finally
            {
                System.Runtime.InteropServices.Marshal.FreeHGlobal(native);
            }

            file = new MemoryStream(await File.ReadAllBytesAsync(path));
        }
        finally
        {
            File.Delete(path);
        }

        var (records, problem) = await ParquetRecords.OpenAsync(file, dataset, CsvDialect.Default, CancellationToken.None);
        Assert.That(problem, Is.Null);
        await using var _ = records;
        var rows = new List<(long, RowProblem?)>();
        while (records!.Read())
        {
            rows.Add((records.RowNumber, records.Check()));
        }

        Assert.That(rows, Is.EqualTo(new (long, RowProblem?)[]
        {
            (1, null),
            (2, new RowProblem("small", "is 200, which its Parquet type INT8 does not hold (-128 to 127) (row group 1, row 2)")),
            (3, new RowProblem("day", "is outside years 1 to 9999: 3,000,000 days from 1970-01-01 (row group 1, row 3)")),
            (4, new RowProblem("amount", "has more digits than the 28 a Parquet decimal is loaded with (the unscaled value 10000000000000000000000000000000000000 with scale 18 does not fit a decimal) (row group 1, row 4)")),
            (5, new RowProblem("at", "is outside years 1 to 9999: 3,000,000,000,000,000,000 ticks (100 ns) from 1970 (row group 1, row 5)")),
        }));
    }

    [Test]
    public async Task Should_refuse_a_column_whose_type_does_not_convert_naming_both_types()
    {
        await using var file = await WriteAsync(1, 2, new DataField<Guid>("order_id"), new DataField<int>("quantity"),
            new DataField<double>("total"));
        var (_, problem) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None);

        Assert.That(problem, Is.EqualTo(new FileProblem("type_mismatch",
            "Column 'total' is numeric(12,2) in dataset 'orders', but the Parquet column 'total' is DOUBLE, which does not convert to it exactly (binary floating point is not decimal); write it as DECIMAL, or as a string.")));
    }

    [Test]
    public async Task Should_refuse_a_file_without_a_required_column_or_with_an_unknown_one()
    {
        await using var missing = await WriteAsync(1, 2, new DataField<Guid>("order_id"));
        Assert.That((await ParquetRecords.OpenAsync(missing, Orders, CsvDialect.Default, CancellationToken.None)).Problem,
            Is.EqualTo(new FileProblem("missing_columns",
                "The Parquet file lacks required column quantity of dataset 'orders'; its columns are order_id.")));

        await using var unknown = await WriteAsync(1, 2, new DataField<Guid>("order_id"), new DataField<int>("quantity"), new DataField<int>("iban"));
        Assert.That((await ParquetRecords.OpenAsync(unknown, Orders, CsvDialect.Default, CancellationToken.None)).Problem!.Code,
            Is.EqualTo("unknown_columns"));
        unknown.Position = 0;
        Assert.That((await ParquetRecords.OpenAsync(unknown, Orders with { IgnoreUnknownColumns = true }, CsvDialect.Default,
            CancellationToken.None)).Problem, Is.Null);
    }

    [Test]
    public async Task Should_read_a_row_group_of_millions_of_rows_a_batch_at_a_time()
    {
        // Twelve million rows of one repeated string in one row group: a few KiB in the file (dictionary and run-length
        // encoded), 458 MiB by the old whole-row-group estimate, which refused it. Read a batch at a time, what the rows
        // allocate on the managed heap and what the native reader holds at once stay a few MiB.
        const int rows = 12_000_000;
        var notes = new DatasetDefinition("notes", [new DatasetColumn("note", ColumnType.Text, Required: false)], []);
        var (records, problem) = await ParquetRecords.OpenAsync(await OneRepeatedStringAsync("note", "same", rows), notes,
            CsvDialect.Default, CancellationToken.None);
        Assert.That(problem, Is.Null);
        await using var _ = records;

        var pool = MemoryPool.SystemMemoryPool(); // the pool NativeParquetFile gives Arrow's reader
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long read = 0, nativePeak = 0;
        while (records!.Read())
        {
            if (records.Check() is { } reject)
            {
                Assert.Fail($"row {records.RowNumber} rejected: {reject}");
            }

            if (++read % ParquetCell.BatchRows == 0)
            {
                nativePeak = Math.Max(nativePeak, pool.BytesAllocated);
            }
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        Assert.That(read, Is.EqualTo(rows));
        Assert.That(records.Where, Is.EqualTo("row group 1, row 12,000,000"));
        Assert.That(allocated, Is.LessThan(4L << 20), "managed bytes allocated while reading the rows");
        Assert.That(nativePeak, Is.GreaterThan(0), "the pool measured is the one the reader allocates from");
        Assert.That(nativePeak, Is.LessThan(8L << 20), "bytes the native reader held at once");
    }

    [Test]
    public async Task Should_read_wide_strings_in_fewer_rows_a_batch_so_their_bytes_stay_bounded()
    {
        // A 100 KB value repeated 5,000 times is a few hundred KB of file (one dictionary entry), but 4,096 rows of it in a
        // batch were a 400 MB buffer: the batch is cut to the rows whose bytes fit, and every row still loads.
        const int rows = 5_000;
        var wide = new string('w', 100_000);
        var notes = new DatasetDefinition("notes", [new DatasetColumn("note", ColumnType.Text, Required: false)], []);
        var (records, problem) = await ParquetRecords.OpenAsync(await OneRepeatedStringAsync("note", wide, rows), notes,
            CsvDialect.Default, CancellationToken.None);
        Assert.That(problem, Is.Null);
        await using var _ = records;

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        long read = 0;
        while (records!.Read())
        {
            Assert.That(records.Check(), Is.Null, $"row {records.RowNumber}");
            read++;
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        Assert.That(read, Is.EqualTo(rows));
        Assert.That(allocated, Is.LessThan(4L * StringCell.MaxBatchBytes), "managed bytes allocated while reading the rows");
    }

    [Test]
    public async Task Should_refuse_from_the_footer_a_column_chunk_larger_decompressed_than_the_limit()
    {
        await using var file = await WriteAsync(1, 1_000, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var (_, problem) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None, maxColumnChunkBytes: 10_000);

        Assert.That(problem!.Code, Is.EqualTo("column_chunk_too_large"));
        Assert.That(problem.Message, Does.StartWith("Row group 1's column 'order_id' is ").And.Contain("more than the 10,000 a worker reads of one column chunk"));
        file.Position = 0;
        var (records, none) = await ParquetRecords.OpenAsync(file, Orders, CsvDialect.Default, CancellationToken.None, maxColumnChunkBytes: 100_000);
        await using var _ = records;
        Assert.That(none, Is.Null);
    }

    [Test]
    public async Task Should_say_a_column_with_fewer_values_than_its_row_group_has_rows_is_not_a_readable_parquet_file()
    {
        // Read, the chunk would fill 99 of the 100 rows and leave the last as the previous row group had it.
        await using var file = await WriteAsync(2, 100, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var crafted = await WithFooterAsync(file.ToArray(), meta => meta.RowGroups[1].Columns[1].MetaData!.NumValues = 99);

        var (records, problem) = await ParquetRecords.OpenAsync(new MemoryStream(crafted), Orders, CsvDialect.Default,
            CancellationToken.None);

        Assert.That(records, Is.Null);
        Assert.That(problem, Is.EqualTo(new FileProblem("corrupt_file",
            "The file is not a readable Parquet file: its footer gives row group 2 100 rows but its column 'quantity' 99 values.")));
    }

    [TestCase(1, 0)]
    [TestCase(0, 1)]
    public async Task Should_refuse_a_footer_whose_sizes_or_row_counts_add_up_past_any_file(int hugeGroupBytes, int hugeRows)
    {
        // Each figure on its own is a long; their sums would overflow the chunk planner's arithmetic, or a checked sum.
        await using var file = await WriteAsync(3, 10, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var crafted = await WithFooterAsync(file.ToArray(), meta =>
        {
            foreach (var group in meta.RowGroups)
            {
                if (hugeGroupBytes == 1)
                {
                    group.Columns[0].MetaData!.TotalUncompressedSize = long.MaxValue / 2;
                    group.Columns[1].MetaData!.TotalUncompressedSize = long.MaxValue / 2;
                }

                if (hugeRows == 1)
                {
                    group.NumRows = long.MaxValue / 2;
                    group.Columns[0].MetaData!.NumValues = long.MaxValue / 2;
                    group.Columns[1].MetaData!.NumValues = long.MaxValue / 2;
                }
            }
        });

        var (records, problem) = await ParquetRecords.OpenAsync(new MemoryStream(crafted), Orders, CsvDialect.Default,
            CancellationToken.None);

        Assert.That(records, Is.Null);
        Assert.That(problem, Is.EqualTo(new FileProblem("corrupt_file",
            "The file is not a readable Parquet file: its footer's row counts or column sizes add up to more than any file holds.")));
    }

    [Test]
    public async Task Should_say_a_file_truncated_in_the_middle_is_not_a_readable_parquet_file()
    {
        await using var whole = await WriteAsync(2, 100, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var truncated = new MemoryStream(whole.ToArray()[..(int)(whole.Length / 2)]);

        var (records, problem) = await ParquetRecords.OpenAsync(truncated, Orders, CsvDialect.Default, CancellationToken.None);

        Assert.That(records, Is.Null);
        Assert.That(problem!.Code, Is.EqualTo("corrupt_file"));
        Assert.That(problem.Message, Does.StartWith("The file is not a readable Parquet file: "));
    }

    [Test]
    public async Task Should_let_a_failed_read_of_the_footer_fail_the_attempt_rather_than_blame_the_file()
    {
        // The network fails while the footer is read (after its length and magic): a retry reads it, the file is fine.
        await using var whole = await WriteAsync(2, 100, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var bytes = whole.ToArray();
        var footerStart = bytes.Length - 8 - BitConverter.ToInt32(bytes, bytes.Length - 8);
        var failing = new FailingStream(bytes, footerStart, bytes.Length - 8);

        Assert.ThrowsAsync<IOException>(() => ParquetRecords.OpenAsync(failing, Orders, CsvDialect.Default, CancellationToken.None));
    }

    [Test]
    public async Task Should_let_a_failed_read_inside_a_column_chunk_fail_the_attempt_rather_than_blame_the_file()
    {
        // The footer reads, then the network fails while the pages are read: the original IOException surfaces (the
        // attempt is retried), not corrupt_file, though it reaches us through Arrow's reader as its own exception.
        await using var whole = await WriteAsync(2, 100, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var bytes = whole.ToArray();
        var footerStart = bytes.Length - 8 - BitConverter.ToInt32(bytes, bytes.Length - 8);
        var failing = new FailingStream(bytes, 4, footerStart);

        var (records, problem) = await ParquetRecords.OpenAsync(failing, Orders, CsvDialect.Default, CancellationToken.None);
        Assert.That(problem, Is.Null);
        await using var _ = records;
        var thrown = Assert.Throws<IOException>(() => records!.Read());
        Assert.That(thrown!.Message, Is.EqualTo("The connection was reset."));
    }

    [Test]
    public async Task Should_name_the_row_group_and_column_whose_pages_are_garbage_after_reading_the_groups_before_it()
    {
        await using var whole = await WriteAsync(2, 100, new DataField<Guid>("order_id"), new DataField<int>("quantity"));
        var bytes = whole.ToArray();
        await using (var reader = await ParquetReader.CreateAsync(new MemoryStream(bytes)))
        {
            // The second row group's quantity chunk: its first page header and data overwritten, the footer intact.
            var chunk = reader.Metadata!.RowGroups[1].Columns[1].MetaData!;
            bytes.AsSpan((int)chunk.DataPageOffset, 32).Fill(0xFF);
        }

        var (records, _) = await ParquetRecords.OpenAsync(new MemoryStream(bytes), Orders, CsvDialect.Default,
            CancellationToken.None);
        await using var _1 = records;
        var read = 0;
        var corrupt = Assert.ThrowsAsync<CorruptParquetException>(async () =>
        {
            while (records!.Read())
            {
                read++;
            }
        });

        Assert.That(read, Is.EqualTo(100), "the first row group reads");
        Assert.That(corrupt!.Message, Does.StartWith("row group 2 of 2, column 'quantity', cannot be decoded ("));
    }

    [Test]
    public async Task Should_count_progress_by_the_rows_of_each_row_group_and_never_past_the_object()
    {
        // Dictionary-encoded strings: each chunk starts with its dictionary page, before its first data page.
        var note = new DataField<string>("note");
        var stream = new MemoryStream();
        var options = new ParquetOptions();
        options.ColumnEncodingHints["note"] = EncodingHint.Dictionary;
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(note), stream, options))
        {
            for (var g = 0; g < 3; g++)
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(note, Enumerable.Range(0, 1000).Select(i => $"note {i % 50:D40}").ToArray());
            }
        }

        // The last row group ends where the footer starts: before its length (4 bytes) and the closing magic (4 bytes).
        var bytes = stream.ToArray();
        var footerStart = bytes.Length - 8 - BitConverter.ToInt32(bytes, bytes.Length - 8);
        var notes = new DatasetDefinition("notes", [new DatasetColumn("note", ColumnType.Text, Required: false)], []);
        var (records, _) = await ParquetRecords.OpenAsync(new MemoryStream(bytes), notes, CsvDialect.Default,
            CancellationToken.None);
        await using var _1 = records;

        var ends = new List<long>();
        var progress = new List<long>();
        while (records!.Read())
        {
            progress.Add(records.ObjectBytesRead);
            if (records.RowInGroupNumber == 1000)
            {
                ends.Add(records.ObjectBytesRead);
            }
        }

        Assert.That(ends, Has.Count.EqualTo(3));
        Assert.That(progress, Is.Ordered.Ascending);
        Assert.That(progress[499], Is.GreaterThan(0).And.LessThan(ends[0]), "halfway through the first row group");
        Assert.That(ends[^1], Is.EqualTo(footerStart));
    }

    /// <summary>
    /// The file with its footer changed by <paramref name="change"/>: what a crafted file's footer may claim, which no
    /// writer writes. The footer is re-serialized with Parquet.Net's own Thrift writer (internal: reached by reflection).
    /// </summary>
    private static async Task<byte[]> WithFooterAsync(byte[] file, Action<FileMetaData> change)
    {
        var footerLength = BitConverter.ToInt32(file, file.Length - 8);
        var footerStart = file.Length - 8 - footerLength;
        FileMetaData meta;
        await using (var reader = await ParquetReader.CreateAsync(new MemoryStream(file)))
        {
            meta = reader.Metadata!;
        }

        change(meta);
        var footer = new MemoryStream();
        var assembly = typeof(FileMetaData).Assembly;
        var writerType = assembly.GetType("Parquet.Meta.Proto.ThriftCompactProtocolWriter", throwOnError: true)!;
        var writer = Activator.CreateInstance(writerType, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic,
            null, [footer], null)!;
        typeof(FileMetaData).GetMethod("Write", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, [writerType])!
            .Invoke(meta, [writer]);
        var bytes = footer.ToArray();
        return [.. file.AsSpan(0, footerStart), .. bytes, .. BitConverter.GetBytes(bytes.Length), .. "PAR1"u8];
    }

    /// <summary>A file whose reads starting in [<paramref name="from"/>, <paramref name="to"/>) fail as a dropped connection does.</summary>
    private sealed class FailingStream(byte[] bytes, long from, long to) : MemoryStream(bytes, writable: false)
    {
        public override int Read(byte[] buffer, int offset, int count) =>
            Position >= from && Position < to ? throw new IOException("The connection was reset.") : base.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer)
        {
            var read = new byte[buffer.Length];
            var count = Read(read, 0, read.Length);
            read.AsSpan(0, count).CopyTo(buffer);
            return count;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer, offset, count));
    }

    /// <summary>
    /// One row group of <paramref name="rows"/> copies of <paramref name="value"/> in an optional string column, written
    /// with Arrow's writer a batch at a time (it dictionary-encodes it, in pages of 1 MiB), so neither the values nor the
    /// file are ever large here.
    /// </summary>
    private static async Task<MemoryStream> OneRepeatedStringAsync(string column, string value, int rows)
    {
        var path = Path.Combine(Path.GetTempPath(), $"parquet-files-{Guid.NewGuid():N}.parquet");
        try
        {
            using (var writer = new ParquetFileWriter(path, [new Column<string>(column)], Compression.Snappy))
            {
                using var group = writer.AppendRowGroup();
                using var values = group.NextColumn().LogicalWriter<string>();
                var batch = Enumerable.Repeat(value, 65_536).ToArray();
                for (var written = 0; written < rows; written += batch.Length)
                {
                    values.WriteBatch(batch.AsSpan(0, Math.Min(batch.Length, rows - written)));
                }

                writer.Close();
            }

            return new MemoryStream(await File.ReadAllBytesAsync(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static Guid Id(int n) => Guid.Parse($"00000000-0000-4000-8000-{n:x12}");

    /// <summary>
    /// A file of <paramref name="groups"/> row groups; row n (from 1) holds id n, quantity n, total n + 0.25 (n = 2: 2.125;
    /// every 5th null), booked on 2026-01-n (every 5th null), at n seconds past 2026 (every 5th null), note "n" ("123456"
    /// for row 3); quantity is null on row 5 and 3,000,000,000 on row 6 where it is a nullable INT64.
    /// </summary>
    private static Task<MemoryStream> WriteAsync(int groups, int rowsPerGroup, params DataField[] fields) =>
        WriteAsync(groups, rowsPerGroup, emptyGroups: 0, fields);

    /// <param name="emptyGroups">Row groups of no rows written after the others.</param>
    private static Task<MemoryStream> WriteAsync(int groups, int rowsPerGroup, int emptyGroups, params DataField[] fields) =>
        WriteAsync(groups + emptyGroups, rowsPerGroup, g => g >= groups, fields);

    /// <param name="empty">Which row groups (from 0) have no rows; the others' rows are numbered on from the last one's.</param>
    private static async Task<MemoryStream> WriteAsync(int groups, int rowsPerGroup, Func<int, bool> empty, params DataField[] fields)
    {
        var stream = new MemoryStream();
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream))
        {
            var before = 0;
            for (var g = 0; g < groups; g++)
            {
                using var group = writer.CreateRowGroup();
                var n = Enumerable.Range(before + 1, empty(g) ? 0 : rowsPerGroup).ToArray();
                before += n.Length;
                bool Null(int i) => i % 5 == 0;
                foreach (var field in fields)
                {
                    switch (field.Name.ToLowerInvariant())
                    {
                        case "order_id":
                            await group.WriteAsync<Guid>(field, n.Select(Id).ToArray());
                            break;
                        case "quantity" when field.ClrType == typeof(long):
                            await group.WriteAsync<long>(field, n.Select(i => i == 5 ? null : i == 6 ? 3_000_000_000L : (long?)i).ToArray());
                            break;
                        case "quantity" or "iban":
                            await group.WriteAsync<int>(field, n.ToArray());
                            break;
                        case "total" when field is DecimalDataField:
                            await group.WriteAsync<decimal>(field, n.Select(i => Null(i) ? null : i == 2 ? 2.125m : (decimal?)(i + 0.25m)).ToArray());
                            break;
                        case "total":
                            await group.WriteAsync<double>(field, n.Select(i => i + 0.25).ToArray());
                            break;
                        case "booking date":
                            await group.WriteAsync<DateOnly>(field, n.Select(i => Null(i) ? null : (DateOnly?)new DateOnly(2026, 1, i)).ToArray());
                            break;
                        case "at":
                            await group.WriteAsync<DateTime>(field, n.Select(i => Null(i) ? null
                                : (DateTime?)new DateTime(2026, 1, 1, 0, 0, i, DateTimeKind.Utc)).ToArray());
                            break;
                        case "note":
                            await group.WriteAsync(field, n.Select(i => i == 3 ? "123456" : i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
                            break;
                    }
                }
            }
        }

        stream.Position = 0;
        return stream;
    }
}
