using System.Text.Json;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Parquet;
using Parquet.Meta;
using Parquet.Meta.Proto;
using Parquet.Schema;

namespace Ingestion.Workers.Parquet;

/// <summary>Where a Parquet file is read from: a row group (from 0) and a row within it (from 0).</summary>
internal readonly record struct ParquetPosition(int RowGroup, long Row);

/// <summary>
/// A Parquet file's rows, one row group in memory at a time: the mapped columns' chunks of the current row group are
/// read whole (that is what a row group is for), converted row by row, and dropped when the next group is read. Memory
/// is therefore bounded by the largest row group's mapped columns, which <see cref="OpenAsync"/> checks against a limit
/// before anything loads, whatever the file's size. The file's other columns are never read.
/// <para>
/// A row is named by its row group and its row in it, and by its row number in the file (from 1), which is what the
/// checkpoint and the rejects keep: row groups' row counts are in the footer, so a row number maps to exactly one
/// position in this version of the object.
/// </para>
/// </summary>
internal sealed class ParquetRecords : IAsyncDisposable
{
    private readonly ParquetReader _reader;
    private readonly ParquetCell[] _cells;
    private readonly long[] _groupStarts;
    private readonly long[] _groupEnds;
    private readonly long[] _groupObjects;
    private int _group = -1;
    private int _rows;
    private int _row;
    private ParquetPosition _next;

    private ParquetRecords(ParquetReader reader, ParquetCell[] cells, HeaderMap map, long objectLength)
    {
        _reader = reader;
        _cells = cells;
        Map = map;
        var groups = reader.RowGroupCount;
        _groupStarts = new long[groups + 1];
        _groupEnds = new long[groups];
        _groupObjects = new long[groups];
        for (var g = 0; g < groups; g++)
        {
            var meta = reader.Metadata!.RowGroups[g];
            _groupStarts[g + 1] = _groupStarts[g] + meta.NumRows;
            // Never past the object, never back: a footer's offsets are the writer's word, and progress only grows.
            _groupEnds[g] = Math.Clamp(meta.Columns.Max(ChunkEnd), g == 0 ? 0 : _groupEnds[g - 1], objectLength);
            var group = reader.OpenRowGroupReader(g);
            _groupObjects[g] = cells.Sum(c =>
                c.ObjectBytes(group.RowCount, group.GetMetadata(c.Field)?.MetaData?.TotalUncompressedSize ?? 0));
        }

        Values = new RowValues(cells.Length);
    }

    /// <summary>
    /// A row group that leaves at least this much garbage (its strings) is collected before the next one is decoded; the
    /// bench's 100,000-row groups leave about 22 MB. A smaller group's garbage is left to the ordinary collections, which
    /// a collection per group would cost more than it saves.
    /// </summary>
    private const long CollectAfterObjectBytes = 8L << 20;

    /// <summary>
    /// Where a column chunk ends in the object: its compressed size counts from its first page, which is its dictionary
    /// page when it has one (before the first data page), as Parquet.Net reads it. Counted from the data page, a
    /// dictionary-encoded chunk seemed to end a dictionary's length too far, and the last row group past the object's end.
    /// </summary>
    private static long ChunkEnd(ColumnChunk chunk)
    {
        if (chunk.MetaData is not { } meta)
        {
            return 0;
        }

        var start = meta.DictionaryPageOffset is long dictionary && dictionary > 0 && dictionary < meta.DataPageOffset
            ? dictionary
            : meta.DataPageOffset;
        return start + meta.TotalCompressedSize;
    }

    /// <summary>
    /// Dates as <see cref="DateOnly"/>; and Parquet.Net's pool of decompression buffers bounded, which by default keeps
    /// every buffer it ever lent (a worker's memory would then follow the largest row group it ever read, for good).
    /// </summary>
    private static readonly ParquetOptions Options = new()
    {
        UseDateOnlyTypeForDates = true,
        MaximumSmallPoolFreeBytes = 4 << 20,
        MaximumLargePoolFreeBytes = 32 << 20,
    };

    /// <summary>The dataset's columns this file feeds, in COPY order, as a CSV header map (each column's field is its cell).</summary>
    public HeaderMap Map { get; }

