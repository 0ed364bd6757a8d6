using Ingestion.Workers.Csv;

namespace Ingestion.Workers.Copy;

/// <summary>
/// Where a file's next record starts, as a checkpoint keeps it (<c>byte_offset</c>, <c>line</c>). The pair means what its
/// format's reader makes of it: for text formats (CSV, JSON Lines) the byte offset of the end of the last committed record,
/// before its line break, and that record's last line; for Parquet the row group and the row within it. Only the reader that
/// wrote a position reads it back; the batch loop just carries it from a batch to the checkpoint.
/// </summary>
internal readonly record struct RecordPosition(long Offset, long Line);

/// <summary>
/// A file's records from a resume position on, each checked against the dataset and written as a COPY row: what the batch
/// loop (<see cref="BatchCopier"/>, the checkpoint, rejects, reject limits, cancel, slices, progress) needs of a format, and
/// all it knows of one. <c>UploadProcessor.OpenRecordsAsync</c> picks the implementation by the upload's format.
/// </summary>
internal interface IUploadRecords : IDisposable
{
    /// <summary>Moves to the next record; false at the end of the file (or of the chunk). Blank lines are no records.</summary>
    /// <exception cref="RecordTooLongException">The next record is longer than the reader's limit.</exception>
    bool Read();

    /// <summary>The line the current record starts on (for Parquet, its row number in the file), as its reject names it.</summary>
    long Line { get; }

    /// <summary>Where the record after the current one starts: the resume point once the current record is committed.</summary>
    RecordPosition End { get; }

    /// <summary>The current record as the file has it, for the rejects file and a staged row.</summary>
    ReadOnlySpan<byte> Raw { get; }

    /// <summary>
    /// The object's bytes read so far where they are not the text's positions: a compressed object's (read by the
    /// decompressor), a converted one's (UTF-16, Windows-1252, ISO-8859-1), a Parquet file's; null for plain UTF-8 text.
    /// </summary>
    long? ObjectBytesRead { get; }

    /// <summary>Null when the current record fits the dataset; otherwise the column at fault and why.</summary>
    RowProblem? Check();

    /// <summary>Writes the record <see cref="Check"/> accepted last.</summary>
    void Write(BinaryCopyRows rows);

    /// <summary>The integer value at <paramref name="slot"/> of the record <see cref="Check"/> accepted last (the account).</summary>
    long IntegerAt(int slot);
}

/// <summary>A record longer than the reader holds; <see cref="Hint"/> says what the format makes of that.</summary>
internal sealed class RecordTooLongException(long line, string hint)
    : Exception($"The record starting on line {line} is too long.")
{
    public long Line { get; } = line;

    /// <summary>The likely cause, starting with a comma (", most likely because a quote is never closed"), or empty.</summary>
    public string Hint { get; } = hint;
}

/// <summary>
/// One upload's file as its format reads it: how a first attempt starts, how a later one rebuilds its column map from the
/// checkpoint, and its records from a position on. <c>UploadProcessor.SourceFor</c> is the one place that picks it by format.
/// </summary>
internal interface IRecordSource
{
    /// <summary>
    /// A first attempt, after the file-level checks: the column map (from the header, or declared), the header the
    /// checkpoint keeps for later attempts, where the records start, and the records when the start already opened them.
    /// </summary>
    Task<RecordStart> StartAsync(CancellationToken cancellationToken);

    /// <summary>The column map of a later attempt, from the header its checkpoint kept.</summary>
    (HeaderMap? Map, FileProblem? Problem) Resume(IReadOnlyList<string> header);

    /// <summary>The records from <paramref name="from"/> on, up to <paramref name="endOffset"/> for a chunk (else to the end).</summary>
    Task<IUploadRecords> OpenAsync(HeaderMap map, RecordPosition from, long? endOffset, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the file, once started (<see cref="StartAsync"/>), is loaded in chunks of at most about
    /// <paramref name="chunkBytes"/> (fork/join, <see cref="ChunkSizing"/>): a text object larger than that whose record
    /// boundaries a scan finds without parsing (not a dialect with escapes), plain UTF-8 or compressed
    /// (<see cref="Csv.TextChunkScan.Cuts"/>); a Parquet file of more than one row group with rows whose mapped columns hold
    /// more than that, decompressed. Otherwise the file is one chunk.
    /// </summary>
    bool LoadsInChunks(long objectBytes, long chunkBytes);

    /// <summary>The file's chunks from <paramref name="from"/> (where the fork's scan stands) on.</summary>
    Task<IChunkScan> ScanAsync(RecordPosition from, ChunkSizing sizing, long objectBytes, CancellationToken cancellationToken);
}

/// <summary>
/// How a file is cut into chunks, one after the other: a text file at record boundaries about a chunk's bytes apart
/// (<see cref="Csv.TextChunkScan"/>), a Parquet file at row-group starts. A chunk's ends are positions as a checkpoint keeps
/// them, so a chunk is read exactly as a resumed load would read it.
/// </summary>
internal interface IChunkScan : IDisposable
{
    /// <summary>
    /// Where the chunk that starts where the scan stands ends, whether it is the file's last, and for a compressed object
    /// where in the object its text ends (else null).
    /// </summary>
    ValueTask<(RecordPosition End, bool Last, long? ObjectEnd)> NextAsync(CancellationToken cancellationToken);
}

/// <summary>How a first attempt starts (<see cref="IRecordSource.StartAsync"/>): a map and a position, or a problem.</summary>
/// <param name="RowsTotal">For a file whose positions are rows (Parquet): its row count, so progress can be told in bytes.</param>
internal sealed record RecordStart(HeaderMap? Map, IReadOnlyList<string> Header, RecordPosition From, IUploadRecords? Records,
    FileProblem? Problem = null, long? RowsTotal = null)
{
    public static RecordStart Failed(FileProblem problem, IUploadRecords? records = null) => new(null, [], default, records, problem);
}
