using System.Text.Json;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Workers.Limits;
using Parquet;
using Parquet.Meta;
using Parquet.Meta.Proto;
using Parquet.Schema;
using ParquetSharp;
using ParquetReader = Parquet.ParquetReader;
using NativeParquetException = ParquetSharp.ParquetException;
using ParquetNetException = Parquet.ParquetException;

namespace Ingestion.Workers.Parquet;

/// <summary>Where a Parquet file is read from: a row group (from 0) and a row within it (from 0).</summary>
internal readonly record struct ParquetPosition(int RowGroup, long Row);

/// <summary>
/// A Parquet file's rows, read a batch of <see cref="ParquetCell.BatchRows"/> rows at a time. The footer and schema are
/// read with Parquet.Net (the columns mapped to the dataset's, the footer checked); the pages with Apache Arrow's reader
/// (ParquetSharp, <see cref="NativeParquetFile"/>), whose column readers decode each mapped column chunk page by page as
/// the batches ask, all the mapped columns in step. What a worker holds is therefore a batch of each mapped column and
/// the page (and dictionary) each is decoding, whatever the row group's size: pages are the writer's choice, 1 MiB by
/// default in Arrow, Spark, DuckDB and Polars (a writer that makes each column chunk one page, as Parquet.Net's does,
/// makes the page as large as the chunk). The file's other columns are never read.
/// <para>
/// A row is named by its row group and its row in it, and by its row number in the file (from 1), which is what the
/// checkpoint and the rejects keep: row groups' row counts are in the footer, so a row number maps to exactly one
/// position in this version of the object.
/// </para>
/// </summary>
internal sealed class ParquetRecords : IAsyncDisposable
{
    private readonly NativeParquetFile _native;
    private readonly ParquetCell[] _cells;
    private readonly StringCell[] _strings;
    private readonly int[] _columns;
    private readonly long[] _groupStarts;
    private readonly long[] _groupEnds;
    private readonly long[] _groupWork;
    private RowGroupReader? _groupReader;
    private int _readerGroup;
    // Set by a row group's opening: its first batch, whose columns' first reads make their garbage at once, collects
    // after it (NativeParquetFile.CollectManagedHeap).
    private bool _collectAfterBatch;
    private int _group = -1;
    private long _groupRows;
    private long _batchFirst;
    private int _batchRows;
    private int _index;
    private ParquetPosition _next;

    private ParquetRecords(ParquetReader reader, NativeParquetFile native, ParquetCell[] cells, int[] columns, HeaderMap map,
        long objectLength, long[] groupWork, long work)
    {
        _groupWork = groupWork;
        Work = work;
        _native = native;
        _cells = cells;
        _strings = [.. cells.OfType<StringCell>()];
        _columns = columns;
        Map = map;
        var groups = reader.RowGroupCount;
        _groupStarts = new long[groups + 1];
        _groupEnds = new long[groups];
        for (var g = 0; g < groups; g++)
        {
            var meta = reader.Metadata!.RowGroups[g];
            _groupStarts[g + 1] = _groupStarts[g] + meta.NumRows;
            // Never past the object, never back: a footer's offsets are the writer's word, and progress only grows.
            _groupEnds[g] = Math.Clamp(meta.Columns.Max(ChunkEnd), g == 0 ? 0 : _groupEnds[g - 1], objectLength);
        }

        Values = new RowValues(cells.Length);
    }

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

    /// <summary>Dates as <see cref="DateOnly"/>: Parquet.Net reads the footer and schema, which type the cells.</summary>
    private static readonly ParquetOptions Options = new() { UseDateOnlyTypeForDates = true };

    /// <summary>The dataset's columns this file feeds, in COPY order, as a CSV header map (each column's field is its cell).</summary>
    public HeaderMap Map { get; }

    /// <summary>The typed values of the row <see cref="Check"/> accepted last.</summary>
    public RowValues Values { get; }