    /// <summary>The typed values of the row <see cref="Check"/> accepted last.</summary>
    public RowValues Values { get; }

    public int RowGroupCount => _reader.RowGroupCount;

    public long TotalRows => _groupStarts[^1];

    /// <summary>The current row's group, from 1 (for people).</summary>
    public int RowGroupNumber => _group + 1;

    /// <summary>The current row within its group, from 1.</summary>
    public long RowInGroupNumber => _row + 1;

    /// <summary>The current row's number in the file, from 1.</summary>
    public long RowNumber => _groupStarts[_group] + _row + 1;

    /// <summary>Where the next <see cref="ReadAsync"/> reads from.</summary>
    public ParquetPosition Next => _next;

    /// <summary>Rows before <see cref="Next"/>: a checkpoint's count of rows done.</summary>
    public long RowsBefore(ParquetPosition position) => _groupStarts[position.RowGroup] + position.Row;

    /// <summary>The position just after <paramref name="rows"/> rows of the file.</summary>
    public ParquetPosition PositionAfter(long rows)
    {
        var group = Array.BinarySearch(_groupStarts, rows);
        group = group >= 0 ? group : ~group - 1;
        // A count at a group's end is the start of the next group (past the last one: the end of the file).
        while (group < RowGroupCount && rows - _groupStarts[group] >= _groupStarts[group + 1] - _groupStarts[group])
        {
            group++;
        }

        return new ParquetPosition(group, rows - _groupStarts[Math.Min(group, RowGroupCount)]);
    }

    /// <summary>The object's bytes up to the end of the row group being read: how far through the object the load is.</summary>
    public long ObjectBytesRead => _group < 0 ? 0 : _groupEnds[_group];

    /// <summary>
    /// Opens a Parquet file on a seekable stream (the footer is read here) and maps its columns to the dataset's, or says
    /// why the file cannot load: a required column missing, an unknown one, a column whose type does not convert, a
    /// nested column, or a row group whose mapped columns decode into more than <paramref name="maxRowGroupBytes"/>.
    /// </summary>
    public static async Task<(ParquetRecords? Records, FileProblem? Problem)> OpenAsync(Stream stream, DatasetDefinition dataset,
        CsvDialect dialect, long maxRowGroupBytes, CancellationToken cancellationToken)
    {
        if (await EnvelopeProblemAsync(stream, cancellationToken) is { } notParquet)
        {
            return (null, notParquet);
        }

        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(stream, Options, leaveStreamOpen: true, cancellationToken);
        }
        catch (Exception e) when (IsUndecodable(e))
        {
            return (null, new FileProblem("corrupt_file", $"The file is not a readable Parquet file: {e.Message}"));
        }

        var (records, problem) = MapColumns(reader, dataset, dialect, maxRowGroupBytes, stream.Length);
        if (records is null)
        {
            await reader.DisposeAsync();
        }

