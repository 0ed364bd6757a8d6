using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Storage;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Workers.Limits;
using Ingestion.Workers.Uploads;

namespace Ingestion.Workers.Parquet;

/// <summary>
/// A Parquet upload: its footer read through ranged GETs, its columns matched to the dataset's by name (a column's declared
/// source wins, any case), its rows read a batch at a time, page by page (<see cref="ParquetRecords"/>). The checkpoint keeps the
/// Parquet column names that fed the columns, in COPY order, as a CSV's keeps its header.
/// </summary>
internal sealed class ParquetRecordSource(ObjectStore store, ProcessUpload job, ObjectInfo source, DatasetDefinition dataset,
    CsvDialect dialect, SourceCompression compression, UploadProcessingOptions options, ILogger logger) : IRecordSource
{
    // The first attempt's records, opened by StartAsync: their footer says where the file can be cut (its row counts and
    // sizes stay readable after the records are disposed).
    private ParquetUploadRecords? _started;

    /// <summary>
    /// A file whose mapped columns (decompressed: the work, whatever the compression) fill more than one chunk of whole row
    /// groups loads in chunks of row groups: its positions are rows, and a chunk's range is the rows of its groups.
    /// </summary>
    public bool LoadsInChunks(long objectBytes, long chunkBytes) => options.ChunkParquet && _started?.CutAfter(0, new ChunkSizing(chunkBytes, 1)) is not null;

    public async Task<IChunkScan> ScanAsync(RecordPosition from, ChunkSizing sizing, long objectBytes, CancellationToken cancellationToken)
    {
        if (_started is { } footer)
        {
            // The first attempt forks with the footer it read: the scan does not open the file again.
            return new ParquetChunkScan(footer, from.Offset, sizing, owned: false);
        }

        var (records, problem) = await OpenParquetAsync(AcceptedAtStart, cancellationToken);
        return problem is null
            ? new ParquetChunkScan(records!, from.Offset, sizing, owned: true)
            : throw new InvalidOperationException($"The Parquet file of job {job.JobId} no longer maps to its dataset: {problem.Message}");
    }

    public async Task<RecordStart> StartAsync(CancellationToken cancellationToken)
    {
        if (compression != SourceCompression.None)
        {
            // The sniffer looked inside: a Parquet file, compressed once more as a whole, which cannot be read at offsets.
            return RecordStart.Failed(new FileProblem("format_mismatch",
                $"The file is a {Decompression.Name(compression)}-compressed Parquet file; a Parquet file compresses its own pages, so upload it as it is."));
        }

        var (records, problem) = await OpenParquetAsync(options.ParquetMaxColumnChunkBytes, cancellationToken);
        if (problem is not null)
        {
            return RecordStart.Failed(problem);
        }

        var map = records!.Map;
        _started = records;
        LogArrowPoolOnce();
        return new RecordStart(map, map.Header, new RecordPosition(0, 0), records, RowsTotal: records.TotalRows);
    }

    /// <summary>
    /// Once per process, with Arrow loaded by now: the pool Arrow took (a worker whose pool is not "system" was configured
    /// otherwise). Only a diagnostic: a failure to read it is logged, never the job's.
    /// </summary>
    private void LogArrowPoolOnce()
    {
        try
        {
            if (NativeHeap.ArrowPoolOnce() is { } pool)
            {
                logger.LogInformation("Arrow's default memory pool is {Pool}", pool);
            }
        }
        catch (ParquetSharp.ParquetException e)
        {
            logger.LogWarning(e, "Could not read Arrow's default memory pool");
        }
    }

    public (HeaderMap? Map, FileProblem? Problem) Resume(IReadOnlyList<string> header) => HeaderMap.Build(dataset, header);

    public async Task<IUploadRecords> OpenAsync(HeaderMap map, RecordPosition from, long? endOffset, CancellationToken cancellationToken)
    {
        var (records, problem) = await OpenParquetAsync(AcceptedAtStart, cancellationToken);
        if (problem is not null)
        {
            // The same version of the object (pinned to its ETag) mapped when the job started: it cannot differ now.
            throw new InvalidOperationException($"The Parquet file of job {job.JobId} no longer maps to its dataset: {problem.Message}");
        }

        try
        {
            if (!records!.Map.Header.SequenceEqual(map.Header))
            {
                throw new InvalidOperationException($"The Parquet file of job {job.JobId} maps other columns than its checkpoint keeps.");
            }

            records.Seek(from.Offset, endOffset);
            LogArrowPoolOnce(); // a worker that only ever takes chunks or resumed slices
            return records;
        }
        catch
        {
            records!.Dispose(); // its native reader and the object's stream, not left to finalizers
            throw;
        }
    }

    /// <summary>
    /// What a later open (a chunk, a resumed slice, the fork's scan) holds the file's column chunks to:
    /// <c>Processing:ParquetMaxColumnChunkBytes</c> is judged once, when the job starts, and a file it let through then is read
    /// to its end, whatever a worker that carries the job on has set since (a limit lowered mid-job would otherwise fail each
    /// chunk's open as a file that "no longer maps", and strand the job in retries).
    /// </summary>
    private const long AcceptedAtStart = 0;

    private async Task<(ParquetUploadRecords?, FileProblem?)> OpenParquetAsync(long maxColumnChunkBytes, CancellationToken cancellationToken)
    {
        var stream = new RangedObjectStream(store, job.Bucket, job.Key, source.ETag, source.Size, options.ParquetReadAheadBytes,
            NativeParquetFile.ColumnReadBytes, cancellationToken);
        ParquetRecords? records;
        FileProblem? problem;
        try
        {
            (records, problem) = await ParquetRecords.OpenAsync(stream, dataset, dialect, cancellationToken, maxColumnChunkBytes);
        }
        catch
        {
            // A read that failed (S3, the network) fails this attempt, which is retried: the file is not blamed.
            await stream.DisposeAsync();
            throw;
        }

        if (records is null)
        {
            await stream.DisposeAsync();
            return (null, problem);
        }

        return (new ParquetUploadRecords(records, stream, cancellationToken), null);
    }
}

/// <summary>
/// A Parquet file cut into chunks of whole row groups (<see cref="ParquetRecords.CutAfter"/>): ranges of rows, from the footer
/// alone. Disposes the records it reads the footer of when it opened them (<paramref name="owned"/>).
/// </summary>
internal sealed class ParquetChunkScan(ParquetUploadRecords footer, long from, ChunkSizing sizing, bool owned) : IChunkScan
{
    private long _at = from;

    public ValueTask<(RecordPosition End, bool Last, long? ObjectEnd)> NextAsync(CancellationToken cancellationToken)
    {
        var cut = footer.CutAfter(_at, sizing);
        _at = cut ?? footer.TotalRows;
        return ValueTask.FromResult<(RecordPosition, bool, long?)>((new RecordPosition(_at, _at), cut is null, null));
    }

    public void Dispose()
    {
        if (owned)
        {
            footer.Dispose();
        }
    }
}