    public int RowGroupCount => _groupEnds.Length;

    public long TotalRows => _groupStarts[^1];

    /// <summary>The current row's group, from 1 (for people).</summary>
    public int RowGroupNumber => _group + 1;

    /// <summary>The current row within its group, from 1.</summary>
    public long RowInGroupNumber => _batchFirst + _index + 1;

    /// <summary>The current row's number in the file, from 1.</summary>
    public long RowNumber => _groupStarts[_group] + RowInGroupNumber;

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

    /// <summary>The mapped columns' decompressed bytes in the whole file: the work of loading it.</summary>
    public long Work { get; }

    /// <summary>
    /// The most work or rows a file's footer may add up to, so that sums of them (and twice them) never overflow: a footer is
    /// the writer's word, and a crafted one could claim any sizes. No file comes near it.
    /// </summary>
    private const long MostWork = long.MaxValue / 4;

    private static readonly FileProblem TooLarge = new("corrupt_file",
        "The file is not a readable Parquet file: its footer's row counts or column sizes add up to more than any file holds.");

    /// <summary>The cuts of the last sizing asked for: a scan asks for one chunk's end at a time.</summary>
    private (ChunkSizing Sizing, long[] Rows)? _cuts;

    /// <summary>
    /// Where the chunk that starts after <paramref name="rows"/> rows ends, for a file loaded in chunks (fork/join): at the
    /// start of a row group, so a chunk is whole row groups, the unit a reader opens; null when the chunk runs to the end of
    /// the file. The file's decompressed mapped columns are shared out evenly (<see cref="ChunkSizing"/>): each cut is the
    /// row-group start nearest an even share's end (within half a row group of it), rather than each chunk holding at least
    /// <see cref="ChunkSizing.ChunkBytes"/> and the last what is left. A cut depends on the footer and the sizing only, so a
    /// scan resumed from any chunk's end cuts where the first one would have.
    /// </summary>
    public long? CutAfter(long rows, ChunkSizing sizing)
    {
        if (_cuts is not { } cuts || cuts.Sizing != sizing)
        {
            _cuts = cuts = (sizing, sizing.Cuts(_groupWork, _groupStarts));
        }

        var next = Array.BinarySearch(cuts.Rows, rows + 1);
        next = next >= 0 ? next : ~next;
        return next < cuts.Rows.Length ? cuts.Rows[next] : null;
    }

    /// <summary>
    /// How far through the object the load is: the bytes up to the end of the previous row group, and of the current
    /// group's bytes the share of its rows done. The columns are read side by side, so no offset in a row group says how
    /// far into it the rows are; by rows, a file of one large row group still moves, and never past the group's end.
    /// </summary>
    public long ObjectBytesRead
    {
        get
        {
            if (_group < 0)
            {
                return 0;
            }

            var start = _group == 0 ? 0 : _groupEnds[_group - 1];
            return start + (long)((_groupEnds[_group] - start) * Math.Min(1.0, (double)RowInGroupNumber / _groupRows));
        }
    }

    /// <summary>
    /// Opens a Parquet file on a seekable stream (the footer is read here) and maps its columns to the dataset's, or says
    /// why the file cannot load: a required column missing, an unknown one, a column whose type does not convert, a
    /// nested column, or a footer that contradicts itself.
    /// </summary>
    public static async Task<(ParquetRecords? Records, FileProblem? Problem)> OpenAsync(Stream stream, DatasetDefinition dataset,
        CsvDialect dialect, CancellationToken cancellationToken, long maxColumnChunkBytes = DefaultMaxColumnChunkBytes)
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