        return (records, problem);
    }

    /// <summary>
    /// Whether the file has a Parquet file's frame: the magic at both ends and a footer length that fits in it. Checked
    /// here because Parquet.Net says a file is not one with an <see cref="IOException"/>, which is also what reading the
    /// object throws when the network fails: only the reader's own verdicts are the file's fault (a truncated upload has
    /// no magic at its end), a failed read is retried.
    /// </summary>
    private static async Task<FileProblem?> EnvelopeProblemAsync(Stream stream, CancellationToken cancellationToken)
    {
        const int magic = 4;
        if (stream.Length < 2 * magic + sizeof(int))
        {
            return new FileProblem("corrupt_file", $"The file is not a readable Parquet file: it is {stream.Length:N0} bytes long, too short for one.");
        }

        var head = new byte[magic];
        var tail = new byte[sizeof(int) + magic];
        stream.Position = 0;
        await stream.ReadExactlyAsync(head, cancellationToken);
        stream.Position = stream.Length - tail.Length;
        await stream.ReadExactlyAsync(tail, cancellationToken);
        stream.Position = 0;
        var footer = BitConverter.ToInt32(tail, 0);
        return !head.AsSpan().SequenceEqual("PAR1"u8) || !tail.AsSpan(sizeof(int)).SequenceEqual("PAR1"u8)
            ? new FileProblem("corrupt_file", "The file is not a readable Parquet file: it does not begin and end with the Parquet magic (PAR1); was it cut short?")
            : footer < 0 || footer > stream.Length - 2 * magic - sizeof(int)
                ? new FileProblem("corrupt_file", $"The file is not a readable Parquet file: its footer claims {footer:N0} bytes of a {stream.Length:N0}-byte file.")
                : null;
    }

    private static (ParquetRecords?, FileProblem?) MapColumns(ParquetReader reader, DatasetDefinition dataset, CsvDialect dialect,
        long maxRowGroupBytes, long objectLength)
    {
        var fields = reader.Schema.Fields;
        var names = fields.Select(f => f.Name).ToList();
        var seen = new Dictionary<string, Field>(StringComparer.OrdinalIgnoreCase);
        foreach (var field in fields)
        {
            if (!seen.TryAdd(field.Name, field))
            {
                return (null, new FileProblem("duplicate_header",
                    $"The file has two columns named '{field.Name}' (names are matched without regard to case)."));
            }
        }

        var missing = dataset.Columns.Where(c => c.Required && !seen.ContainsKey(c.HeaderName)).Select(c => c.HeaderName).ToList();
        if (missing.Count > 0)
        {
            return (null, new FileProblem("missing_columns",
                $"The Parquet file lacks required column{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} of dataset '{dataset.Name}'; its columns are {string.Join(", ", names.Take(20))}."));
        }

        var unknown = names.Where(n => dataset.ColumnForHeader(n) is null).ToList();
        if (unknown.Count > 0 && !dataset.IgnoreUnknownColumns)
        {
            return (null, new FileProblem("unknown_columns",
                $"The Parquet file has column{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown)} that dataset '{dataset.Name}' does not have (register them, or set ignoreUnknownColumns)."));
        }

        var cells = new List<ParquetCell>();
        var mapped = new List<MappedColumn>();
        foreach (var column in dataset.Columns)
        {
            if (!seen.TryGetValue(column.HeaderName, out var field))
            {
                continue;
            }

            if (field is not DataField { IsArray: false } data)
            {
                return (null, new FileProblem("type_mismatch",
                    $"Column '{column.Name}' is {column.Type.ToSql()} in dataset '{dataset.Name}', but the Parquet column '{field.Name}' is a nested {field.SchemaType.ToString().ToLowerInvariant()} (a list, map or struct), which loads into no column; flatten it."));
            }

            if (ParquetCell.For(column, data, dialect) is not { } cell)
            {
                return (null, new FileProblem("type_mismatch",
                    $"Column '{column.Name}' is {column.Type.ToSql()} in dataset '{dataset.Name}', but the Parquet column '{field.Name}' is {ParquetCell.Describe(data)}, which does not convert to it{Hint(column, data)}."));
            }

            mapped.Add(new MappedColumn(column, cells.Count));
            cells.Add(cell);
        }

        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            if (RowGroupProblem(reader, g, cells, maxRowGroupBytes) is { } tooLarge)
            {
                return (null, tooLarge);
            }
        }

        return (new ParquetRecords(reader, [.. cells], new HeaderMap(cells.Select(c => c.Field.Name).ToList(), mapped), objectLength), null);
    }

    /// <summary>
    /// Whether row group <paramref name="g"/> can be read whole: bounded by what decoding its mapped columns allocates,
    /// computed from the footer before any column is read. That is the typed values (<see cref="ParquetCell.DecodedBytes"/>),
    /// since the file's own bytes say little about them (a tiny file can declare a hundred million rows of one repeated
    /// value), and beside them the pages themselves: Parquet.Net decompresses a page whole into a buffer of the page's
    /// uncompressed size, and a dictionary into one sized by its header, so each chunk counts twice its uncompressed size
    /// (a bigint chunk of one row whose dictionary claims 2 GB is 2 GB to decode, however few its rows).
    /// </summary>
    private static FileProblem? RowGroupProblem(ParquetReader reader, int g, List<ParquetCell> cells, long maxRowGroupBytes)
    {
        var group = reader.OpenRowGroupReader(g);
        var chunks = cells.Select(c => group.GetMetadata(c.Field)?.MetaData).ToList();
        var rows = group.RowCount;
        if (rows < 0 || chunks.Any(m => m is { NumValues: < 0 } or { TotalUncompressedSize: < 0 }))
        {
            return new FileProblem("corrupt_file",
                $"The file is not a readable Parquet file: its footer gives row group {g + 1} a negative row count or size.");
        }

        // Every mapped column is flat, so its chunk holds one value (or null) per row. A chunk with fewer would leave the
        // rest of the reused buffer as it was, the previous row group's values, loaded as this group's.
        if (cells.Zip(chunks).FirstOrDefault(p => p.Second?.NumValues != rows) is { First: { } column } mismatch)
        {
            return new FileProblem("corrupt_file",
                $"The file is not a readable Parquet file: its footer gives row group {g + 1} {rows:N0} rows but its column '{column.Field.Name}' {mismatch.Second?.NumValues ?? 0:N0} values.");
        }

        if (rows > int.MaxValue)
        {
            return new FileProblem("row_group_too_large", $"Row group {g + 1} has {rows:N0} rows, more than a worker reads at once.");
        }

        // A crafted footer's sizes cannot overflow: rows are below 2^31 here, a chunk's size is capped, the sum is a double.
        var decoded = cells.Zip(chunks, (c, m) => (Cell: c, Encoded: Math.Min(m!.TotalUncompressedSize, long.MaxValue / 64)))
            .Aggregate(0.0, (sum, chunk) => sum + chunk.Cell.DecodedBytes(rows, chunk.Encoded) + PageBuffers * (double)chunk.Encoded);
        return decoded > maxRowGroupBytes
            ? new FileProblem("row_group_too_large",
                $"Row group {g + 1} of {reader.RowGroupCount} has {rows:N0} rows, which decode into about {decoded / (1024.0 * 1024):N0} MiB of the dataset's columns; a worker decodes one row group at a time and at most {maxRowGroupBytes / (1024.0 * 1024):N0} MiB of it (Processing:ParquetMaxRowGroupBytes). Write the file with smaller row groups.")
            : null;
    }

    /// <summary>
    /// How many times a column chunk's uncompressed size decoding it allocates besides its values: the page's buffer,
    /// and the dictionary's (or the page's second copy, when its codec decompresses through one).
    /// </summary>
    private const int PageBuffers = 2;

    private static string Hint(DatasetColumn column, DataField field) =>
        field.ClrType == typeof(float) || field.ClrType == typeof(double)
            ? column.Type.Kind is ColumnKind.Numeric or ColumnKind.Integer or ColumnKind.BigInt
                ? " exactly (binary floating point is not decimal); write it as DECIMAL, or as a string"
                : ""
            : column.Type.Kind is ColumnKind.Text or ColumnKind.Char or ColumnKind.Varchar
                ? "; only STRING columns load into text"
                : "";

    /// <summary>Starts reading at <paramref name="position"/>; the row group is read at the next <see cref="ReadAsync"/>.</summary>
    public void Seek(ParquetPosition position)
    {
        _next = position;
        _group = -1;
    }

    /// <summary>Moves to the next row, reading the next row group's columns when the current one is done.</summary>
    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        while (_group != _next.RowGroup || _next.Row >= _rows)
        {
            if (_group == _next.RowGroup)
            {
                _next = new ParquetPosition(_next.RowGroup + 1, 0);
            }

            if (_next.RowGroup >= RowGroupCount)
            {
                return false;
            }

            await LoadAsync(_next.RowGroup, cancellationToken);
        }

        _row = (int)_next.Row;
        _next = _next with { Row = _next.Row + 1 };
        return true;
    }

    private async Task LoadAsync(int group, CancellationToken cancellationToken)
    {
        var reader = _reader.OpenRowGroupReader(group);
        var previous = _group;
        _group = -1; // a read that fails halfway leaves no group half loaded
        ReleaseDecoded();
        var decoding = Interlocked.Increment(ref _decoding);
        try
        {
            if (previous >= 0 && _groupObjects[previous] >= CollectAfterObjectBytes && decoding == 1)
            {
                // The previous group's strings lived through all of its batches, so they were promoted to generation 2,
                // which is collected only when it has grown by its own budget: left to that, the strings of several groups
                // stayed on the heap at once. Collected here, one group's are held at a time (the bench's 1,000,000 rows
                // in 100,000-row groups: worker peak RSS 297 MB before, 254-266 MB after, with a blocking collection). A
                // background collection, so that the process's other jobs and syncs run on through it, and only when no
                // other job of this worker is decoding a row group: theirs would each ask for one, one after another.
                GC.Collect(2, GCCollectionMode.Forced, blocking: false);
            }

            var rows = (int)reader.RowCount;
            foreach (var cell in _cells)
            {
                try
                {
                    await cell.ReadAsync(reader, rows, cancellationToken);
                }
                catch (Exception e) when (IsUndecodable(e))
                {
                    throw new CorruptParquetException(
                        $"row group {group + 1} of {RowGroupCount}, column '{cell.Field.Name}', cannot be decoded ({e.Message})", e);
                }
            }

            (_group, _rows) = (group, rows);
        }
        finally
        {
            Interlocked.Decrement(ref _decoding);
        }
    }

    /// <summary>Row groups being decoded in this process now, by any job.</summary>
    private static int _decoding;

    /// <summary>
    /// What Parquet.Net throws on pages that are not what the footer says (a garbage or truncated page, a page header that
    /// does not parse, a value count that overruns the row group, a compressed page that does not decompress). Not what
    /// reading the object throws (S3, the network, a cancel), which are transient: they fail the attempt, which is retried.
    /// </summary>
    private static bool IsUndecodable(Exception e) => e is ParquetException or ThriftProtocolException or InvalidDataException
        or EndOfStreamException or InvalidCastException or NotSupportedException or NotImplementedException
        or ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException or FormatException;

    /// <summary>
    /// Lets go of the previous row group's strings before the next group is decoded, so that a collection during the
    /// decoding can free them: only one row group's values are ever reachable.
    /// </summary>
    private void ReleaseDecoded()
    {
        foreach (var cell in _cells)
        {
            cell.Release();
        }
    }

    /// <summary>Checks the current row and parses it into <see cref="Values"/>; the first problem is the reject's.</summary>
    public RowProblem? Check()
    {
        for (var i = 0; i < _cells.Length; i++)
        {
            var cell = _cells[i];
            if (cell.IsNull(_row))
            {
                if (cell.Column.Required)
                {
                    return new RowProblem(cell.Column.Name, $"is required but null ({Where})");
                }

                Values.Nulls[i] = true;
                continue;
            }

            Values.Nulls[i] = false;
            if (cell.Parse(_row, Values, i) is { } problem)
            {
                return new RowProblem(cell.Column.Name, $"{problem} ({Where})");
            }
        }

        return null;
    }

    /// <summary>How a reject names its row: there are no lines in a Parquet file.</summary>
    public string Where => $"row group {RowGroupNumber}, row {RowInGroupNumber:N0}";

    /// <summary>Writes the row <see cref="Check"/> accepted last.</summary>
    public void Write(BinaryCopyRows rows)
    {
        for (var i = 0; i < _cells.Length; i++)
        {
            if (Values.Nulls[i])
            {
                rows.WriteNull();
            }
            else
            {
                _cells[i].Write(rows, Values, i);
            }
        }
    }

    /// <summary>The current row as the rejects file keeps it: a JSON object of the mapped columns as the file has them.</summary>
    public byte[] Record()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var cell in _cells)
            {
                json.WritePropertyName(cell.Field.Name);
                cell.Describe(_row, json);
            }

            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public ValueTask DisposeAsync() => _reader.DisposeAsync();
}

/// <summary>
/// A Parquet file whose footer read but one of whose row groups does not decode: the job fails (<c>corrupt_file</c>) with
/// the rows before it loaded, rather than retrying a file that will never read.
/// </summary>
internal sealed class CorruptParquetException(string message, Exception inner) : Exception(message, inner);