        // Parquet.Net's reader is the footer parsed (every row group's every column chunk, statistics and all): what the
        // records need of it is taken as they are built, and the rest goes at once rather than living as long as the chunk
        // does, long enough to reach the GC's oldest generation and stay there as garbage until its next collection.
        await using (reader)
        {
            return Open(reader, stream, dataset, dialect, maxColumnChunkBytes);
        }
    }

    private static (ParquetRecords?, FileProblem?) Open(ParquetReader reader, Stream stream, DatasetDefinition dataset,
        CsvDialect dialect, long maxColumnChunkBytes)
    {
        var (cells, map, problem) = MapColumns(reader, dataset, dialect);
        if (problem is not null)
        {
            return (null, problem);
        }

        var work = new long[reader.RowGroupCount];
        Int128 totalWork = 0, totalRows = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            if (RowGroupProblem(reader, g, cells!, maxColumnChunkBytes, out work[g]) is { } corrupt)
            {
                return (null, corrupt);
            }

            totalWork += work[g];
            totalRows += reader.Metadata!.RowGroups[g].NumRows;
        }

        if (totalWork > MostWork || totalRows > MostWork)
        {
            return (null, TooLarge);
        }

        NativeParquetFile native;
        try
        {
            native = NativeParquetFile.Open(stream);
        }
        catch (Exception e) when (IsUndecodable(e))
        {
            return (null, new FileProblem("corrupt_file", $"The file is not a readable Parquet file: {e.Message}"));
        }

        // Each mapped column's leaf in the native reader's schema, found by its path (a top-level column: its name), and
        // its physical layout given to its cell. The native reader is disposed on every way out but the records'.
        try
        {
            var schema = native.Reader.FileMetaData.Schema;
            var columns = new int[cells!.Count];
            for (var i = 0; i < cells.Count; i++)
            {
                columns[i] = Leaf(schema, cells[i].Field.Name);
                if (columns[i] < 0 || !cells[i].Bind(schema.Column(columns[i])))
                {
                    var physical = columns[i] < 0 ? "missing" : schema.Column(columns[i]).PhysicalType.ToString().ToUpperInvariant();
                    native.Dispose();
                    return (null, new FileProblem("corrupt_file",
                        $"The file is not a readable Parquet file: its column '{cells[i].Field.Name}' is {ParquetCell.Describe(cells[i].Field)} by its schema, but its physical type is {physical}."));
                }
            }

            return (new ParquetRecords(reader, native, [.. cells], columns, map!, stream.Length, work, (long)totalWork), null);
        }
        catch
        {
            native.Dispose();
            throw;
        }
    }

    /// <summary>The index of the top-level leaf column named <paramref name="name"/>, or -1; each path's handle freed.</summary>
    private static int Leaf(SchemaDescriptor schema, string name)
    {
        for (var c = 0; c < schema.NumColumns; c++)
        {
            using var path = schema.Column(c).Path;
            if (path.ToDotVector() is [var leaf] && leaf == name)
            {
                return c;
            }
        }

        return -1;
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

    private static (List<ParquetCell>?, HeaderMap?, FileProblem?) MapColumns(ParquetReader reader, DatasetDefinition dataset, CsvDialect dialect)
    {
        var fields = reader.Schema.Fields;
        var names = fields.Select(f => f.Name).ToList();
        var seen = new Dictionary<string, Field>(StringComparer.OrdinalIgnoreCase);
        foreach (var field in fields)
        {
            if (!seen.TryAdd(field.Name, field))
            {
                return (null, null, new FileProblem("duplicate_header",
                    $"The file has two columns named '{field.Name}' (names are matched without regard to case)."));
            }
        }

        var missing = dataset.Columns.Where(c => c.Required && !seen.ContainsKey(c.HeaderName)).Select(c => c.HeaderName).ToList();
        if (missing.Count > 0)
        {
            return (null, null, new FileProblem("missing_columns",
                $"The Parquet file lacks required column{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} of dataset '{dataset.Name}'; its columns are {string.Join(", ", names.Take(20))}."));
        }

        var unknown = names.Where(n => dataset.ColumnForHeader(n) is null).ToList();
        if (unknown.Count > 0 && !dataset.IgnoreUnknownColumns)
        {
            return (null, null, new FileProblem("unknown_columns",
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
                return (null, null, new FileProblem("type_mismatch",
                    $"Column '{column.Name}' is {column.Type.ToSql()} in dataset '{dataset.Name}', but the Parquet column '{field.Name}' is a nested {field.SchemaType.ToString().ToLowerInvariant()} (a list, map or struct), which loads into no column; flatten it."));
            }

            if (ParquetCell.For(column, data, dialect) is not { } cell)
            {
                return (null, null, new FileProblem("type_mismatch",
                    $"Column '{column.Name}' is {column.Type.ToSql()} in dataset '{dataset.Name}', but the Parquet column '{field.Name}' is {ParquetCell.Describe(data)}, which does not convert to it{Hint(column, data)}."));
            }

            mapped.Add(new MappedColumn(column, cells.Count));
            cells.Add(cell);
        }

        return (cells, new HeaderMap(cells.Select(c => c.Field.Name).ToList(), mapped), null);
    }

    /// <summary>
    /// Whether the footer's row group <paramref name="g"/> is one the rows can be read from: a row count and sizes that
    /// are not negative, and for every mapped column (each is flat) one value, or null, per row. A chunk with fewer values
    /// would end before its row group; one with more would give its extra values to no row.
    /// </summary>
    /// <param name="work">The mapped columns' decompressed bytes in the group: what loading it reads and decodes.</param>
    private static FileProblem? RowGroupProblem(ParquetReader reader, int g, List<ParquetCell> cells, long maxColumnChunkBytes,
        out long work)
    {
        var group = reader.OpenRowGroupReader(g);
        var chunks = cells.Select(c => group.GetMetadata(c.Field)?.MetaData).ToList();
        work = 0;
        var rows = group.RowCount;
        if (rows < 0 || chunks.Any(m => m is { NumValues: < 0 } or { TotalUncompressedSize: < 0 }))
        {
            return new FileProblem("corrupt_file",
                $"The file is not a readable Parquet file: its footer gives row group {g + 1} a negative row count or size.");
        }

        var sum = chunks.Aggregate((Int128)0, (total, m) => total + (m?.TotalUncompressedSize ?? 0));
        if (sum > MostWork)
        {
            return TooLarge;
        }

        work = (long)sum;

        // A backstop, from the footer before any page is read: Arrow sizes a page's buffers from its header and a
        // dictionary from its value count, so a column chunk's decompressed size is the most one mapped column may make it
        // hold (a writer that makes the chunk one page, as Parquet.Net's does, costs all of it at once).
        if (maxColumnChunkBytes > 0
            && cells.Zip(chunks).FirstOrDefault(p => p.Second?.TotalUncompressedSize > maxColumnChunkBytes) is { First: { } wide } big)
        {
            return new FileProblem("column_chunk_too_large",
                $"Row group {g + 1}'s column '{wide.Field.Name}' is {big.Second!.TotalUncompressedSize:N0} bytes decompressed, more than the {maxColumnChunkBytes:N0} a worker reads of one column chunk; write the file with smaller row groups.");
        }

        return cells.Zip(chunks).FirstOrDefault(p => p.Second?.NumValues != rows) is { First: { } column } mismatch
            ? new FileProblem("corrupt_file",
                $"The file is not a readable Parquet file: its footer gives row group {g + 1} {rows:N0} rows but its column '{column.Field.Name}' {mismatch.Second?.NumValues ?? 0:N0} values.")
            : null;
    }

    private static string Hint(DatasetColumn column, DataField field) =>
        field.ClrType == typeof(float) || field.ClrType == typeof(double)
            ? column.Type.Kind is ColumnKind.Numeric or ColumnKind.Integer or ColumnKind.BigInt
                ? " exactly (binary floating point is not decimal); write it as DECIMAL, or as a string"
                : ""
            : column.Type.Kind is ColumnKind.Text or ColumnKind.Char or ColumnKind.Varchar
                ? "; only STRING columns load into text"
                : "";

    /// <summary>Starts reading at <paramref name="position"/>; the row group is opened at the next <see cref="Read"/>.</summary>
    public void Seek(ParquetPosition position)
    {
        _next = position;
        _group = -1;
    }

    /// <summary>
    /// Moves to the next row: the next of the batch, or the next batch of the row group (read from every mapped column),
    /// or the next row group. Reading blocks on the object's ranged GETs, as a CSV's records block on their stream.
    /// </summary>
    public bool Read()
    {
        while (true)
        {
            if (_group == _next.RowGroup && _next.Row < _batchFirst + _batchRows)
            {
                _index = (int)(_next.Row - _batchFirst);
                _next = _next with { Row = _next.Row + 1 };
                return true;
            }

            if (_group == _next.RowGroup && _next.Row >= _groupRows)
            {
                _next = new ParquetPosition(_next.RowGroup + 1, 0);
            }

            if (_next.RowGroup >= RowGroupCount)
            {
                return false;
            }

            if (_group != _next.RowGroup)
            {
                OpenGroup(_next.RowGroup, _next.Row);
            }
            else
            {
                ReadBatch();
            }
        }
    }

    /// <summary>Opens row group <paramref name="group"/>'s mapped column chunks, skipping their first <paramref name="skip"/> rows.</summary>
    private void OpenGroup(int group, long skip)
    {
        _group = -1; // a group that fails to open halfway is not read from
        foreach (var cell in _cells)
        {
            cell.Open(null);
        }

        if (_groupReader is not null)
        {
            _groupReader.Dispose();
            _groupReader = null;
            NativeHeap.ReturnFreedMemory(_groupWork[_readerGroup]);
        }

        var reader = _groupReader = Native(group, null, () => _native.Reader.RowGroup(group));
        _readerGroup = group;
        for (var i = 0; i < _cells.Length; i++)
        {
            var cell = _cells[i];
            var column = _columns[i];
            Native(group, cell, () =>
            {
                cell.Open(reader.Column(column));
                if (skip > 0)
                {
                    cell.Skip(skip);
                }

                return true;
            });
        }

        (_group, _groupRows, _batchFirst, _batchRows) = (group, _groupStarts[group + 1] - _groupStarts[group], skip, 0);
        _collectAfterBatch = true;
    }

    private void ReadBatch()
    {
        _batchFirst += _batchRows;
        _batchRows = 0;
        var rows = (int)Math.Min(ParquetCell.BatchRows, _groupRows - _batchFirst);
        rows = ReadStrings(rows);
        foreach (var cell in _cells)
        {
            if (cell is not StringCell)
            {
                Native(_group, cell, () =>
                {
                    cell.Read(rows);
                    return true;
                });
            }
        }

        _batchRows = rows;
        if (_collectAfterBatch)
        {
            _collectAfterBatch = false;
            NativeParquetFile.CollectManagedHeap();
        }
    }

    /// <summary>
    /// Reads the string columns' next rows, at most <paramref name="rows"/>, in pieces, all columns in step, and stops
    /// when one of them holds <see cref="StringCell.MaxBatchBytes"/>: a piece's rows are as many as fit what is left at
    /// the widest value the column has held (16 before one is seen), so a batch of wide strings is a few rows, not 4,096
    /// of them (a repeated 1 MiB value in a dictionary page is 4 GiB). Returns the rows read: the batch's rows.
    /// </summary>
    private int ReadStrings(int rows)
    {
        if (_strings.Length == 0)
        {
            return rows;
        }

        foreach (var cell in _strings)
        {
            cell.Begin();
        }

        var filled = 0;
        while (filled < rows)
        {
            long bytes = 0, widest = 0;
            foreach (var cell in _strings)
            {
                bytes = Math.Max(bytes, cell.BatchBytes);
                widest = Math.Max(widest, cell.WidestValue);
            }

            if (bytes >= StringCell.MaxBatchBytes)
            {
                break;
            }

            var fit = widest == 0 && filled == 0 ? 16 : (StringCell.MaxBatchBytes - bytes) / Math.Max(widest, 1);
            var piece = (int)Math.Clamp(fit, 1, rows - filled);
            foreach (var cell in _strings)
            {
                Native(_group, cell, () =>
                {
                    cell.Append(piece);
                    return true;
                });
            }

            filled += piece;
        }

        foreach (var cell in _strings)
        {
            cell.End();
        }

        return filled;
    }

    /// <summary>
    /// A call into the native reader for row group <paramref name="group"/> (and <paramref name="cell"/>'s column): a
    /// failed read of the object is thrown as it was (the attempt is retried), what the reader says of the pages fails
    /// the job, naming the row group and column, with the rows before it loaded.
    /// </summary>
    private T Native<T>(int group, ParquetCell? cell, Func<T> call)
    {
        try
        {
            return call();
        }
        catch (Exception e) when (IsUndecodable(e))
        {
            _native.RethrowReadFailure();
            var column = cell is null ? "" : $", column '{cell.Field.Name}',";
            throw new CorruptParquetException($"row group {group + 1} of {RowGroupCount}{column} cannot be decoded ({e.Message.Trim()})", e);
        }
    }

    /// <summary>The default of <c>Processing:ParquetMaxColumnChunkBytes</c>: no limit (0).</summary>
    public const long DefaultMaxColumnChunkBytes = 0;

    /// <summary>
    /// What the readers throw on a file that is not what its footer says (a garbage or truncated page, a page header that
    /// does not parse, a value count that overruns the row group, a page that does not decompress); a value its type does
    /// not hold rejects its row instead (<see cref="ParquetCell.Unreadable"/>).
    /// Not what reading the object throws (S3, the network, a cancel), which are transient: they fail the attempt, which
    /// is retried; the native reader reports those as its own exception too, which <see cref="NativeParquetFile"/> sorts out.
    /// </summary>
    private static bool IsUndecodable(Exception e) => e is ParquetNetException or NativeParquetException or ThriftProtocolException
        or InvalidDataException or EndOfStreamException or InvalidCastException or NotSupportedException or NotImplementedException
        or ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException or FormatException;

    /// <summary>Checks the current row and parses it into <see cref="Values"/>; the first problem is the reject's.</summary>
    public RowProblem? Check()
    {
        for (var i = 0; i < _cells.Length; i++)
        {
            var cell = _cells[i];
            if (cell.IsNull(_index))
            {
                if (cell.Column.Required)
                {
                    return new RowProblem(cell.Column.Name, $"is required but null ({Where})");
                }

                Values.Nulls[i] = true;
                continue;
            }

            Values.Nulls[i] = false;
            if ((cell.Unreadable(_index) ?? cell.Parse(_index, Values, i)) is { } problem)
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
                cell.Describe(_index, json);
            }

            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public ValueTask DisposeAsync()
    {
        foreach (var cell in _cells)
        {
            cell.Open(null);
        }

        // Pages were read (a chunk, a slice, a re-read): what reading them left on the managed heap goes now. An open that
        // only checked the footer leaves too little to be worth a collection.
        var readPages = _groupReader is not null;
        _groupReader?.Dispose();
        _native.Dispose();
        if (readPages)
        {
            NativeParquetFile.CollectManagedHeap(owedIfTooSoon: true);
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// A Parquet file whose footer read but one of whose row groups does not decode: the job fails (<c>corrupt_file</c>) with
/// the rows before it loaded, rather than retrying a file that will never read.
/// </summary>
internal sealed class CorruptParquetException(string message, Exception inner) : Exception(message, inner);
